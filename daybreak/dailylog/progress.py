"""Progress per project and model (best figure now against the previous log, new bests,
with a chart) and the runs still training, with their ETA."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from daybreak.dailylog.scope import Scope, headline_metric, lower_is_better, model_of
from daybreak.dailylog.series import chart, step_rate, upto
from daybreak.tracking import points
from daybreak.tracking.readers import SYSTEM_PREFIX
from daybreak.tracking.records import KeyStats
from daybreak.watchdog.roles import find_roles

Group = tuple[str, str, str]  # project, model, metric


def gather_progress(scope: Scope) -> list[dict[str, Any]]:
    """One entry per project, model and metric among the runs of the window, new bests first."""
    groups: dict[Group, list[tuple[dict[str, Any], KeyStats]]] = {}
    for run in scope.runs:
        keys = scope.keys(run["id"])
        metric = headline_metric(run["config"], keys)
        if metric is None:
            continue
        stats = scope.index[run["id"]][metric]
        groups.setdefault((run["project"], model_of(run), metric), []).append((run, stats))
    before = _previous_bests(scope.previous)
    out = [_entry(scope, group, members, before.get(group)) for group, members in groups.items()]
    entries = [e for e in out if e is not None]
    entries.sort(key=lambda e: (not e["new_best"], e["project"], e["model"], e["metric"]))
    return entries


def _entry(
    scope: Scope,
    group: Group,
    members: list[tuple[dict[str, Any], KeyStats]],
    previous: float | None,
) -> dict[str, Any] | None:
    project, model, metric = group
    lower = lower_is_better(metric)
    ranked = [
        (value, index, run)
        for index, (run, s) in enumerate(members)
        if (value := s.min if lower else s.max) is not None
    ]
    if not ranked:
        return None
    _, _, run = (min if lower else max)(ranked)
    history = upto(scope.cache.history(run["id"], metric), scope.until)
    finite = np.isfinite(history.values)
    if not bool(finite.any()):
        return None
    values = np.where(finite, history.values, np.inf if lower else -np.inf)
    at = int(values.argmin() if lower else values.argmax())
    best = float(history.values[at])
    better = previous is not None and (best < previous if lower else best > previous)
    new_best = better and float(history.timestamps[at]) >= scope.since
    return {
        "project": project,
        "model": model,
        "metric": metric,
        "goal": "min" if lower else "max",
        "best": best,
        "best_step": int(history.steps[at]),
        "best_at": float(history.timestamps[at]),
        "run_id": run["id"],
        "run_name": run["name"],
        "runs": len(members),
        "previous": previous,
        "change": None if previous is None else best - previous,
        "new_best": bool(new_best),  # better than the previous log's figure
        "first": previous is None,  # no previous log had a figure for it
        "chart": chart(history, marker=int(history.steps[at])),
    }


def _previous_bests(previous: dict[str, Any] | None) -> dict[Group, float]:
    if not previous:
        return {}
    out: dict[Group, float] = {}
    for entry in previous["content"].get("progress", []):
        best = entry.get("best")
        if isinstance(best, int | float) and math.isfinite(best):
            out[(entry["project"], entry["model"], entry["metric"])] = float(best)
    return out


def gather_running(scope: Scope, jobs_by_run: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs still running at the end of the window, with their step, rate and ETA."""
    out = []
    for run in scope.runs:
        ended = run["ended_at"]
        if run["status"] != "running" and not (ended is not None and ended >= scope.until):
            continue
        out.append(_running(scope, run, jobs_by_run.get(run["id"])))
    return out


def _running(scope: Scope, run: dict[str, Any], job: dict[str, Any] | None) -> dict[str, Any]:
    index = scope.index.get(run["id"], {})
    training = {k: s for k, s in index.items() if not k.startswith(SYSTEM_PREFIX)}
    on_disk = points.list_keys(scope.settings.runs_dir / run["id"])  # the index lags a live run
    keys = sorted({*training, *(k for k in on_disk if not k.startswith(SYSTEM_PREFIX))})
    planned = _planned_steps(run["config"], job)
    step = max((s.last_step for s in training.values() if s.last_step is not None), default=None)
    rate, last_at = None, None
    roles = find_roles(keys, run["config"])
    counts = {k: training[k].count if k in training else 0 for k in keys}
    pace = roles.get("loss") or max(keys, key=lambda k: counts[k], default=None)
    if pace is not None:
        tail = scope.cache.tail(run["id"], pace)
        rate = step_rate(tail)
        if len(tail):
            last_at = float(tail["ts"][-1])
            step = max(step if step is not None else -1, int(tail["step"].max()))
    eta = None
    if planned is not None and step is not None and rate:
        eta = max(0.0, (planned - 1 - step) / rate)
    return {
        "run_id": run["id"],
        "run_name": run["name"],
        "project": run["project"],
        "job_id": job["id"] if job else None,
        "started_at": run["started_at"],
        "step": step,
        "planned_steps": planned,
        "steps_per_s": rate,
        "eta_s": eta,
        "eta_at": None if eta is None else (last_at or scope.until) + eta,
    }


def _planned_steps(config: dict[str, Any], job: dict[str, Any] | None) -> int | None:
    for source in (config, (job or {}).get("config") or {}):
        steps = source.get("steps") if isinstance(source, dict) else None
        if isinstance(steps, int | float) and not isinstance(steps, bool) and steps > 0:
            return int(steps)
    return None
