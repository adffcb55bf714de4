"""Tables of the metadata store (SQLAlchemy Core). Later domains add theirs by migration."""

from __future__ import annotations

import sqlalchemy as sa

from daybreak.store.jsontext import JSONText

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("archived_at", sa.Float, nullable=True),  # MLflow's deleted experiments
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    ),
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
    sa.Index(None, "project_id", "started_at"),
    sa.Index(None, "status", "last_heartbeat"),
)

metric_keys = sa.Table(
    "metric_keys",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("nonfinite", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last", sa.Float, nullable=True),
    sa.Column("last_step", sa.BigInteger, nullable=True),
    sa.Column("min", sa.Float, nullable=True),
    sa.Column("max", sa.Float, nullable=True),
    sa.Column("first_ts", sa.Float, nullable=True),
    sa.Column("last_ts", sa.Float, nullable=True),
)

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    sa.Column("author", sa.String(200), nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("model", sa.String(300), nullable=True),  # a registered model ("name" or "name@3")
    sa.Column("dataset", sa.String(300), nullable=True),  # a dataset or version ("faces@2")
    sa.Column("log_id", sa.Integer, nullable=True),  # a Daily Log
    sa.Index(None, "run_id"),
    sa.Index("ix_notes_created_at", "created_at"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=True),
    sa.Column("meta", JSONText, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index(None, "run_id", "kind", "step"),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("predicate", sa.Text, nullable=False),
    sa.Column("splits", JSONText, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("stratify", sa.String(64), nullable=True),
    sa.Column("assets_version", sa.Integer, nullable=True),
    sa.Column("annotations_version", sa.Integer, nullable=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("split_counts", JSONText, nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("purged_at", sa.Float, nullable=True),
    sa.Column("purged_note", sa.Text, nullable=True),
    sa.UniqueConstraint("dataset_id", "version"),
)

run_datasets = sa.Table(
    "run_datasets",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "dataset_version_id",
        sa.Integer,
        sa.ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("split", sa.String(32), nullable=False, server_default=""),
    sa.Column("used_at", sa.Float, nullable=False),
)

dataset_tags = sa.Table(
    "dataset_tags",
    metadata,
    sa.Column(
        "dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("tag", sa.String(32), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued running succeeded failed cancelled
    sa.Column("spec", JSONText, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("gpus", sa.Integer, nullable=False, server_default="0"),
    sa.Column("executor", sa.String(200), nullable=False, server_default="local"),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("sweep_id", sa.String(32), nullable=True),
    sa.Column("code_uri", sa.Text, nullable=True),
    sa.Column("workdir", sa.Text, nullable=False, server_default="."),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_retries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("process_started", sa.Float, nullable=True),
    sa.Column("devices", JSONText, nullable=True),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Index("ix_jobs_status_priority", "status", "priority", "created_at"),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_job_events_job_id", "job_id"),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # host:pid
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("executor", sa.String(200), nullable=False),
    sa.Column("gpus", sa.Integer, nullable=False),
    sa.Column("slots", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat", sa.Float, nullable=False),
)

findings = sa.Table(  # what the watchdog found: one row per run and kind, updated as it evolves
    "findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("suggestion", sa.Text, nullable=False),
    sa.Column("evidence", JSONText, nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("cleared_at", sa.Float, nullable=True),  # no longer seen (after a restart)
    sa.UniqueConstraint("run_id", "kind"),
    sa.Index("ix_findings_first_seen", "first_seen"),
)

watch_actions = sa.Table(  # what the watchdog did about a finding: notified, stopped, restarted
    "watch_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("finding_id", sa.Integer, nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),  # notify | stop | restart | skipped
    sa.Column("finding_kind", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("detail", JSONText, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_watch_actions_at", "at"),
    sa.Index("ix_watch_actions_run_id", "run_id"),
)

watch_policies = sa.Table(  # per project: which findings get which action
    "watch_policies",
    metadata,
    sa.Column("project", sa.String(200), primary_key=True),  # "*": every project without one
    sa.Column("rules", JSONText, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

action_items = sa.Table(
    "action_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("owner", sa.String(200), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved
    sa.Column("project", sa.String(200), nullable=True),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("finding_id", sa.Integer, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("resolved_at", sa.Float, nullable=True),
    sa.Column("resolved_by", sa.String(200), nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
    sa.Index("ix_action_items_status", "status", "created_at"),
)

daily_logs = sa.Table(
    "daily_logs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("window_end", sa.Float, nullable=False, unique=True),  # one log per window
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("built_at", sa.Float, nullable=False),
    sa.Column("headline", sa.Text, nullable=False),
    sa.Column("content", JSONText, nullable=False),
)

webhooks = sa.Table(  # where Daily Logs are delivered
    "webhooks",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),  # slack | teams | json | markdown
    sa.Column("created_at", sa.Float, nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "log_id", sa.Integer, sa.ForeignKey("daily_logs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("next_attempt_at", sa.Float, nullable=True),
    sa.Column("sent_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("log_id", "target"),
)

# -- the model registry --------------------------------------------------------------------------

categories = sa.Table(  # families of models; the zoo's six are seeded on first use
    "categories",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("intended_use", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("category", sa.String(100), sa.ForeignKey("categories.name"), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("owner", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # run | onnx
    sa.Column("run_id", sa.String(32), nullable=True),  # no FK: lineage outlives a deleted run
    sa.Column("checkpoint_step", sa.BigInteger, nullable=True),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("lineage", JSONText, nullable=False),
    sa.Column("signature", JSONText, nullable=False),
    sa.Column("preprocessing", JSONText, nullable=False),
    sa.Column("card", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False, server_default=""),
    sa.UniqueConstraint("model_id", "version"),
    sa.Index("ix_model_versions_run_id", "run_id"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_by", sa.String(200), nullable=False, server_default=""),
    sa.Column("updated_at", sa.Float, nullable=False),
)

alias_history = sa.Table(  # every move of an alias, with its note: never updated, never deleted
    "alias_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("old_version", sa.Integer, nullable=True),  # None: the alias was new
    sa.Column("new_version", sa.Integer, nullable=True),  # None: the alias was deleted
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("by", sa.String(200), nullable=False, server_default=""),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_alias_history_model_id", "model_id", "alias"),
)

exports = sa.Table(  # converted forms of a model version, filled in by daybreak.convert
    "exports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("precision", sa.String(16), nullable=False),
    sa.Column("uri", sa.Text, nullable=True),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("report", JSONText, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ok | failed | unvalidated
    sa.Column("recommended", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_exports_version_id", "version_id", "target"),
)

# -- access: users, API and kiosk tokens, web sessions -------------------------------------------

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),  # viewer | member | admin
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id, never the password
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
)

api_tokens = sa.Table(  # only a hash of each token is kept; the token is shown once
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("kind", sa.String(16), nullable=False),  # api | kiosk
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    ),  # None for kiosk tokens
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("last_used_at", sa.Float, nullable=True),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

sessions = sa.Table(  # signed-in browsers; the cookie holds the id, the table its hash
    "sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    sa.Column(
        "token_id", sa.Integer, sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=True
    ),  # neither: signed in with the legacy DAYBREAK_TOKEN
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Index("ix_sessions_expires_at", "expires_at"),
)

run_tags = sa.Table(  # key-value tags, as the MLflow protocol sets them (list tags live on runs)
    "run_tags",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

project_tags = sa.Table(  # MLflow experiment tags
    "project_tags",
    metadata,
    sa.Column(
        "project_id",
        sa.Integer,
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
