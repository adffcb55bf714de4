"""Service functions over the runs in the metadata store: the one layer the SDK, the server
and the CLI all call."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from daybreak.errors import ConflictError, NotFoundError
from daybreak.store.engine import Database
from daybreak.store.schema import (
    artifacts,
    metric_keys,
    notes,
    projects,
    run_datasets,
    run_tags,
    runs,
)
from daybreak.tracking.records import CRASHED, ENDED, RUNNING, KeyStats, RunRecord, nan_if_none


def ensure_project(conn: sa.Connection, name: str) -> int:
    found = conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).scalar()
    if found is not None:
        return int(found)
    stmt = _insert(conn, projects).values(name=name, created_at=time.time())
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    return int(conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).scalar_one())


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def _row_values(record: RunRecord, project_id: int) -> dict[str, Any]:
    values = record.to_dict()
    values.pop("project")
    values["project_id"] = project_id
    return values


def create_run(db: Database, record: RunRecord) -> None:
    """Insert the run; a second call with the same id (a retried request) changes nothing."""
    with db.write() as conn:
        project_id = ensure_project(conn, record.project)
        stmt = _insert(conn, runs).values(**_row_values(record, project_id))
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


def resume_run(db: Database, run_id: str, now: float, pid: int | None, host: str) -> RunRecord:
    """Mark an existing run running again as a new attempt."""
    with db.write() as conn:
        record = _load(conn, run_id)
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(
                status=RUNNING,
                ended_at=None,
                error=None,
                attempts=runs.c.attempts + 1,
                last_heartbeat=now,
                pid=pid,
                host=host,
            )
        )
    record.status, record.attempts, record.ended_at = RUNNING, record.attempts + 1, None
    return record


def _load(conn: sa.Connection, run_id: str) -> RunRecord:
    row = conn.execute(_run_select().where(runs.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no run with id {run_id!r}", "list runs with `daybreak runs ls`")
    return RunRecord.from_dict(dict(row))


def _run_select() -> sa.Select[Any]:
    return sa.select(runs, projects.c.name.label("project")).join(
        projects, projects.c.id == runs.c.project_id
    )


def get_run(db: Database, run_id: str) -> RunRecord:
    with db.read() as conn:
        return _load(conn, run_id)


def find_runs(db: Database, prefix: str) -> list[str]:
    """Run ids that start with ``prefix`` (so users can type the first few characters)."""
    with db.read() as conn:
        rows = conn.execute(sa.select(runs.c.id).where(runs.c.id.startswith(prefix)).limit(10))
        return [r[0] for r in rows]


def list_runs(
    db: Database,
    project: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    limit: int | None = None,
) -> list[RunRecord]:
    query = _run_select().order_by(runs.c.started_at.desc())
    if project:
        query = query.where(projects.c.name == project)
    if status:
        query = query.where(runs.c.status == status)
    with db.read() as conn:
        records = [RunRecord.from_dict(dict(r)) for r in conn.execute(query).mappings()]
    if tag:
        records = [r for r in records if tag in r.tags]
    return records[:limit] if limit else records


def list_live_runs(db: Database, ended_since: float) -> list[RunRecord]:
    """The running runs, and those that ended at or after ``ended_since``."""
    query = _run_select().where(sa.or_(runs.c.status == RUNNING, runs.c.ended_at >= ended_since))
    with db.read() as conn:
        return [RunRecord.from_dict(dict(r)) for r in conn.execute(query).mappings()]


def list_projects(db: Database) -> list[dict[str, Any]]:
    query = (
        sa.select(
            projects.c.name,
            projects.c.created_at,
            sa.func.count(runs.c.id).label("runs"),
            sa.func.max(runs.c.started_at).label("last_run_at"),
        )
        .select_from(projects.outerjoin(runs, runs.c.project_id == projects.c.id))
        .group_by(projects.c.id, projects.c.name, projects.c.created_at)
        .order_by(projects.c.name)
    )
    with db.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def index_metrics(
    db: Database, run_id: str, stats: Mapping[str, KeyStats], heartbeat: float | None
) -> None:
    """Merge per-key stats of newly written points into the index and beat the heart."""
    with db.write() as conn:
        merge_key_stats(conn, run_id, stats)
        if heartbeat is not None:
            _beat(conn, run_id, heartbeat)


def _beat(conn: sa.Connection, run_id: str, now: float) -> None:
    # A run marked crashed while its writer was cut off (a DB outage, a suspended laptop)
    # comes back to life when its heart beats again.
    revived = runs.c.status == CRASHED
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(
            last_heartbeat=now,
            status=sa.case((revived, RUNNING), else_=runs.c.status),
            ended_at=sa.case((revived, None), else_=runs.c.ended_at),
            error=sa.case((revived, None), else_=runs.c.error),
        )
    )


def replace_key_stats(
    db: Database, run_id: str, stats: Mapping[str, KeyStats], heartbeat: float
) -> None:
    """Set the run's whole metric index to ``stats`` (rebuilt from its files) and beat."""
    with db.write() as conn:
        conn.execute(metric_keys.delete().where(metric_keys.c.run_id == run_id))
        merge_key_stats(conn, run_id, stats)
        _beat(conn, run_id, heartbeat)


def merge_key_stats(conn: sa.Connection, run_id: str, stats: Mapping[str, KeyStats]) -> None:
    if not stats:
        return
    rows = [{"run_id": run_id, "key": key, **_storable(s.to_dict())} for key, s in stats.items()]
    stmt = _insert(conn, metric_keys)
    old, new = metric_keys.c, stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={
            "count": old.count + new.count,
            "nonfinite": old.nonfinite + new.nonfinite,
            "last": new["last"],
            "last_step": new.last_step,
            "min": sa.case((sa.or_(old.min.is_(None), new.min < old.min), new.min), else_=old.min),
            "max": sa.case((sa.or_(old.max.is_(None), new.max > old.max), new.max), else_=old.max),
            "first_ts": sa.func.coalesce(old.first_ts, new.first_ts),
            "last_ts": new.last_ts,
        },
    )
    conn.execute(stmt, rows)


def _storable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def metric_index(db: Database, run_id: str) -> dict[str, KeyStats]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(metric_keys).where(metric_keys.c.run_id == run_id).order_by(metric_keys.c.key)
        ).mappings()
        return {row["key"]: key_stats_of(row) for row in rows}


def key_stats_of(row: sa.RowMapping) -> KeyStats:
    """A ``metric_keys`` row as KeyStats (a NULL last of a counted key was a NaN)."""
    values = {k: row[k] for k in KeyStats.__dataclass_fields__}
    values["last"] = nan_if_none(values["last"], values["count"])
    return KeyStats(**values)


def finish_run(
    db: Database,
    run_id: str,
    status: str,
    ended_at: float,
    error: str | None = None,
    summary: Mapping[str, Any] | None = None,
) -> None:
    if status not in ENDED:
        raise ConflictError(f"cannot finish a run as {status!r}", f"use one of {', '.join(ENDED)}")
    values: dict[str, Any] = {"status": status, "ended_at": ended_at, "last_heartbeat": ended_at}
    if error is not None:
        values["error"] = error
    if summary is not None:
        values["summary"] = dict(summary)
    with db.write() as conn:
        done = conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
        if done.rowcount == 0:
            raise NotFoundError(f"no run with id {run_id!r}", "check the run id")


def update_run(db: Database, run_id: str, **values: Any) -> None:
    """Change summary, tags, name or config of a run."""
    allowed = {"summary", "tags", "name", "config"}
    unknown = set(values) - allowed
    if unknown:
        raise ConflictError(
            f"cannot change {sorted(unknown)} of a run", f"changeable: {sorted(allowed)}"
        )
    with db.write() as conn:
        if values:
            done = conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
            found = done.rowcount > 0
        else:  # nothing to change (an empty PATCH): only say whether the run is there
            found = (
                conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is not None
            )
        if not found:
            raise NotFoundError(f"no run with id {run_id!r}", "check the run id")


def mark_stale_runs(db: Database, now: float, stale_after: float) -> list[str]:
    """Mark running runs whose heart stopped as crashed; a dead local process counts at once."""
    host = socket.gethostname()
    with db.read() as conn:
        rows = conn.execute(
            sa.select(runs.c.id, runs.c.host, runs.c.pid, runs.c.last_heartbeat).where(
                runs.c.status == RUNNING
            )
        ).all()
    dead = [
        row.id
        for row in rows
        if row.last_heartbeat < now - _stale_window(row, stale_after)
        or (row.host == host and row.pid and not _alive(row.pid))
    ]
    if not dead:
        return []
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    message = f"process stopped sending heartbeats (marked crashed at {when})"
    with db.write() as conn:
        conn.execute(
            runs.update()
            .where(runs.c.id.in_(dead), runs.c.status == RUNNING)
            .values(status=CRASHED, ended_at=runs.c.last_heartbeat, error=message)
        )
    return dead


QUIET_STALE_AFTER = 3600.0


def _stale_window(row: Any, stale_after: float) -> float:
    """Runs logged over a protocol without heartbeats (MLflow's: no host, no pid) only beat
    when they log, so they get an hour of silence before they count as crashed."""
    if not row.host and row.pid is None:
        return max(stale_after, QUIET_STALE_AFTER)
    return stale_after


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def delete_runs(db: Database, run_ids: Iterable[str]) -> int:
    ids = list(run_ids)
    with db.write() as conn:
        for table in (metric_keys, artifacts, notes, run_datasets, run_tags):
            conn.execute(table.delete().where(table.c.run_id.in_(ids)))
        return int(conn.execute(runs.delete().where(runs.c.id.in_(ids))).rowcount)


def add_note(
    db: Database, body: str, run_id: str | None = None, project: str | None = None, author: str = ""
) -> int:
    """Store a note about a run or a project (see daybreak.notes for every subject)."""
    from daybreak.notes import service as notes_service

    return notes_service.add_note(db, body, author=author, run_id=run_id, project=project)


def list_notes(
    db: Database, run_id: str | None = None, project: str | None = None
) -> list[dict[str, Any]]:
    """Notes about a run or a project, oldest first (see daybreak.notes for every filter)."""
    from daybreak.notes import service as notes_service

    return notes_service.list_notes(db, run_id=run_id, project=project)


def add_artifact(db: Database, run_id: str, **values: Any) -> dict[str, Any]:
    values = {"meta": {}, "step": None, "created_at": time.time(), **values, "run_id": run_id}
    with db.write() as conn:
        result = conn.execute(artifacts.insert().values(**values))
        values["id"] = int(result.inserted_primary_key[0])  # type: ignore[index]
    return values


def list_artifacts(db: Database, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(artifacts).where(artifacts.c.run_id == run_id)
    if kind:
        query = query.where(artifacts.c.kind == kind)
    with db.read() as conn:
        return [dict(r) for r in conn.execute(query.order_by(artifacts.c.id)).mappings()]


def remove_artifacts(db: Database, ids: Iterable[int]) -> set[str]:
    """Delete artifact rows; returns the URIs no remaining row refers to (safe to delete)."""
    wanted = list(ids)
    with db.write() as conn:
        uris = {
            row[0]
            for row in conn.execute(sa.select(artifacts.c.uri).where(artifacts.c.id.in_(wanted)))
        }
        conn.execute(artifacts.delete().where(artifacts.c.id.in_(wanted)))
        still = {
            row[0]
            for row in conn.execute(sa.select(artifacts.c.uri).where(artifacts.c.uri.in_(uris)))
        }
    return uris - still
