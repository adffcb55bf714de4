"""The queue as the web shows it: queued jobs in the order agents take them, running jobs with
their run's progress (step of planned steps, rate, ETA, a loss sparkline) and recent ended jobs.
Read-only: cancel and retry are :func:`daybreak.jobs.service.cancel` and ``retry``."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.errors import ConfigError
from daybreak.jobs.service import DONE, QUEUED, RUNNING, JobRecord, _record, live_agents
from daybreak.store.engine import get_database
from daybreak.store.schema import jobs

SPARK_POINTS = 48
RATE_WINDOW = 64  # the last points the step rate is measured over
RECENT = 50
STATUSES = (QUEUED, RUNNING, *DONE)


def board(settings: Settings, recent: int = RECENT, project: str | None = None) -> dict[str, Any]:
    """Queued (in claim order), running (with progress) and the ``recent`` latest ended jobs."""
    if not 1 <= recent <= 500:
        raise ConfigError(f"recent={recent} is out of range", "ask for 1 to 500 ended jobs")
    now = time.time()
    queued = _select(settings, project, [QUEUED], _claim_order(), 500)
    running = _select(settings, project, [RUNNING], [jobs.c.started_at], 500)
    ended = _select(settings, project, list(DONE), [jobs.c.ended_at.desc()], recent)
    return {
        "now": now,
        "queued": [dict(view(j), position=i + 1) for i, j in enumerate(queued)],
        "running": [view(j, progress(settings, j, now)) for j in running],
        "ended": [view(j) for j in ended],
        "agents": [_agent(a) for a in live_agents(settings)],
    }


def _claim_order() -> list[Any]:
    return [jobs.c.priority.desc(), jobs.c.created_at, jobs.c.id]  # as service.claim takes them


def _select(
    settings: Settings, project: str | None, statuses: list[str], order: list[Any], limit: int
) -> list[JobRecord]:
    query = sa.select(jobs).where(jobs.c.status.in_(statuses)).order_by(*order).limit(limit)
    if project:
        query = query.where(jobs.c.project == project)
    with get_database(settings.db_url).read() as conn:
        return [_record(row) for row in conn.execute(query).all()]


def view(job: JobRecord, progress: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job for the page: its record without the spec's environment values (they may hold
    secrets), its resources and the slots it takes."""
    out = job.to_dict()
    spec = dict(out["spec"])
    spec["env"] = sorted(spec.get("env") or {})
    resources = job.spec.resources
    out.update(
        spec=spec,
        resources={
            "gpus": resources.gpus,
            "cpus": resources.cpus,
            "memory_mb": resources.memory_mb,
        },
        slots=resources.gpus or max(1, math.ceil(resources.cpus)),
        slot_kind="GPU" if resources.gpus else "CPU",
        attempts_allowed=job.max_retries + 1,
        progress=progress,
    )
    return out


def _agent(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "host", "executor", "gpus", "slots", "heartbeat")
    return {k: row.get(k) for k in keys}


def progress(settings: Settings, job: JobRecord, now: float | None = None) -> dict[str, Any]:
    """The run's current step of its planned steps, steps per second, ETA and a downsampled
    loss curve, read from its metric files (the index lags a live run)."""
    from daybreak.tracking import points

    run_dir = settings.runs_dir / job.run_id
    keys = [k for k in points.list_keys(run_dir) if not k.startswith("sys/")]
    key = _loss_key(keys, job.spec.config)
    planned = planned_steps(job.spec.config)
    out: dict[str, Any] = {
        "run_id": job.run_id,
        "key": key,
        "step": None,
        "planned_steps": planned,
        "fraction": None,
        "steps_per_s": None,
        "eta_s": None,
        "last_at": None,
        "spark": [],
    }
    if key is None:
        return out
    history = points.read_history(run_dir, key)
    if not len(history.steps):
        return out
    step = int(history.steps[-1])
    rate = _rate(history.steps[-RATE_WINDOW:], history.timestamps[-RATE_WINDOW:])
    out.update(step=step, last_at=float(history.timestamps.max()), steps_per_s=rate)
    if planned:
        out["fraction"] = min(1.0, (step + 1) / planned)
        if rate:
            out["eta_s"] = max(0.0, (planned - 1 - step) / rate)
    out["spark"] = _spark(history.steps, history.values)
    return out


def planned_steps(config: dict[str, Any]) -> int | None:
    """How many steps the job's config says it will run (``steps``, ``max_steps`` or
    ``total_steps``), if it says."""
    for name in ("steps", "max_steps", "total_steps"):
        value = config.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return int(value)
    return None


def _loss_key(keys: list[str], config: dict[str, Any]) -> str | None:
    from daybreak.watchdog.roles import find_roles

    found = find_roles(keys, config).get("loss")
    if found:
        return found
    lossy = sorted((k for k in keys if "loss" in k.lower()), key=len)
    return lossy[0] if lossy else (sorted(keys)[0] if keys else None)


def _rate(steps: np.ndarray, stamps: np.ndarray) -> float | None:
    if len(steps) < 2:
        return None
    span = float(stamps[-1] - stamps[0])
    done = float(steps[-1] - steps[0])
    return done / span if span > 0 and done > 0 else None


def _spark(steps: np.ndarray, values: np.ndarray) -> list[list[float]]:
    """[[step, value], ...]: at most ``SPARK_POINTS`` finite points, extremes kept."""
    from daybreak.tracking.downsample import downsample_indices

    finite = np.isfinite(values)
    steps, values = steps[finite], values[finite]
    keep = downsample_indices(values, SPARK_POINTS)
    return [[int(steps[i]), float(f"{values[i]:.5g}")] for i in keep]
