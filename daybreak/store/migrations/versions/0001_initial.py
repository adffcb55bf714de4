"""Projects, runs, the metric key index, notes and artifacts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from daybreak.store.jsontext import JSONText

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("name", name="uq_projects_name"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", JSONText, nullable=False),
        sa.Column("tags", JSONText, nullable=False),
        sa.Column("summary", JSONText, nullable=False),
        sa.Column("git", JSONText, nullable=False),
        sa.Column("host", sa.String(255), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("command", sa.Text, nullable=False, server_default=""),
        sa.Column("environment", JSONText, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=True),
        sa.Column("last_heartbeat", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_runs_project_id_projects", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_runs_project_id_started_at", "runs", ["project_id", "started_at"])
    op.create_index("ix_runs_status_last_heartbeat", "runs", ["status", "last_heartbeat"])
    op.create_table(
        "metric_keys",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("nonfinite", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last", sa.Float, nullable=True),
        sa.Column("last_step", sa.BigInteger, nullable=True),
        sa.Column("min", sa.Float, nullable=True),
        sa.Column("max", sa.Float, nullable=True),
        sa.Column("first_ts", sa.Float, nullable=True),
        sa.Column("last_ts", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_metric_keys"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_metric_keys_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("author", sa.String(200), nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_notes_project_id_projects", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_notes_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_notes_run_id", "notes", ["run_id"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=True),
        sa.Column("meta", JSONText, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_artifacts_run_id_kind_step", "artifacts", ["run_id", "kind", "step"])


def downgrade() -> None:
    for table in ("artifacts", "notes", "metric_keys", "runs", "projects"):
        op.drop_table(table)
