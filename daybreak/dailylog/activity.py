"""The rest of the night: the job queue, datasets created, models registered, converted and promoted,
notes written and action items still open."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from daybreak.dailylog.scope import Scope
from daybreak.store.schema import action_items, dataset_versions, datasets, jobs


def gather_jobs(scope: Scope) -> tuple[int, dict[str, dict[str, Any]]]:
    """(jobs queued now, running jobs by their run id)."""
    with scope.db.read() as conn:
        queued = conn.execute(
            sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status == "queued")
        ).scalar_one()
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.name, jobs.c.run_id, jobs.c.spec).where(
                jobs.c.status == "running"
            )
        ).mappings()
        running = {
            row["run_id"]: {
                "id": row["id"],
                "name": row["name"],
                "config": (row["spec"] or {}).get("config") or {},
            }
            for row in rows
        }
    return int(queued), running


def gather_datasets(scope: Scope) -> list[dict[str, Any]]:
    """Dataset versions created in the window."""
    query = (
        sa.select(
            datasets.c.name,
            dataset_versions.c.version,
            dataset_versions.c.rows,
            dataset_versions.c.created_at,
        )
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(dataset_versions.c.created_at >= scope.since)
        .where(dataset_versions.c.created_at < scope.until)
        .order_by(dataset_versions.c.created_at)
    )
    with scope.db.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def gather_models(scope: Scope) -> dict[str, Any]:
    """Models registered, converted or promoted (alias moves) in the window."""
    from daybreak.registry import activity

    with scope.db.read() as conn:
        return {"available": True, **activity.between(conn, scope.since, scope.until)}


def gather_notes(scope: Scope) -> list[dict[str, Any]]:
    """Notes written in the window, oldest first."""
    from daybreak.notes import service

    found = service.list_notes(scope.db, since=scope.since, until=scope.until)
    return [_plain(note, ("id", "author", "body", "created_at", "subject")) for note in found]


def gather_action_items(scope: Scope) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(open action items, carried until resolved; items resolved in the window)."""
    from daybreak.notes import service

    fields = ("id", "title", "owner", "created_at", "run_id", "run_name", "project", "finding_id")
    items = [_plain(item, fields) for item in service.list_action_items(scope.db, status="open")]
    for item in items:
        item["new"] = item.get("created_at", 0) >= scope.since
    query = (
        sa.select(
            action_items.c.id,
            action_items.c.title,
            action_items.c.owner,
            action_items.c.resolved_by,
            action_items.c.resolution,
            action_items.c.resolved_at,
        )
        .where(action_items.c.resolved_at >= scope.since)
        .where(action_items.c.resolved_at < scope.until)
        .order_by(action_items.c.resolved_at)
    )
    with scope.db.read() as conn:
        resolved = [dict(row) for row in conn.execute(query).mappings()]
    return items, resolved


def _plain(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: row.get(name) for name in fields}
