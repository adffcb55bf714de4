"""The converted forms of a version (filled in by ``daybreak.convert``), each with its report."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.errors import ConfigError
from daybreak.registry.records import Export
from daybreak.registry.service import resolve_in
from daybreak.store.engine import get_database
from daybreak.store.schema import exports

EXPORT_STATUSES = ("ok", "failed", "unvalidated")


def record_export(
    settings: Settings,
    ref: str,
    target: str,
    format: str,
    precision: str,
    status: str,
    report: dict[str, Any],
    uri: str | None = None,
    size: int | None = None,
    recommended: bool = False,
) -> Export:
    """Store one converted form of a version with its report; a recommended export makes the
    version's other exports for the same target not recommended."""
    if status not in EXPORT_STATUSES:
        raise ConfigError(f"export status {status!r}", f"one of {', '.join(EXPORT_STATUSES)}")
    if recommended and status != "ok":
        raise ConfigError("only a validated export (status ok) can be recommended", "")
    now = time.time()
    with get_database(settings.db_url).write() as conn:
        version = resolve_in(conn, ref)
        if recommended:
            conn.execute(
                exports.update()
                .where(exports.c.version_id == version.id, exports.c.target == target)
                .values(recommended=False)
            )
        values: dict[str, Any] = {
            "target": target,
            "format": format,
            "precision": precision,
            "uri": uri,
            "size": size,
            "report": report,
            "status": status,
            "recommended": recommended,
            "created_at": now,
        }
        result = conn.execute(exports.insert().values(version_id=version.id, **values))
        new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return Export(id=new_id, ref=version.ref, **values)


def list_exports(settings: Settings, ref: str) -> list[Export]:
    with get_database(settings.db_url).read() as conn:
        version = resolve_in(conn, ref)
        rows = conn.execute(
            sa.select(exports).where(exports.c.version_id == version.id).order_by(exports.c.id)
        ).mappings()
        return [
            Export(
                id=r["id"],
                ref=version.ref,
                **{k: r[k] for k in ("target", "format", "precision", "uri", "size", "report")},
                status=r["status"],
                recommended=bool(r["recommended"]),
                created_at=r["created_at"],
            )
            for r in rows
        ]
