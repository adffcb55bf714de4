"""GPU-hours of the window: used (GPUs times the part of the window a run was alive) and idle
(the part of that where the GPU's utilisation was under 20%)."""

from __future__ import annotations

from typing import Any

import numpy as np

from daybreak.dailylog.scope import Scope
from daybreak.watchdog.roles import gpu_util_keys

IDLE_PERCENT = 20.0


def gather_gpu(scope: Scope) -> dict[str, Any]:
    """GPU-hours used and idle over the runs of the window."""
    used = idle = 0.0
    gpus = runs = 0
    for run in scope.runs:
        index = scope.index.get(run["id"], {})
        keys = gpu_util_keys(list(index))
        start = max(run["started_at"], scope.since)
        end = min(run["ended_at"] if run["ended_at"] is not None else scope.until, scope.until)
        if not keys or end <= start:
            continue
        runs += 1
        gpus += len(keys)
        used += len(keys) * (end - start) / 3600
        for key in keys:
            stats = index[key]
            if stats.last_ts is not None and stats.last_ts < start:
                continue
            if stats.first_ts is not None and stats.first_ts >= end:
                continue
            idle += _idle_fraction(scope, run["id"], key, start, end) * (end - start) / 3600
    return {"used_hours": used, "idle_hours": idle, "gpus": gpus, "runs": runs}


def _idle_fraction(scope: Scope, run_id: str, key: str, start: float, end: float) -> float:
    history = scope.cache.history(run_id, key)
    inside = (history.timestamps >= start) & (history.timestamps < end)
    values = history.values[inside]
    values = values[np.isfinite(values)]
    return float((values < IDLE_PERCENT).mean()) if len(values) else 0.0
