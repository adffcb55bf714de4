"""Where a run came from and what came of it: the dataset versions it read, the job that ran
it (with its attempts) and the model versions registered from it."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.store.engine import get_database


@dataclasses.dataclass(frozen=True)
class DatasetUse:
    name: str
    version: str


@dataclasses.dataclass(frozen=True)
class JobUse:
    id: str
    name: str
    status: str
    attempt: int
    max_retries: int
    worker: str | None
    exit_code: int | None
    reason: str | None
    attempts: list[dict[str, Any]]  # per attempt: number, started, ended, outcome


@dataclasses.dataclass(frozen=True)
class ModelUse:
    model: str
    version: int
    category: str
    checkpoint_step: int | None
    aliases: list[str]


@dataclasses.dataclass(frozen=True)
class RunLineage:
    datasets: list[DatasetUse]
    jobs: list[JobUse]
    models: list[ModelUse]

    @property
    def empty(self) -> bool:
        return not (self.datasets or self.jobs or self.models)


def of_run(settings: Settings, run_id: str) -> RunLineage:
    """The lineage of the run with full id ``run_id``."""
    return RunLineage(
        _datasets(settings, run_id), _jobs(settings, run_id), _models(settings, run_id)
    )


def _datasets(settings: Settings, run_id: str) -> list[DatasetUse]:
    from daybreak.lake.datasets import used_by_run

    out = []
    for ref in used_by_run(settings, run_id):
        name, _, version = ref.rpartition("@")
        out.append(DatasetUse(name, version))
    return out


def _jobs(settings: Settings, run_id: str) -> list[JobUse]:
    from daybreak.jobs import service
    from daybreak.store.schema import jobs

    query = sa.select(jobs.c.id).where(jobs.c.run_id == run_id).order_by(jobs.c.created_at)
    with get_database(settings.db_url).read() as conn:
        ids = [row[0] for row in conn.execute(query)]
    out = []
    for job_id in ids:
        job = service.get(settings, job_id)
        out.append(
            JobUse(
                id=job.id,
                name=job.name,
                status=job.status,
                attempt=job.attempt,
                max_retries=job.max_retries,
                worker=job.worker,
                exit_code=job.exit_code,
                reason=job.reason or job.error,
                attempts=_attempts(service.events(settings, job_id)),
            )
        )
    return out


def _attempts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's events folded into one row per attempt (attempt 0 is the queueing)."""
    rows: dict[int, dict[str, Any]] = {}
    for event in events:
        number = int(event["attempt"])
        if number == 0:
            continue
        row = rows.setdefault(number, {"attempt": number, "started": None, "ended": None})
        if row["started"] is None:
            row["started"] = event["at"]
        row["ended"] = event["at"]
        row["outcome"] = event["kind"]
        row["detail"] = event["detail"]
    return [rows[n] for n in sorted(rows)]


def _models(settings: Settings, run_id: str) -> list[ModelUse]:
    from daybreak.registry.service import aliases_of
    from daybreak.store.schema import model_versions, models

    query = (
        sa.select(
            models.c.id,
            models.c.name,
            models.c.category,
            model_versions.c.version,
            model_versions.c.checkpoint_step,
        )
        .join(models, models.c.id == model_versions.c.model_id)
        .where(model_versions.c.run_id == run_id)
        .order_by(models.c.name, model_versions.c.version)
    )
    out = []
    with get_database(settings.db_url).read() as conn:
        for row in conn.execute(query).mappings():
            aliases = [a for a, v in aliases_of(conn, row["id"]).items() if v == row["version"]]
            out.append(
                ModelUse(
                    row["name"], row["version"], row["category"], row["checkpoint_step"], aliases
                )
            )
    return out
