"""Server-rendered web pages: projects, the runs of a project, one run. Thin: read the store,
render a template; the charts and the live parts fetch the JSON API from the browser."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from daybreak import __version__
from daybreak.display import format_duration
from daybreak.errors import NotFoundError
from daybreak.tracking.readers import SYSTEM_PREFIX
from daybreak.tracking.records import KeyStats, RunRecord
from daybreak.web.app import STATIC, TEMPLATES

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES)
KEY_METRICS = 4


def install(app: FastAPI) -> None:
    """Add the pages and the static files (``/static``) to ``app``."""
    from daybreak.web import compare, dailylog, datasets, home, jobs, models, run_page, runs

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    for part in (home, runs):
        app.include_router(part.api)
        app.include_router(part.pages)
    app.include_router(dailylog.pages)
    app.include_router(models.pages)
    app.include_router(run_page.pages)
    app.include_router(compare.pages)
    app.include_router(compare.api)
    for module in (datasets, jobs):
        app.include_router(module.api)
        app.include_router(module.pages)


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("version", __version__)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def not_found(request: Request, exc: NotFoundError) -> Response:
    return _render(request, "404.html", 404, title="Not found", message=exc.message, hint=exc.hint)


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
