"""Write endpoints used by SDKs in remote mode (``DAYBREAK_URL``): create, points, output,
heartbeat, finish, artifacts, notes. Each batch carries a sequence number so a batch resent
after a lost reply is applied once."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from daybreak.config import Settings
from daybreak.errors import ImportFormatError, InvalidMetricError, PayloadTooLargeError
from daybreak.tracking import service
from daybreak.tracking.readers import LocalBackend
from daybreak.tracking.records import KeyStats, RunRecord
from daybreak.web.api import run_json
from daybreak.web.deps import RowId, store
from daybreak.web.deps import settings as settings_dep

router = APIRouter(prefix="/api", tags=["ingest"])
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _run_lock(run_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(run_id, threading.Lock())


class RunIn(BaseModel):
    project: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=300)
    config: dict[str, Any] = {}
    tags: list[str] = []
    summary: dict[str, Any] = {}
    git: dict[str, Any] = {}
    host: str = Field("", max_length=255)
    pid: int | None = Field(None, ge=0, le=2**31 - 1)
    command: str = ""
    environment: dict[str, Any] = {}
    started_at: float | None = Field(None, ge=0, le=1e11)  # seconds: until the year 5138


@router.put("/runs/{run_id}", status_code=201)
def create_run(
    body: RunIn,
    run_id: str = PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$"),
    db: LocalBackend = Depends(store),
) -> dict[str, Any]:
    now = time.time()
    record = RunRecord(
        id=run_id, **{**body.model_dump(), "started_at": body.started_at or now}, last_heartbeat=now
    )
    service.create_run(db.db, record)
    return run_json(db.get_run(run_id))


class ResumeIn(BaseModel):
    pid: int | None = None
    host: str = ""


@router.post("/runs/{run_id}/resume")
def resume_run(run_id: str, body: ResumeIn, db: LocalBackend = Depends(store)) -> dict[str, Any]:
    record, next_step = db.resume(run_id, body.pid, body.host)
    return {"run": run_json(record), "next_step": next_step}


def _seen(run_dir: Path, stream: str, seq: int | None) -> bool:
    if seq is None:
        return False
    path = run_dir / f".ingest-{stream}.seq"
    try:
        return int(path.read_text() or -1) >= seq
    except (FileNotFoundError, ValueError):
        return False


def _mark(run_dir: Path, stream: str, seq: int | None) -> None:
    if seq is not None:
        (run_dir / f".ingest-{stream}.seq").write_text(str(seq))


async def _body(request: Request, limit_mb: int) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > limit_mb * 2**20:
            raise PayloadTooLargeError(
                f"request body is over {limit_mb} MiB", "send smaller batches"
            )
    return bytes(data)


def _apply_once(
    db: LocalBackend,
    run_id: str,
    stream: str,
    seq: int | None,
    write: Callable[[str, Path], None],
    touches: Callable[[Path], list[Path]],
) -> None:
    """Run ``write(run_id, run_dir)`` unless the batch ``seq`` of ``stream`` was applied before.

    The sizes of the files the batch ``touches`` are noted first: when a server dies after
    writing a batch but before marking its ``seq``, the client sends it again, and the next
    server cuts the files back to those sizes before writing it, so it lands once."""
    record = db.get_run(run_id)
    run_dir = db.run_dir(record.id)
    with _run_lock(record.id):
        if _roll_back(run_dir, stream) and stream == "points":
            _reindex(db, record.id, run_dir)
        if _seen(run_dir, stream, seq):
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        pending = run_dir / f".ingest-{stream}.pending"
        if seq is not None:
            sizes = {str(p.relative_to(run_dir)): _size(p) for p in touches(run_dir)}
            pending.write_text(json.dumps({"seq": seq, "sizes": sizes}))
        write(record.id, run_dir)
        _mark(run_dir, stream, seq)
        pending.unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _roll_back(run_dir: Path, stream: str) -> bool:
    """Undo a batch that was written but never marked as applied; True if one was."""
    pending = run_dir / f".ingest-{stream}.pending"
    try:
        noted = json.loads(pending.read_text())
    except (FileNotFoundError, ValueError):
        return False
    marked = run_dir / f".ingest-{stream}.seq"
    try:
        applied = int(marked.read_text() or -1)
    except (FileNotFoundError, ValueError):
        applied = -1
    undone = False
    if int(noted.get("seq", -1)) > applied:  # else it was marked: only the note is left over
        for name, size in noted.get("sizes", {}).items():
            path = run_dir / name
            if path.is_file() and path.stat().st_size > int(size):
                os.truncate(path, int(size))
                undone = True
    pending.unlink(missing_ok=True)
    return undone


def _reindex(db: LocalBackend, run_id: str, run_dir: Path) -> None:
    from daybreak.tracking.live import stats_from_files

    service.replace_key_stats(db.db, run_id, stats_from_files(run_dir), time.time())


@router.post("/runs/{run_id}/points", status_code=204)
async def points(
    run_id: str,
    request: Request,
    x_daybreak_seq: int | None = Header(None),
    db: LocalBackend = Depends(store),
    settings: Settings = Depends(settings_dep),
) -> Response:
    body = await _body(request, settings.max_upload_mb)
    await run_in_threadpool(_append_points, db, run_id, body, x_daybreak_seq)
    return Response(status_code=204)


def _append_points(db: LocalBackend, run_id: str, body: bytes, seq: int | None) -> None:
    from daybreak.tracking.points import PointFiles, decode_batch

    try:
        batch = decode_batch(body)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ImportFormatError(
            f"malformed points batch: {exc}", "send points with the Daybreak SDK"
        ) from exc

    def write(full_id: str, run_dir: Path) -> None:
        files = PointFiles(run_dir)
        try:
            for key, records in batch.items():
                files.append(key, records)
        finally:
            files.close()
        stats = {k: KeyStats.of(r) for k, r in batch.items() if len(r)}
        service.index_metrics(db.db, full_id, stats, time.time())

    def touches(run_dir: Path) -> list[Path]:
        from daybreak.tracking.points import metrics_dir
        from daybreak.tracking.values import key_filename

        return [metrics_dir(run_dir) / key_filename(key) for key in batch]

    _apply_once(db, run_id, "points", seq, write, touches)


@router.post("/runs/{run_id}/output", status_code=204)
async def output(
    run_id: str,
    request: Request,
    x_daybreak_seq: int | None = Header(None),
    db: LocalBackend = Depends(store),
    settings: Settings = Depends(settings_dep),
) -> Response:
    body = await _body(request, settings.max_upload_mb)

    def write(_: str, run_dir: Path) -> None:
        with open(run_dir / "output.log", "ab") as handle:
            handle.write(body)

    def touches(run_dir: Path) -> list[Path]:
        return [run_dir / "output.log"]

    await run_in_threadpool(_apply_once, db, run_id, "output", x_daybreak_seq, write, touches)
    return Response(status_code=204)


@router.post("/runs/{run_id}/heartbeat", status_code=204)
def heartbeat(run_id: str, db: LocalBackend = Depends(store)) -> Response:
    service.index_metrics(db.db, db.resolve(run_id), {}, time.time())
    return Response(status_code=204)


class FinishIn(BaseModel):
    status: Literal["finished", "failed", "stopped", "crashed"]
    ended_at: float | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None


@router.post("/runs/{run_id}/finish")
def finish(run_id: str, body: FinishIn, db: LocalBackend = Depends(store)) -> dict[str, Any]:
    full = db.resolve(run_id)
    service.finish_run(
        db.db, full, body.status, body.ended_at or time.time(), body.error, body.summary
    )
    return run_json(db.get_run(full))


@router.put("/runs/{run_id}/artifacts/{name}", status_code=201)
async def put_artifact(
    run_id: str,
    name: str,
    request: Request,
    kind: Literal["artifact", "checkpoint"] = "artifact",
    step: int | None = Query(None, ge=0),
    filename: str = Query(..., min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f\x7f]+$"),
    meta: str = Query("{}"),
    db: LocalBackend = Depends(store),
    settings: Settings = Depends(settings_dep),
) -> dict[str, Any]:
    from daybreak.tracking.artifacts import store_artifact

    try:
        meta_dict = json.loads(meta)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"meta is not JSON: {exc}", "pass meta as a JSON object") from exc
    if filename in (".", ".."):
        raise InvalidMetricError(
            f"filename {filename!r} is not a file name", "send the file's name"
        )
    full = db.resolve(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        size = 0
        with open(path, "wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > settings.max_upload_mb * 2**20:
                    raise PayloadTooLargeError(
                        f"artifact is over {settings.max_upload_mb} MiB",
                        "raise DAYBREAK_MAX_UPLOAD_MB on the server",
                    )
                handle.write(chunk)
        return await run_in_threadpool(
            store_artifact, settings, db.db, full, path, name, kind, step, meta_dict
        )


@router.delete("/runs/{run_id}/artifacts/{artifact_id}", status_code=204)
def delete_artifact(run_id: str, artifact_id: RowId, db: LocalBackend = Depends(store)) -> Response:
    full = db.resolve(run_id)
    rows = [r for r in db.artifacts(full) if r["id"] == artifact_id]
    db.delete_artifacts(rows)
    return Response(status_code=204)


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=100_000)
    author: str = ""


@router.post("/runs/{run_id}/notes", status_code=201)
def add_note(run_id: str, note: NoteIn, db: LocalBackend = Depends(store)) -> dict[str, Any]:
    full = db.resolve(run_id)
    note_id = db.add_note(note.body, run_id=full, author=note.author)
    return {"id": note_id, "run_id": full}
