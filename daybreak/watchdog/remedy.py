"""Carrying out a policy's action on a new finding: notify, stop the job, or restart it from
the last good checkpoint before the onset with a change. Every action, and every action that
could not be taken, is recorded on the run (``watch_actions``) for the run page and the Daily
Log."""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.errors import DaybreakError
from daybreak.store.engine import get_database
from daybreak.store.schema import artifacts, jobs, watch_actions
from daybreak.tracking.checkpoints import SUPERSEDED
from daybreak.watchdog import store
from daybreak.watchdog.policy import Rule

log = logging.getLogger("daybreak.watchdog")
ONSET_KEYS = ("onset_step", "spike_step", "best_step")


def act(settings: Settings, finding: dict[str, Any], rule: Rule) -> dict[str, Any]:
    """Do what ``rule`` says about ``finding`` (a stored finding row); returns the action."""
    if rule.action == "restart":
        return _restart(settings, finding, rule)
    if rule.action == "stop":
        return _stop(settings, finding, "the policy stops jobs on " + finding["kind"])
    return _record(settings, finding, "notify", f"{finding['kind']}: {finding['message']}")


def _record(
    settings: Settings, finding: dict[str, Any], kind: str, message: str, **detail: Any
) -> dict[str, Any]:
    db = get_database(settings.db_url)
    action_id = store.record_action(
        db, finding["run_id"], kind, finding["kind"], message, detail, finding.get("id")
    )
    log.info("watchdog %s on run %s: %s", kind, finding["run_id"], message)
    return {"id": action_id, "kind": kind, "message": message, "detail": detail}


def running_job(settings: Settings, run_id: str) -> str | None:
    """The queued job now running as ``run_id``, if the run was started by the queue."""
    query = sa.select(jobs.c.id).where(jobs.c.run_id == run_id, jobs.c.status == "running")
    with get_database(settings.db_url).read() as conn:
        found = conn.execute(query).scalar()
    return str(found) if found else None


def _stop(settings: Settings, finding: dict[str, Any], why: str) -> dict[str, Any]:
    from daybreak.jobs import service as jobs_service

    job_id = running_job(settings, finding["run_id"])
    if job_id is None:
        return _not_done(settings, finding, "stop", "the run was not started by the queue")
    try:
        jobs_service.cancel(settings, job_id)
    except DaybreakError as exc:
        return _not_done(settings, finding, "stop", exc.message)
    return _record(settings, finding, "stop", f"stopped job {job_id}: {why}", job=job_id)


def _not_done(settings: Settings, finding: dict[str, Any], action: str, why: str) -> dict[str, Any]:
    return _record(
        settings, finding, "skipped", f"could not {action}: {why}; notified instead", wanted=action
    )


def restarts_so_far(settings: Settings, run_id: str) -> int:
    query = sa.select(sa.func.count()).where(
        watch_actions.c.run_id == run_id, watch_actions.c.kind == "restart"
    )
    with get_database(settings.db_url).read() as conn:
        return int(conn.execute(query).scalar_one())


def onset_of(finding: dict[str, Any]) -> int | None:
    """The step the trouble began: from the evidence, else the step it was known."""
    evidence = finding.get("evidence") or {}
    for key in ONSET_KEYS:
        if isinstance(evidence.get(key), int | float):
            return int(evidence[key])
    step = finding.get("step")
    return int(step) if step is not None else None


def good_checkpoint(settings: Settings, run_id: str, before: int | None) -> int | None:
    """The step of the run's last checkpoint strictly before ``before``; None: none."""
    query = sa.select(sa.func.max(artifacts.c.step)).where(
        artifacts.c.run_id == run_id,
        artifacts.c.kind == "checkpoint",
        ~artifacts.c.name.endswith(SUPERSEDED),
    )
    if before is not None:
        query = query.where(artifacts.c.step < before)
    with get_database(settings.db_url).read() as conn:
        found = conn.execute(query).scalar()
    return int(found) if found is not None else None


def _restart(settings: Settings, finding: dict[str, Any], rule: Rule) -> dict[str, Any]:
    from daybreak.jobs import service as jobs_service

    run_id = finding["run_id"]
    job_id = running_job(settings, run_id)
    if job_id is None:
        return _not_done(settings, finding, "restart", "the run was not started by the queue")
    done = restarts_so_far(settings, run_id)
    if done >= rule.max_restarts:
        return _stop(settings, finding, f"gave up after {done} restart(s)")
    onset = onset_of(finding)
    step = good_checkpoint(settings, run_id, onset)
    job = jobs_service.get(settings, job_id)
    change = _combined(job.spec.env.get("DAYBREAK_REMEDY"), rule)
    origin = (
        f"the checkpoint at step {step}"
        if step is not None
        else "the start (no checkpoint before it)"
    )
    why = f"{finding['kind']} from step {onset}: restart {done + 1} of {rule.max_restarts} from {origin}"
    try:
        jobs_service.restart(
            settings,
            job_id,
            -1 if step is None else step,
            {"DAYBREAK_REMEDY": json.dumps(change)},
            why,
        )
    except DaybreakError as exc:
        return _not_done(settings, finding, "restart", exc.message)
    changes = ", ".join(f"{k} {v:g}" for k, v in change.items()) or "no change"
    return _record(
        settings,
        finding,
        "restart",
        f"restarted job {job_id} from {origin} with {changes}",
        job=job_id,
        from_step=step,
        onset_step=onset,
        change=change,
        restart=done + 1,
    )


def _combined(previous: str | None, rule: Rule) -> dict[str, float]:
    """The change for this restart on top of earlier ones: learning-rate factors multiply,
    the tightest clip wins."""
    change: dict[str, float] = json.loads(previous) if previous else {}
    if rule.lr_scale:
        change["lr_scale"] = change.get("lr_scale", 1.0) * rule.lr_scale
    if rule.clip_grad:
        change["clip_grad"] = min(change.get("clip_grad", rule.clip_grad), rule.clip_grad)
    return change
