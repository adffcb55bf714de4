"""Lineage of a version made from a run: the run, the dataset versions it read (with their
split counts), the code it ran, its config and its final metrics."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.errors import DaybreakError
from daybreak.store.engine import get_database
from daybreak.tracking.records import RunRecord


def of_run(settings: Settings, record: RunRecord, step: int | None) -> dict[str, Any]:
    """Everything a model version's lineage holds about ``record`` and its checkpoint."""
    from daybreak.lake.datasets import used_by_run

    refs = used_by_run(settings, record.id)
    if not refs and isinstance(record.config.get("dataset"), str):
        refs = [record.config["dataset"]]  # read outside the SDK's view: the config says which
    return {
        "run_id": record.id,
        "project": record.project,
        "run_name": record.name,
        "run_status": record.status,
        "checkpoint_step": step,
        "datasets": [_dataset(settings, ref) for ref in refs],
        "code": code_of(settings, record),
        "config": record.config,
        "metrics": {k: v for k, v in record.summary.items() if isinstance(v, int | float)},
    }


def _dataset(settings: Settings, ref: str) -> dict[str, Any]:
    from daybreak.lake import datasets

    try:
        found = datasets.get(settings, ref)
    except DaybreakError:
        return {"ref": ref}
    return {
        "ref": found.ref,
        "fingerprint": found.fingerprint,
        "rows": found.rows,
        "split_counts": found.split_counts,
    }


def code_of(settings: Settings, record: RunRecord) -> dict[str, Any]:
    """The commit the run recorded, else the code its job froze at submit time."""
    git = record.git or {}
    if git.get("commit"):
        return {
            "commit": git["commit"],
            "branch": git.get("branch"),
            "dirty": bool(git.get("dirty")),
            "source": "run",
        }
    from daybreak.store.schema import job_events, jobs

    with get_database(settings.db_url).read() as conn:
        job = conn.execute(
            sa.select(jobs.c.id, jobs.c.code_uri).where(jobs.c.run_id == record.id)
        ).first()
        if job is None:
            return {}
        frozen = conn.execute(
            sa.select(job_events.c.detail).where(
                job_events.c.job_id == job.id, job_events.c.kind == "submitted"
            )
        ).scalar()
    out: dict[str, Any] = {"job_id": job.id, "code_uri": job.code_uri, "source": "job"}
    if frozen and len(frozen) == 40:  # a git commit; otherwise the snapshot's digest
        out["commit"] = frozen
    elif frozen:
        out["snapshot"] = frozen
    return out
