"""The watchdog's findings, actions and policies; Daily Logs, webhooks and deliveries; action
items; notes about models, datasets and logs.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from daybreak.store.jsontext import JSONText

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notes") as batch:
        batch.add_column(sa.Column("model", sa.String(300), nullable=True))
        batch.add_column(sa.Column("dataset", sa.String(300), nullable=True))
        batch.add_column(sa.Column("log_id", sa.Integer, nullable=True))
        batch.create_index("ix_notes_created_at", ["created_at"])
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("suggestion", sa.Text, nullable=False),
        sa.Column("evidence", JSONText, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("cleared_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_findings_run_id_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_id", "kind", name="uq_findings_run_id_kind"),
    )
    op.create_index("ix_findings_first_seen", "findings", ["first_seen"])
    op.create_table(
        "watch_actions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("finding_id", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("finding_kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("detail", JSONText, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_watch_actions"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_watch_actions_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_watch_actions_at", "watch_actions", ["at"])
    op.create_index("ix_watch_actions_run_id", "watch_actions", ["run_id"])
    op.create_table(
        "watch_policies",
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("rules", JSONText, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("project", name="pk_watch_policies"),
    )
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
        sa.Column("owner", sa.String(200), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("finding_id", sa.Integer, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("resolved_at", sa.Float, nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_action_items"),
    )
    op.create_index("ix_action_items_status", "action_items", ["status", "created_at"])
    op.create_table(
        "daily_logs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("built_at", sa.Float, nullable=False),
        sa.Column("headline", sa.Text, nullable=False),
        sa.Column("content", JSONText, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_daily_logs"),
        sa.UniqueConstraint("window_end", name="uq_daily_logs_window_end"),
    )
    op.create_table(
        "webhooks",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_webhooks"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("log_id", sa.Integer, nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("next_attempt_at", sa.Float, nullable=True),
        sa.Column("sent_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["log_id"],
            ["daily_logs.id"],
            name="fk_deliveries_log_id_daily_logs",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("log_id", "target", name="uq_deliveries_log_id_target"),
    )


def downgrade() -> None:
    for table in (
        "deliveries",
        "webhooks",
        "daily_logs",
        "action_items",
        "watch_policies",
        "watch_actions",
        "findings",
    ):
        op.drop_table(table)
    with op.batch_alter_table("notes") as batch:
        batch.drop_index("ix_notes_created_at")
        batch.drop_column("log_id")
        batch.drop_column("dataset")
        batch.drop_column("model")
