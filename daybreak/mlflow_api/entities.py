"""Daybreak records in MLflow's JSON shapes, and MLflow's values read into Daybreak's."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from daybreak.mlflow_api.errors import invalid
from daybreak.tracking.records import (
    CRASHED,
    FAILED,
    FINISHED,
    RUNNING,
    STOPPED,
    KeyStats,
    RunRecord,
)

DEFAULT_EXPERIMENT = "Default"
DEFAULT_EXPERIMENT_ID = "0"
TO_MLFLOW = {RUNNING: "RUNNING", FINISHED: "FINISHED", FAILED: "FAILED", STOPPED: "KILLED"}
TO_MLFLOW[CRASHED] = "FAILED"
FROM_MLFLOW = {
    "RUNNING": RUNNING,
    "SCHEDULED": RUNNING,
    "FINISHED": FINISHED,
    "FAILED": FAILED,
    "KILLED": STOPPED,
}
RUN_NAME_TAG = "mlflow.runName"
SOURCE_TAG = "mlflow.source.name"
COMMIT_TAG = "mlflow.source.git.commit"
USER_TAG = "mlflow.user"
DAYBREAK_TAGS = "daybreak.tags"  # a native run's list tags, comma-joined
MAX_KEY = 250
MAX_VALUE = 8000


def experiment_id(project_id: int, name: str) -> str:
    return DEFAULT_EXPERIMENT_ID if name == DEFAULT_EXPERIMENT else str(project_id)


def millis(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def seconds(ms: Any, what: str) -> float:
    try:
        return int(ms) / 1000.0
    except (TypeError, ValueError):
        raise invalid(f"{what} must be milliseconds since the epoch, not {ms!r}") from None


def number(value: Any, what: str) -> float:
    """A metric value as MLflow sends it: a number, or "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(value, bool):
        raise invalid(f"{what} must be a number, not {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise invalid(f"{what} must be a number, not {value!r}") from None


def integer(value: Any, what: str, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise invalid(f"{what} must be an integer, not {value!r}") from None
    if not -(2**63) <= out < 2**63:
        raise invalid(f"{what} is out of the 64-bit range")
    return out


def text(value: Any, what: str, limit: int = MAX_VALUE) -> str:
    if value is None:
        value = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise invalid(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise invalid(f"{what} is {len(value)} characters; the limit is {limit}")
    if "\x00" in value:
        raise invalid(f"{what} contains a NUL character")
    return value


def key(value: Any, what: str) -> str:
    out = text(value, what, MAX_KEY)
    if not out:
        raise invalid(f"{what} is missing", f"send a non-empty {what}")
    return out


def wire_number(value: float) -> float | str:
    """JSON has no NaN or infinities: MLflow writes them as strings."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def params_of(config: Mapping[str, Any]) -> dict[str, str]:
    """A run's config as MLflow params: nested keys joined by '.', values as strings."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = value if isinstance(value, str) else str(value)

    for k, v in config.items():
        walk(str(k), v)
    return out


def tags_of(record: RunRecord, stored: Mapping[str, str]) -> dict[str, str]:
    """The run's MLflow tags: those set through MLflow, plus what Daybreak knows as fields."""
    out = dict(stored)
    out[RUN_NAME_TAG] = record.name
    if record.command and SOURCE_TAG not in out:
        out[SOURCE_TAG] = record.command
    commit = record.git.get("commit") if isinstance(record.git, dict) else None
    if commit and COMMIT_TAG not in out:
        out[COMMIT_TAG] = str(commit)
    if record.tags:
        out[DAYBREAK_TAGS] = ",".join(record.tags)
    return out


def run_json(
    record: RunRecord,
    exp_id: str,
    tags: Mapping[str, str],
    stats: Mapping[str, KeyStats],
) -> dict[str, Any]:
    all_tags = tags_of(record, tags)
    info: dict[str, Any] = {
        "run_id": record.id,
        "run_uuid": record.id,
        "run_name": record.name,
        "experiment_id": exp_id,
        "user_id": all_tags.get(USER_TAG, ""),
        "status": TO_MLFLOW.get(record.status, "RUNNING"),
        "start_time": millis(record.started_at),
        "artifact_uri": artifact_uri(exp_id, record.id),
        "lifecycle_stage": "active",
    }
    if record.ended_at is not None:
        info["end_time"] = millis(record.ended_at)
    metrics = [
        {
            "key": k,
            "value": wire_number(s.last if s.last is not None else math.nan),
            "timestamp": millis(s.last_ts) or 0,
            "step": s.last_step or 0,
        }
        for k, s in stats.items()
        if s.count
    ]
    data = {
        "metrics": metrics,
        "params": [{"key": k, "value": v} for k, v in params_of(record.config).items()],
        "tags": [{"key": k, "value": v} for k, v in all_tags.items()],
    }
    return {"info": info, "data": data, "inputs": {}}


def artifact_uri(exp_id: str, run_id: str) -> str:
    return f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"


def experiment_json(
    project_id: int,
    name: str,
    created_at: float,
    archived_at: float | None,
    tags: Mapping[str, str],
    last_update: float | None = None,
) -> dict[str, Any]:
    exp_id = experiment_id(project_id, name)
    return {
        "experiment_id": exp_id,
        "name": name,
        "artifact_location": f"mlflow-artifacts:/{exp_id}",
        "lifecycle_stage": "deleted" if archived_at is not None else "active",
        "creation_time": millis(created_at),
        "last_update_time": millis(max(created_at, archived_at or 0, last_update or 0)),
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }
