"""What one build looks at: the window, the runs that overlap it, their metric index, and a
cache of the points read; gathered with a few batched queries, never one per run."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.dailylog.series import SeriesCache
from daybreak.store.engine import Database
from daybreak.store.schema import metric_keys, projects, runs
from daybreak.tracking.records import KeyStats, nan_if_none
from daybreak.watchdog.roles import find_roles

HEADLINE_KEYS = (
    "val/acc",
    "val/accuracy",
    "val/f1",
    "val/map50",
    "val/map",
    "val/miou",
    "val/pck",
    "val/nme",
    "val/loss",
    "val_loss",
    "eval_loss",
    "eval/loss",
)
LOWER_IS_BETTER = re.compile(r"loss|err|nme|mae|mse|rmse|wer|cer|perplexity|ppl|fid|latency", re.I)
_CHUNK = 500


@dataclasses.dataclass
class Scope:
    """The window being built and what the build has loaded so far."""

    settings: Settings
    db: Database
    since: float
    until: float
    zone: str
    runs: list[dict[str, Any]]
    index: dict[str, dict[str, KeyStats]]
    cache: SeriesCache
    previous: dict[str, Any] | None  # the previous log (its row, content included)

    def keys(self, run_id: str) -> list[str]:
        """The metric keys of a run, from the index."""
        return sorted(self.index.get(run_id, {}))

    def ensure_index(self, run_ids: list[str]) -> None:
        """Load the index of runs outside the window (a finding about an older run)."""
        missing = [r for r in run_ids if r not in self.index]
        if missing:
            self.index.update(load_index(self.db, missing))


def overlapping_runs(db: Database, since: float, until: float) -> list[dict[str, Any]]:
    """Runs alive at some moment of ``[since, until)``, oldest first."""
    query = (
        sa.select(
            runs.c.id,
            runs.c.name,
            runs.c.status,
            runs.c.config,
            runs.c.error,
            runs.c.started_at,
            runs.c.ended_at,
            projects.c.name.label("project"),
        )
        .join(projects, projects.c.id == runs.c.project_id)
        .where(runs.c.started_at < until)
        .where(sa.or_(runs.c.ended_at.is_(None), runs.c.ended_at >= since))
        .order_by(runs.c.started_at, runs.c.id)
    )
    with db.read() as conn:
        found = [dict(row) for row in conn.execute(query).mappings()]
    for row in found:
        if not isinstance(row["config"], dict):
            row["config"] = {}
    return found


def load_index(db: Database, run_ids: list[str]) -> dict[str, dict[str, KeyStats]]:
    """The metric index (count, last, min, max per key) of many runs in a few queries."""
    out: dict[str, dict[str, KeyStats]] = {run_id: {} for run_id in run_ids}
    fields = list(KeyStats.__dataclass_fields__)
    with db.read() as conn:
        for start in range(0, len(run_ids), _CHUNK):
            chunk = run_ids[start : start + _CHUNK]
            rows = conn.execute(sa.select(metric_keys).where(metric_keys.c.run_id.in_(chunk)))
            for row in rows.mappings():
                values = {name: row[name] for name in fields}
                values["last"] = nan_if_none(values["last"], values["count"])
                out[row["run_id"]][row["key"]] = KeyStats(**values)
    return out


def headline_metric(config: dict[str, Any], keys: list[str]) -> str | None:
    """The metric a run is judged by: the zoo's ``config["metric"]``, else common names, else
    its validation or training loss."""
    declared = config.get("metric")
    if isinstance(declared, str) and declared in keys:
        return declared
    present = set(keys)
    for key in HEADLINE_KEYS:
        if key in present:
            return key
    roles = find_roles(keys, config)
    return roles.get("val_loss") or roles.get("loss")


def lower_is_better(key: str) -> bool:
    """Losses and errors improve downwards; accuracies and the like upwards."""
    return bool(LOWER_IS_BETTER.search(key))


def model_of(run: dict[str, Any]) -> str:
    """The model a run trains: ``config["model"]`` (the zoo sets it), else the run's name."""
    model = run["config"].get("model")
    return model if isinstance(model, str) and model else str(run["name"])
