"""The watchdog's memory in the metadata store: findings (one row per run and kind, updated
as the evidence grows) and the actions taken about them."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from daybreak.store.engine import Database
from daybreak.store.schema import findings, projects, runs, watch_actions
from daybreak.watchdog.findings import Finding


def record_findings(
    db: Database, run_id: str, found: Iterable[Finding], now: float | None = None
) -> list[dict[str, Any]]:
    """Store what a pass found about ``run_id``; returns the rows of findings that are new
    (a kind not seen before on this run, or seen again after it was cleared). A kind no
    longer found is marked cleared, not deleted: the Daily Log still reports it."""
    now = time.time() if now is None else now
    current = {f.kind: f for f in found}
    new: list[dict[str, Any]] = []
    with db.write() as conn:
        stored = {
            row.kind: row
            for row in conn.execute(sa.select(findings).where(findings.c.run_id == run_id)).all()
        }
        for kind, finding in current.items():
            values = {
                "severity": finding.severity,
                "step": finding.step,
                "message": finding.message,
                "suggestion": finding.suggestion,
                "evidence": _jsonable(finding.evidence),
                "last_seen": now,
            }
            old = stored.get(kind)
            if old is None:
                result = conn.execute(
                    findings.insert().values(run_id=run_id, kind=kind, first_seen=now, **values)
                )
                row_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                new.append({"id": row_id, "run_id": run_id, "kind": kind, **values})
                continue
            if old.cleared_at is not None:  # seen again; only one of two watchers reopens it
                reopened = conn.execute(
                    findings.update()
                    .where(findings.c.id == old.id, findings.c.cleared_at.is_not(None))
                    .values(first_seen=now, cleared_at=None, **values)
                ).rowcount
                if reopened:
                    new.append({"id": old.id, "run_id": run_id, "kind": kind, **values})
                continue
            conn.execute(findings.update().where(findings.c.id == old.id).values(**values))
        gone = [
            row.id for kind, row in stored.items() if kind not in current and not row.cleared_at
        ]
        if gone:
            conn.execute(findings.update().where(findings.c.id.in_(gone)).values(cleared_at=now))
    return new


def _jsonable(evidence: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in evidence.items():
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        if isinstance(value, float) and value != value:
            value = None
        out[key] = value
    return out


def _with_run(table: sa.Table) -> sa.Select[Any]:
    return (
        sa.select(table, runs.c.name.label("run_name"), projects.c.name.label("project"))
        .join(runs, runs.c.id == table.c.run_id)
        .join(projects, projects.c.id == runs.c.project_id)
    )


def _between(
    table: sa.Table,
    stamp: sa.Column[Any],
    run_ids: list[str] | None,
    since: float | None,
    until: float | None,
) -> sa.Select[Any]:
    """Rows of ``table`` with their run's name and project, ``stamp`` in ``[since, until)``,
    oldest first."""
    query = _with_run(table).order_by(stamp, table.c.id)
    if run_ids is not None:
        query = query.where(table.c.run_id.in_(run_ids))
    if since is not None:
        query = query.where(stamp >= since)
    if until is not None:
        query = query.where(stamp < until)
    return query


def list_findings(
    db: Database,
    run_ids: list[str] | None = None,
    since: float | None = None,
    until: float | None = None,
    include_cleared: bool = True,
) -> list[dict[str, Any]]:
    """Stored findings (with ``run_name`` and ``project``), first seen in ``[since, until)``."""
    query = _between(findings, findings.c.first_seen, run_ids, since, until)
    if not include_cleared:
        query = query.where(findings.c.cleared_at.is_(None))
    with db.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def get_finding(db: Database, finding_id: int) -> dict[str, Any] | None:
    with db.read() as conn:
        row = conn.execute(_with_run(findings).where(findings.c.id == finding_id)).mappings()
        found = row.first()
    return dict(found) if found else None


def record_action(
    db: Database,
    run_id: str,
    kind: str,
    finding_kind: str,
    message: str,
    detail: dict[str, Any] | None = None,
    finding_id: int | None = None,
    now: float | None = None,
) -> int:
    """Remember what the watchdog did (``notify``, ``stop``, ``restart``, ``skipped``)."""
    with db.write() as conn:
        result = conn.execute(
            watch_actions.insert().values(
                run_id=run_id,
                finding_id=finding_id,
                kind=kind,
                finding_kind=finding_kind,
                message=message,
                detail=_jsonable(detail or {}),
                at=time.time() if now is None else now,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def list_actions(
    db: Database,
    run_ids: list[str] | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """Actions taken (with ``run_name`` and ``project``) in ``[since, until)``, oldest first."""
    query = _between(watch_actions, watch_actions.c.at, run_ids, since, until)
    with db.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
