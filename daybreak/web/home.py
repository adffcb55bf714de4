"""The home page: what is training now, what ended since the last Daily Log, open action
items, GPU use, the latest Daily Log and the projects. The live parts are a fragment the
page swaps in every few seconds; the GPU chart reads ``/api/home/gpu``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from daybreak import dailylog
from daybreak.display import format_duration
from daybreak.notes import service as notes
from daybreak.store.engine import get_database
from daybreak.store.jsontext import to_jsonable
from daybreak.tracking import overview, service
from daybreak.web.deps import settings as _settings
from daybreak.web.deps import store as _store

api = APIRouter(prefix="/api", tags=["home"])
pages = APIRouter(include_in_schema=False)
NO_LOG_WINDOW = 24 * 3600.0  # before the first Daily Log, "since" means the last day
MAX_ACTIONS = 8
LOG_FIELDS = ("id", "headline", "window_start", "window_end", "built_at")


def live(request: Request) -> dict[str, Any]:
    """The parts of the home page that change while runs train."""
    settings = _settings(request)
    _store(request).check_stale()  # a run whose process died shows as crashed, not running
    db = get_database(settings.db_url)
    now = time.time()
    log = dailylog.latest(settings)
    since = log["window_end"] if log else now - NO_LOG_WINDOW
    actions = notes.list_action_items(db)
    return {
        "now": now,
        "log": {k: log[k] for k in LOG_FIELDS} if log else None,
        "training": overview.training_now(db, now),
        "ended": overview.ended_since(db, since),
        "actions": actions[-MAX_ACTIONS:][::-1],
        "open_actions": len(actions),
        "gpus": overview.gpus_now(db),
    }


@api.get("/home")
def home_json(request: Request) -> dict[str, Any]:
    """What the home page shows, as JSON (the kiosk and scripts read it too)."""
    return to_jsonable(live(request))


@api.get("/home/gpu")
def gpu_json(
    request: Request,
    hours: float = Query(6.0, gt=0, le=168, description="how far back to look"),
    buckets: int = Query(72, ge=2, le=1000, description="time slots to average into"),
) -> dict[str, Any]:
    """GPU utilisation over the last ``hours`` from the runs' ``sys/gpuN/util_percent``."""
    settings = _settings(request)
    now = time.time()
    db = get_database(settings.db_url)
    found = overview.gpu_history(db, settings.runs_dir, now - hours * 3600, now, buckets)
    return to_jsonable(found)


@pages.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    from daybreak.web.pages import _render

    projects = service.list_projects(get_database(_settings(request).db_url))
    return _render(
        request,
        "index.html",
        title="Home",
        projects=projects,
        seconds=format_duration,
        **live(request),
    )


@pages.get("/home/live", response_class=HTMLResponse)
def live_fragment(request: Request) -> Response:
    from daybreak.web.pages import _render

    return _render(request, "_home_live.html", seconds=format_duration, **live(request))
