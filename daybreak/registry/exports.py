"""The converted forms of a version (filled in by ``daybreak.convert``), each with its report."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from daybreak.blobs import BlobStore
from daybreak.config import Settings
from daybreak.errors import ConfigError, NotFoundError
from daybreak.registry.records import Export
from daybreak.registry.service import get_version, resolve_in
from daybreak.store.engine import get_database
from daybreak.store.schema import exports

EXPORT_STATUSES = ("ok", "failed", "unvalidated", "unavailable")


@dataclasses.dataclass(frozen=True)
class NewExport:
    """One converted form to store: ``uri`` None where nothing was built."""

    format: str
    precision: str
    status: str
    report: dict[str, Any]
    uri: str | None = None
    size: int | None = None
    recommended: bool = False


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
    item = NewExport(format, precision, status, report, uri, size, recommended)
    _check(item)
    with get_database(settings.db_url).write() as conn:
        version = resolve_in(conn, ref)
        if recommended:
            _unrecommend(conn, version.id, target)
        return _insert(conn, version.id, version.ref, target, item)


def record_conversion(
    settings: Settings, ref: str, target: str, items: list[NewExport]
) -> list[Export]:
    """Store every candidate of one conversion for ``target`` in one transaction. The new
    conversion decides the target's recommendation: older exports for it lose theirs, even
    when no new one is recommended."""
    for item in items:
        _check(item)
    if sum(item.recommended for item in items) > 1:
        raise ConfigError("one conversion recommends at most one export per target", "")
    with get_database(settings.db_url).write() as conn:
        version = resolve_in(conn, ref)
        _unrecommend(conn, version.id, target)
        return [_insert(conn, version.id, version.ref, target, item) for item in items]


def _check(item: NewExport) -> None:
    if item.status not in EXPORT_STATUSES:
        raise ConfigError(f"export status {item.status!r}", f"one of {', '.join(EXPORT_STATUSES)}")
    if item.recommended and item.status != "ok":
        raise ConfigError("only a validated export (status ok) can be recommended", "")


def _unrecommend(conn: Connection, version_id: int, target: str) -> None:
    conn.execute(
        exports.update()
        .where(exports.c.version_id == version_id, exports.c.target == target)
        .values(recommended=False)
    )


def _insert(conn: Connection, version_id: int, ref: str, target: str, item: NewExport) -> Export:
    values: dict[str, Any] = {
        "target": target,
        **dataclasses.asdict(item),
        "created_at": time.time(),
    }
    result = conn.execute(exports.insert().values(version_id=version_id, **values))
    return Export(id=int(result.inserted_primary_key[0]), ref=ref, **values)  # type: ignore[index]


SERVING_TARGETS = ("server-gpu", "server-cpu", "mobile-cpu")


def recommended_export(settings: Settings, ref: str, target: str | None = None) -> Export:
    """The recommended export of the version ``ref`` names: for ``target``, else the first
    target of :data:`SERVING_TARGETS` that has one (then any other target's); ``server-gpu``
    only where ONNX Runtime sees a GPU. The newest recommendation wins."""
    found = [e for e in list_exports(settings, ref) if e.recommended and e.status == "ok"]
    if target is None and not _gpu_available():
        found = [e for e in found if e.target != "server-gpu"]
    if target is not None:
        found = [e for e in found if e.target == target]
    if not found:
        version = get_version(settings, ref)
        where = f"for target {target!r}" if target else "for any target"
        raise NotFoundError(
            f"{version.ref} has no recommended export {where}",
            f"run `daybreak convert {version.ref} --target {target or 'server-cpu'}`",
        )
    order = {t: i for i, t in enumerate(SERVING_TARGETS)}
    return min(found, key=lambda e: (order.get(e.target, len(order)), -e.id))


def export_path(settings: Settings, export: Export) -> Path:
    """A local file with the export's bytes."""
    if not export.uri:
        raise NotFoundError(f"export {export.id} of {export.ref} has no file", "convert it again")
    blobs = BlobStore(settings.blobs_url)
    return blobs.local_path(blobs.key_of(export.uri))


def _gpu_available() -> bool:
    try:
        import onnxruntime
    except ModuleNotFoundError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


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
