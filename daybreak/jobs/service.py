"""The job queue in the metadata store: submit, claim, start, finish, cancel, retry, requeue.

Every state change is one transaction, and claiming is a conditional update (``WHERE status =
'queued'``), so two agents never start the same job. Each change also appends a job event,
which is the job's history (``daybreak jobs show``).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.errors import ConfigError, DaybreakError, NotFoundError
from daybreak.jobs.spec import JobSpec, SpecError, expand
from daybreak.store.engine import get_database
from daybreak.store.schema import agents, job_events, jobs

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
DONE = (SUCCEEDED, FAILED, CANCELLED)


class JobStateError(DaybreakError):
    """The job is not in a state that allows this."""

    http_status = 409


@dataclasses.dataclass(frozen=True)
class JobRecord:
    id: str
    project: str
    name: str
    status: str
    spec: JobSpec
    priority: int
    gpus: int
    executor: str
    run_id: str
    sweep_id: str | None
    code_uri: str | None
    workdir: str
    attempt: int
    max_retries: int
    worker: str | None
    pid: int | None
    process_started: float | None
    devices: list[Any] | None
    exit_code: int | None
    error: str | None
    reason: str | None
    cancel_requested: bool
    created_at: float
    started_at: float | None
    ended_at: float | None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["spec"] = self.spec.to_dict()
        out["command"] = self.spec.entry.describe()
        return out


def _record(row: Any) -> JobRecord:
    values = dict(row._mapping)
    values["spec"] = JobSpec.from_dict(values["spec"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return JobRecord(**values)


def new_job_id() -> str:
    return "j" + secrets.token_hex(5)


def submit(
    settings: Settings,
    spec: JobSpec,
    sweep: dict[str, list[Any]] | None = None,
    cwd: Path | None = None,
) -> list[JobRecord]:
    """Check ``spec`` whole, freeze its code and queue one job per sweep point (all or none)."""
    from daybreak.blobs import BlobStore
    from daybreak.jobs.snapshot import freeze
    from daybreak.tracking.run import new_run_id

    _check_datasets(settings, spec)
    _check_executor(spec.executor)
    snapshot = freeze(spec, BlobStore(settings.blobs_url), (cwd or Path.cwd()).resolve())
    points = expand(snapshot.entry_in_snapshot(spec), sweep or {})
    sweep_id = secrets.token_hex(5) if len(points) > 1 else None
    now = time.time()
    records = []
    with get_database(settings.db_url).write() as conn:
        for point in points:
            job_id = new_job_id()
            conn.execute(
                jobs.insert().values(
                    id=job_id,
                    project=point.project,
                    name=point.name or job_id,
                    status=QUEUED,
                    spec=point.to_dict(),
                    priority=point.priority,
                    gpus=point.resources.gpus,
                    executor=point.executor,
                    run_id=new_run_id(),
                    sweep_id=sweep_id,
                    code_uri=snapshot.uri,
                    workdir=snapshot.workdir,
                    max_retries=point.retries,
                    created_at=now,
                )
            )
            _event(conn, job_id, 0, "submitted", snapshot.commit or snapshot.digest or "")
            records.append(job_id)
    return [get(settings, job_id) for job_id in records]


def _check_datasets(settings: Settings, spec: JobSpec) -> None:
    from daybreak.lake import datasets

    for ref in spec.datasets:
        try:
            datasets.get(settings, ref)
        except DaybreakError as exc:
            raise SpecError(f"dataset {ref!r}: {exc.message}", exc.hint or "") from exc


def _check_executor(executor: str) -> None:
    if executor == "local":
        return
    if executor.startswith("ray://"):
        from daybreak.jobs.ray import check_address

        check_address(executor)
        return
    raise SpecError(f"unknown executor {executor!r}", "use local or ray://HOST:PORT")


def get(settings: Settings, job_id: str) -> JobRecord:
    """A job by id (or a unique prefix of it)."""
    with get_database(settings.db_url).read() as conn:
        found = conn.execute(sa.select(jobs).where(jobs.c.id.like(f"{job_id}%")).limit(2)).all()
    if not found:
        raise NotFoundError(f"no job {job_id!r}", "list jobs with `daybreak jobs ls`")
    if len(found) > 1:
        raise ConfigError(f"{job_id!r} matches more than one job", "give more of the id")
    return _record(found[0])


def list_jobs(
    settings: Settings,
    status: str | None = None,
    project: str | None = None,
    limit: int = 200,
) -> list[JobRecord]:
    query = sa.select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
    if status:
        query = query.where(jobs.c.status == status)
    if project:
        query = query.where(jobs.c.project == project)
    with get_database(settings.db_url).read() as conn:
        return [_record(row) for row in conn.execute(query).all()]


def events(settings: Settings, job_id: str) -> list[dict[str, Any]]:
    query = sa.select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
    with get_database(settings.db_url).read() as conn:
        return [dict(row._mapping) for row in conn.execute(query).all()]


def cancel(settings: Settings, job_id: str) -> JobRecord:
    """A queued job is cancelled at once; a running one is stopped by its agent."""
    job = get(settings, job_id)
    with get_database(settings.db_url).write() as conn:
        if job.status == QUEUED:
            _set(conn, job.id, QUEUED, status=CANCELLED, ended_at=time.time(), reason="cancelled")
            _event(conn, job.id, job.attempt, "cancelled", "while queued")
        elif job.status == RUNNING:
            _set(conn, job.id, RUNNING, cancel_requested=True)
            _event(conn, job.id, job.attempt, "cancel-requested", "")
        else:
            raise JobStateError(f"job {job.id} already {job.status}", "nothing to cancel")
    return get(settings, job.id)


def retry(settings: Settings, job_id: str) -> JobRecord:
    """A failed or cancelled job goes back in the queue as itself: same run, which continues
    from its last checkpoint, with one more attempt allowed."""
    job = get(settings, job_id)
    if job.status not in (FAILED, CANCELLED):
        raise JobStateError(
            f"job {job.id} is {job.status}", "only failed or cancelled jobs can be retried"
        )
    with get_database(settings.db_url).write() as conn:
        _set(
            conn,
            job.id,
            job.status,
            status=QUEUED,
            max_retries=max(job.max_retries, job.attempt),
            cancel_requested=False,
            exit_code=None,
            error=None,
            reason="retried by hand",
            ended_at=None,
        )
        _event(conn, job.id, job.attempt, "retry", "by hand")
    return get(settings, job.id)


def requeue(settings: Settings, job_id: str) -> JobRecord:
    """Put a running job back in the queue (preemption): its agent stops it and it resumes
    from its last checkpoint on the next free slot. The attempt does not use up the budget."""
    job = get(settings, job_id)
    if job.status != RUNNING:
        raise JobStateError(f"job {job.id} is {job.status}", "only running jobs can be requeued")
    with get_database(settings.db_url).write() as conn:
        _set(conn, job.id, RUNNING, cancel_requested=True, reason="requeue")
        _event(conn, job.id, job.attempt, "requeue-requested", "")
    return get(settings, job.id)


RESTART = "restart@"  # reason prefix of a running job the watchdog restarts: restart@STEP


def restart(
    settings: Settings, job_id: str, from_step: int, env: dict[str, str], why: str
) -> JobRecord:
    """Stop a running job and queue it again as itself, to continue from the checkpoint at
    ``from_step`` (-1: from the start) with ``env`` added to its environment. When the old
    process has ended, what it logged and saved after that step is set aside
    (:func:`_rewind`), so the next attempt resumes from that checkpoint."""
    job = get(settings, job_id)
    if job.status != RUNNING:
        raise JobStateError(f"job {job.id} is {job.status}", "only running jobs can be restarted")
    spec = dataclasses.replace(job.spec, env={**job.spec.env, **env})
    with get_database(settings.db_url).write() as conn:
        _set(
            conn,
            job.id,
            RUNNING,
            spec=spec.to_dict(),
            cancel_requested=True,
            reason=f"{RESTART}{int(from_step)}",
        )
        _event(conn, job.id, job.attempt, "restart-requested", why)
    return get(settings, job.id)


def _rewind(settings: Settings, run_id: str, step: int, now: float) -> None:
    from daybreak.tracking import checkpoints, points

    points.write_rewind(settings.runs_dir / run_id, step, now)
    checkpoints.supersede(get_database(settings.db_url), run_id, step)


def claim(settings: Settings, worker: str, fits: Any, executor: str = "local") -> JobRecord | None:
    """Take the most urgent queued job that ``fits(job)`` (priority, then age): a job that does
    not fit does not block smaller ones behind it."""
    query = (
        sa.select(jobs)
        .where(jobs.c.status == QUEUED, jobs.c.executor == executor)
        .order_by(jobs.c.priority.desc(), jobs.c.created_at, jobs.c.id)
        .limit(500)
    )
    db = get_database(settings.db_url)
    with db.read() as conn:
        candidates = [_record(row) for row in conn.execute(query).all()]
    for job in candidates:
        if not fits(job):
            continue
        with db.write() as conn:
            taken = conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id, jobs.c.status == QUEUED)
                .values(
                    status=RUNNING,
                    worker=worker,
                    attempt=job.attempt + 1,
                    started_at=time.time(),
                    pid=None,
                    exit_code=None,
                    error=None,
                    reason=None,
                    cancel_requested=False,
                )
            ).rowcount
            if taken:
                _event(conn, job.id, job.attempt + 1, "claimed", worker)
        if taken:
            return get(settings, job.id)  # read after the commit
    return None


def started(
    settings: Settings,
    job: JobRecord,
    pid: int,
    process_started: float,
    devices: list[Any],
    handle: str | None = None,
) -> None:
    with get_database(settings.db_url).write() as conn:
        _set(
            conn, job.id, RUNNING, pid=pid or None, process_started=process_started, devices=devices
        )
        detail = (handle or f"pid {pid}") + (f", devices {devices}" if devices else "")
        _event(conn, job.id, job.attempt, "started", detail)


def finished(
    settings: Settings,
    job: JobRecord,
    exit_code: int | None,
    kind: str,
    detail: str = "",
    log_tail: str = "",
) -> JobRecord:
    """Record how an attempt ended and decide what comes next.

    ``kind``: ``exited`` (its own exit code), ``cancelled``, ``requeued``, ``timeout`` or
    ``lost`` (the process vanished). A failed or lost attempt goes back to the queue while the
    budget lasts; a timeout does not (it would time out again)."""
    restart_from = _restart_step(settings, job.id) if kind == "requeued" else None
    if restart_from is not None:  # the old process has ended: set its later path aside first
        _rewind(settings, job.run_id, restart_from, time.time())
    now = time.time()
    with get_database(settings.db_url).write() as conn:
        current = conn.execute(sa.select(jobs.c.status).where(jobs.c.id == job.id)).scalar()
        if current != RUNNING:
            return get(settings, job.id)
        _event(
            conn,
            job.id,
            job.attempt,
            kind,
            detail or (f"exit {exit_code}" if exit_code is not None else ""),
        )
        values: dict[str, Any] = {"exit_code": exit_code, "pid": None, "cancel_requested": False}
        if kind == "exited" and exit_code == 0:
            values.update(status=SUCCEEDED, ended_at=now, reason=None)
        elif kind == "cancelled":
            values.update(status=CANCELLED, ended_at=now, reason="cancelled")
        elif kind == "requeued" and restart_from is not None:  # by the watchdog
            values.update(
                status=QUEUED,
                max_retries=job.max_retries + 1,
                reason=f"restarting from step {restart_from}",
            )
        elif kind == "requeued":  # preempted: the attempt does not use up the budget
            values.update(status=QUEUED, max_retries=job.max_retries + 1, reason="requeued")
        elif kind in ("exited", "lost") and job.attempt <= job.max_retries:
            why = f"exit code {exit_code}" if kind == "exited" else detail or "process lost"
            values.update(status=QUEUED, reason=f"retrying after attempt {job.attempt}: {why}")
            _event(conn, job.id, job.attempt, "retry", why)
        else:
            why = detail or (f"exit code {exit_code}" if exit_code is not None else kind)
            values.update(status=FAILED, ended_at=now, reason=why, error=log_tail[-8000:] or None)
        _set(conn, job.id, RUNNING, **values)
    return get(settings, job.id)


def _restart_step(settings: Settings, job_id: str) -> int | None:
    """The step a running job was asked to restart from (see :func:`restart`), if it was."""
    with get_database(settings.db_url).read() as conn:
        row = conn.execute(sa.select(jobs.c.status, jobs.c.reason).where(jobs.c.id == job_id)).one()
    if row.status != RUNNING or not (row.reason or "").startswith(RESTART):
        return None
    return int(row.reason[len(RESTART) :])


def fail_unschedulable(settings: Settings, job: JobRecord, why: str) -> None:
    with get_database(settings.db_url).write() as conn:
        if _set(conn, job.id, QUEUED, status=FAILED, ended_at=time.time(), reason=why):
            _event(conn, job.id, job.attempt, "unschedulable", why)


def running_on(settings: Settings, worker: str) -> list[JobRecord]:
    query = sa.select(jobs).where(jobs.c.status == RUNNING, jobs.c.worker == worker)
    with get_database(settings.db_url).read() as conn:
        return [_record(row) for row in conn.execute(query).all()]


def queued(settings: Settings, executor: str = "local") -> list[JobRecord]:
    query = sa.select(jobs).where(jobs.c.status == QUEUED, jobs.c.executor == executor)
    with get_database(settings.db_url).read() as conn:
        return [_record(row) for row in conn.execute(query).all()]


def register_agent(
    settings: Settings, agent_id: str, host: str, pid: int, executor: str, gpus: int, slots: int
) -> None:
    now = time.time()
    with get_database(settings.db_url).write() as conn:
        conn.execute(agents.delete().where(agents.c.id == agent_id))
        conn.execute(
            agents.insert().values(
                id=agent_id,
                host=host,
                pid=pid,
                executor=executor,
                gpus=gpus,
                slots=slots,
                started_at=now,
                heartbeat=now,
            )
        )


def agent_heartbeat(settings: Settings, agent_id: str) -> None:
    with get_database(settings.db_url).write() as conn:
        conn.execute(agents.update().where(agents.c.id == agent_id).values(heartbeat=time.time()))


def remove_agent(settings: Settings, agent_id: str) -> None:
    with get_database(settings.db_url).write() as conn:
        conn.execute(agents.delete().where(agents.c.id == agent_id))


def live_agents(settings: Settings, within: float = 30.0) -> list[dict[str, Any]]:
    query = sa.select(agents).where(agents.c.heartbeat >= time.time() - within)
    with get_database(settings.db_url).read() as conn:
        return [dict(row._mapping) for row in conn.execute(query).all()]


def _set(conn: Any, job_id: str, expected: str, **values: Any) -> bool:
    """Update a job only if it is still in ``expected`` state; True when it was."""
    result = conn.execute(
        jobs.update().where(jobs.c.id == job_id, jobs.c.status == expected).values(**values)
    )
    return bool(result.rowcount)


def _event(conn: Any, job_id: str, attempt: int, kind: str, detail: str) -> None:
    conn.execute(
        job_events.insert().values(
            job_id=job_id, at=time.time(), attempt=attempt, kind=kind, detail=detail[:2000]
        )
    )
