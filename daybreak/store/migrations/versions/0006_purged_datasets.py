"""Dataset versions whose assets were purged from the lake.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("purged_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("purged_note", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("purged_note")
        batch.drop_column("purged_at")
