"""Lineage: which dataset versions a run read.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_datasets",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("dataset_version_id", sa.Integer, nullable=False),
        sa.Column("split", sa.String(32), nullable=False, server_default=""),
        sa.Column("used_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "dataset_version_id", name="pk_run_datasets"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_datasets_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name="fk_run_datasets_dataset_version_id_dataset_versions",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("run_datasets")
