"""Read endpoints of the REST API: projects, runs, metrics (downsampled), output, artifacts."""

from __future__ import annotations

import math
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel

from daybreak import __version__
from daybreak.errors import ConfigError, NotFoundError
from daybreak.store.jsontext import nonfinite_text, to_jsonable
from daybreak.tracking import series
from daybreak.tracking.readers import LocalBackend
from daybreak.tracking.series import Series, Window
from daybreak.web.deps import RowId, store

router = APIRouter(prefix="/api", tags=["read"])
MAX_POINTS = 100_000


def run_json(record: Any) -> dict[str, Any]:
    return to_jsonable(record.to_dict())


def finite_or_text(values: Any) -> list[Any]:
    """JSON has no NaN/Infinity: non-finite values go out as the strings JavaScript's Number() reads."""
    out = values.tolist()
    if not all(math.isfinite(v) for v in out):
        out = [v if math.isfinite(v) else nonfinite_text(v) for v in out]
    return out


@router.get("/health")
def health() -> dict[str, Any]:
    return {"ok": True, "server": "daybreak", "version": __version__}


@router.get("/projects")
def projects(db: LocalBackend = Depends(store)) -> list[dict[str, Any]]:
    return db.list_projects()


@router.get("/runs")
def runs(
    project: str | None = None,
    status: Literal["running", "finished", "failed", "stopped", "crashed"] | None = None,
    tag: str | None = None,
    limit: int | None = Query(None, ge=1, le=100_000),
    db: LocalBackend = Depends(store),
) -> list[dict[str, Any]]:
    return [run_json(r) for r in db.list_runs(project=project, status=status, tag=tag, limit=limit)]


@router.get("/runs/{run_id}")
def run(run_id: str, db: LocalBackend = Depends(store)) -> dict[str, Any]:
    return run_json(db.get_run(run_id))


class RunPatch(BaseModel):
    name: str | None = None
    tags: list[str] | None = None
    summary: dict[str, Any] | None = None
    config: dict[str, Any] | None = None  # the whole config (a logger that learns it late)


@router.patch("/runs/{run_id}")
def patch_run(run_id: str, patch: RunPatch, db: LocalBackend = Depends(store)) -> dict[str, Any]:
    from daybreak.tracking import service

    full = db.resolve(run_id)
    service.update_run(db.db, full, **patch.model_dump(exclude_none=True))
    return run_json(db.get_run(full))


@router.delete("/runs/{run_id}", status_code=204)
def delete_run(run_id: str, db: LocalBackend = Depends(store)) -> Response:
    db.delete_runs([db.resolve(run_id)])
    return Response(status_code=204)


@router.get("/runs/{run_id}/metrics")
def metric_index(run_id: str, db: LocalBackend = Depends(store)) -> dict[str, Any]:
    full = db.resolve(run_id)
    index = {k: to_jsonable(v.to_dict()) for k, v in db.metric_index(full).items()}
    for key in db.metric_keys(full):
        index.setdefault(key, None)
    return {"run_id": full, "keys": index}


POINTS_QUERY = Query(
    2000,
    ge=0,
    le=MAX_POINTS,
    description="downsample to at most this many points, keeping extremes; 0 for all",
)
AXIS_QUERY = Query(
    "step",
    description="what start/end measure: step, time (epoch seconds) or relative "
    "(seconds since the run started)",
)


def _window(by: str, start: float | None, end: float | None) -> Window:
    for name, value in (("start", start), ("end", end)):
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, not {value}", "give a number")
    return Window(by, start, end)  # type: ignore[arg-type]


def _series_json(found: Series) -> dict[str, Any]:
    shown = found.shown
    return {
        **found.to_dict(),
        "steps": shown.steps.tolist(),
        "timestamps": shown.timestamps.tolist(),
        "values": finite_or_text(shown.values),
    }


@router.get("/runs/{run_id}/metrics/{key:path}")
def metric_series(
    run_id: str,
    key: str,
    points: int = POINTS_QUERY,
    format: Literal["json", "binary"] = "json",
    by: Literal["step", "time", "relative"] = AXIS_QUERY,
    start: float | None = Query(None, description="first x (inclusive) of the window to read"),
    end: float | None = Query(None, description="last x (inclusive) of the window to read"),
    db: LocalBackend = Depends(store),
) -> Any:
    """One key of a run inside an optional step/time window, downsampled to ``points``."""
    window = _window(by, start, end)
    full = db.resolve(run_id)
    origin = db.get_run(full).started_at if by == "relative" else 0.0
    found = series.series(db, full, key, points, window, origin)
    if format == "binary":
        headers = {
            "X-Daybreak-Total": str(found.total),
            "X-Daybreak-In-Window": str(found.in_window),
            "X-Daybreak-Key": quote(key),
        }
        return Response(
            found.shown.to_records().tobytes(),
            media_type="application/octet-stream",
            headers=headers,
        )
    return _series_json(found)


MAX_SERIES = 2000


@router.get("/series")
def many_series(
    runs: str = Query(..., description="comma-separated run ids (or unique prefixes)"),
    keys: str = Query(..., description="comma-separated metric keys"),
    points: int = POINTS_QUERY,
    format: Literal["json", "binary"] = "json",
    by: Literal["step", "time", "relative"] = AXIS_QUERY,
    start: float | None = Query(None, description="first x (inclusive) of the window to read"),
    end: float | None = Query(None, description="last x (inclusive) of the window to read"),
    db: LocalBackend = Depends(store),
) -> Any:
    """Several keys of several runs in one response, for charts that overlay runs. A run
    that lacks a key is listed under ``missing``. ``binary`` is the compact form the pages
    read (see daybreak.tracking.series.encode_binary)."""
    window = _window(by, start, end)
    run_ids = _split(runs, "runs")
    wanted = _split(keys, "keys")
    if len(run_ids) * len(wanted) > MAX_SERIES:
        raise ConfigError(
            f"{len(run_ids)} runs x {len(wanted)} keys is more than {MAX_SERIES} series",
            "ask for fewer runs or keys per request",
        )
    pairs = series.started(db, run_ids)
    found = series.many(db, pairs, wanted, points, window)
    if format == "binary":
        return Response(series.encode_binary(found), media_type="application/octet-stream")
    got = {(s.run_id, s.key) for s in found}
    missing = [[r, k] for r, _ in pairs for k in wanted if (r, k) not in got]
    return {"series": [_series_json(s) for s in found], "missing": missing}


def _split(text: str, name: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ConfigError(f"{name} is empty", f"give one or more {name}, separated by commas")
    return items


@router.get("/runs/{run_id}/output")
def output(
    run_id: str,
    offset: int = Query(0, ge=0),
    limit: int = Query(1 << 20, ge=1, le=16 << 20),
    db: LocalBackend = Depends(store),
) -> dict[str, Any]:
    full = db.resolve(run_id)
    text, next_offset = db.output(full, offset, limit)
    return {"run_id": full, "offset": offset, "next_offset": next_offset, "text": text}


@router.get("/runs/{run_id}/artifacts")
def artifacts(
    run_id: str, kind: str | None = None, db: LocalBackend = Depends(store)
) -> list[dict[str, Any]]:
    return db.artifacts(db.resolve(run_id), kind)


@router.get("/runs/{run_id}/artifacts/{artifact_id}/download")
def download(run_id: str, artifact_id: RowId, db: LocalBackend = Depends(store)) -> FileResponse:
    full = db.resolve(run_id)
    for row in db.artifacts(full):
        if row["id"] == artifact_id:
            path = db.local_blob(row["uri"])
            return FileResponse(path, filename=path.name)
    raise NotFoundError(
        f"run {full} has no artifact {artifact_id}", "list them at /api/runs/{id}/artifacts"
    )


@router.get("/runs/{run_id}/notes")
def notes(run_id: str, db: LocalBackend = Depends(store)) -> list[dict[str, Any]]:
    return db.notes(run_id=db.resolve(run_id))
