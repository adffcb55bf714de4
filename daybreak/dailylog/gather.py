"""Building the content of one Daily Log from the store: counts, GPU-hours, problems,
progress, running jobs, datasets, models, notes, action items and the change since the last."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.dailylog import activity
from daybreak.dailylog.problems import gather_problems
from daybreak.dailylog.progress import gather_progress, gather_running
from daybreak.dailylog.resources import gather_gpu
from daybreak.dailylog.scope import Scope, load_index, overlapping_runs
from daybreak.dailylog.series import SeriesCache
from daybreak.store.engine import Database
from daybreak.store.schema import findings, runs

CONTENT_VERSION = 1
ENDED = ("finished", "failed", "crashed", "stopped")
COMPARED = ("finished", "failed", "crashed", "stalled", "running", "queued", "problems")


def gather(
    settings: Settings,
    db: Database,
    since: float,
    until: float,
    zone: str,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """The content of the log for ``[since, until)``; ``previous`` is the log before it."""
    found = overlapping_runs(db, since, until)
    scope = Scope(
        settings,
        db,
        since,
        until,
        zone,
        found,
        load_index(db, [r["id"] for r in found]),
        SeriesCache(settings.runs_dir),
        previous,
    )
    problems, actions = gather_problems(scope)
    queued, running_jobs = activity.gather_jobs(scope)
    open_items, resolved = activity.gather_action_items(scope)
    content: dict[str, Any] = {
        "version": CONTENT_VERSION,
        "counts": _counts(scope, problems, queued),
        "gpu": gather_gpu(scope),
        "problems": problems,
        "actions": actions,
        "progress": gather_progress(scope),
        "running": gather_running(scope, running_jobs),
        "datasets": activity.gather_datasets(scope),
        "models": activity.gather_models(scope),
        "notes": activity.gather_notes(scope),
        "action_items": open_items,
        "resolved_items": resolved,
    }
    content["change"] = _change(content["counts"], content["gpu"], previous)
    content["quiet"] = _quiet(content)
    content["headline"] = headline(content)
    return content


def _counts(scope: Scope, problems: list[dict[str, Any]], queued: int) -> dict[str, int]:
    counts = {status: 0 for status in ENDED}
    for run in scope.runs:
        ended = run["ended_at"]
        if run["status"] in ENDED and ended is not None and scope.since <= ended < scope.until:
            counts[run["status"]] += 1
    running = [
        r
        for r in scope.runs
        if r["status"] == "running" or (r["ended_at"] is not None and r["ended_at"] >= scope.until)
    ]
    return {
        **counts,
        "stalled": _stalled(scope),
        "running": len(running),
        "queued": queued,
        "runs": len(scope.runs),
        "problems": sum(1 for p in problems if p["severity"] != "info"),
        "critical": sum(1 for p in problems if p["severity"] == "critical"),
    }


def _stalled(scope: Scope) -> int:
    """Runs that were stalled at some moment of the window (a `stalled` finding)."""
    query = (
        sa.select(sa.func.count(sa.distinct(findings.c.run_id)))
        .join(runs, runs.c.id == findings.c.run_id)
        .where(findings.c.kind == "stalled")
        .where(findings.c.first_seen < scope.until)
        .where(sa.or_(findings.c.cleared_at.is_(None), findings.c.cleared_at >= scope.since))
        .where(sa.or_(runs.c.ended_at.is_(None), runs.c.ended_at >= scope.since))
    )
    with scope.db.read() as conn:
        return int(conn.execute(query).scalar_one())


def _change(
    counts: dict[str, int], gpu: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    if previous is None:
        return {"previous_id": None, "counts": {}}
    then = previous["content"].get("counts", {})
    then_gpu = previous["content"].get("gpu", {})
    compared: dict[str, list[float]] = {
        name: [int(then.get(name, 0)), counts[name]] for name in COMPARED
    }
    for name in ("used_hours", "idle_hours"):
        compared[f"gpu_{name}"] = [float(then_gpu.get(name, 0.0)), float(gpu[name])]
    return {"previous_id": previous["id"], "counts": compared}


def _quiet(content: dict[str, Any]) -> bool:
    """Nothing ended, went wrong, was created or written; runs may still be training."""
    counts = content["counts"]
    busy = (
        *(counts[status] for status in ENDED),
        content["problems"],
        content["actions"],
        any(e["new_best"] for e in content["progress"]),
        content["datasets"],
        content["notes"],
        content["resolved_items"],
    )
    return not any(busy)


def headline(content: dict[str, Any]) -> str:
    """One line that says how the night went."""
    counts = content["counts"]
    if content["quiet"]:
        if counts["running"]:
            return f"A quiet night: {counts['running']} still running, nothing went wrong."
        return "A quiet night: nothing ran and nothing went wrong."
    parts = []
    for name in ("finished", "failed", "crashed", "running"):
        if counts[name]:
            parts.append(f"{counts[name]} {'still running' if name == 'running' else name}")
    bests = [e for e in content["progress"] if e["new_best"]]
    if bests:
        parts.append(f"{len(bests)} new best{'s' if len(bests) != 1 else ''}")
    summary = ", ".join(parts) or "no runs"
    problems = [p for p in content["problems"] if p["severity"] != "info"]
    if not problems:
        return f"All clear: {summary}."
    kinds: dict[str, int] = {}
    for problem in problems:
        kinds[problem["kind"]] = kinds.get(problem["kind"], 0) + 1
    what = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in kinds.items())
    noun = "problem" if len(problems) == 1 else "problems"
    return f"{len(problems)} {noun} ({what}); {summary}."
