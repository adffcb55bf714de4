"""Server-rendered web pages: projects, the runs of a project, one run. Thin: read the store,
render a template; the charts and the live parts fetch the JSON API from the browser."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from daybreak import __version__
from daybreak.display import format_duration
from daybreak.errors import NotFoundError
from daybreak.tracking.readers import SYSTEM_PREFIX, LocalBackend
from daybreak.tracking.records import RUNNING, KeyStats, RunRecord
from daybreak.web.app import STATIC, TEMPLATES
from daybreak.web.deps import store as _store

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES)
KEY_METRICS = 4
MAX_RUNS = 500


def install(app: FastAPI) -> None:
    """Add the pages and the static files (``/static``) to ``app``."""
    from daybreak.web import dailylog, models

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    app.include_router(dailylog.pages)
    app.include_router(models.pages)


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("version", __version__)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def not_found(request: Request, exc: NotFoundError) -> Response:
    return _render(request, "404.html", 404, title="Not found", message=exc.message, hint=exc.hint)


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    return _render(
        request, "index.html", title="Projects", projects=_store(request).list_projects()
    )


@router.get("/projects/{name}", response_class=HTMLResponse)
def project(request: Request, name: str) -> Response:
    try:
        table = _runs_table(_store(request), name)
    except NotFoundError as exc:
        return not_found(request, exc)
    return _render(request, "project.html", title=name, project=name, **table)


@router.get("/projects/{name}/runs-table", response_class=HTMLResponse)
def project_table(request: Request, name: str) -> Response:
    """The runs table alone, which the project page swaps in while runs are running."""
    try:
        table = _runs_table(_store(request), name)
    except NotFoundError as exc:
        return not_found(request, exc)
    return _render(request, "_runs_table.html", project=name, **table)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run(request: Request, run_id: str) -> Response:
    db = _store(request)
    try:
        record = db.get_run(run_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    index = db.metric_index(record.id)
    keys = db.metric_keys(record.id)
    return _render(
        request,
        "run.html",
        title=f"{record.name} · {record.project}",
        run=record,
        config=flat(record.config),
        summary=flat(record.summary),
        keys=[k for k in keys if not k.startswith(SYSTEM_PREFIX)],
        system_keys=[k for k in keys if k.startswith(SYSTEM_PREFIX)],
        index=index,
        **_attachments(db, record.id),
    )


@router.get("/runs/{run_id}/attachments", response_class=HTMLResponse)
def run_attachments(request: Request, run_id: str) -> Response:
    """Artifacts, checkpoints and notes alone, which the run page refreshes while running."""
    db = _store(request)
    try:
        full = db.resolve(run_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    return _render(request, "_attachments.html", **_attachments(db, full))


def _attachments(db: LocalBackend, run_id: str) -> dict[str, Any]:
    return {"artifacts": db.artifacts(run_id), "notes": db.notes(run_id=run_id)}


def _runs_table(db: LocalBackend, project: str) -> dict[str, Any]:
    if project not in {p["name"] for p in db.list_projects()}:
        raise NotFoundError(f"no project named {project!r}", "pick one from the projects list")
    runs = db.list_runs(project=project, limit=MAX_RUNS)
    stats = {r.id: db.metric_index(r.id) for r in runs}
    return {
        "runs": runs,
        "stats": stats,
        "metric_columns": key_metrics(stats.values()),
        "any_running": any(r.status == RUNNING for r in runs),
        "now": time.time(),
    }


def key_metrics(indexes: Any, limit: int = KEY_METRICS) -> list[str]:
    """The few metric keys worth a column: those with "loss" in the name first, then the rest."""
    keys = {k for index in indexes for k in index if not k.startswith(SYSTEM_PREFIX)}
    return sorted(keys, key=lambda k: ("loss" not in k.lower(), k))[:limit]


def flat(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested config/summary as (dotted key, value) rows for a two-column table."""
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(flat(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def when(ts: float | None) -> str:
    if not ts:
        return "—"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else ""


def duration(record: RunRecord, now: float | None = None) -> str:
    end = record.ended_at or (now or time.time())
    return format_duration(end - record.started_at)


def number(value: Any) -> str:
    """A metric value short enough for a table cell; non-finite values spelled out."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return f"{value:.5g}" if isinstance(value, float) else str(value)


def cell(value: Any) -> str:
    """A config or summary value as table text: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def finite(value: Any) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value))


def has_nonfinite(stats: KeyStats | None) -> bool:
    return bool(stats and (stats.nonfinite or not finite(stats.last)))


templates.env.filters.update(when=when, iso=iso, number=number, duration=duration, cell=cell)
templates.env.tests.update(finite=finite)
templates.env.globals.update(has_nonfinite=has_nonfinite)
