"""The kiosk's page and the JSON each of its screens reads when it is shown: progress over
the months, what is training now, the latest Daily Log's highlights, the leaderboards."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from daybreak.dailylog.highlights import highlights
from daybreak.registry import standings
from daybreak.store.jsontext import to_jsonable
from daybreak.tracking.live_curves import training_curves
from daybreak.web.deps import settings as _settings
from daybreak.web.deps import store as _store
from daybreak.web.kiosk.demo import OPTIONS

SCREENS = ("progress", "training", "dailylog", "leaderboard", "demo")
DEFAULT_INTERVAL_S = 20.0
INTERVAL_RANGE_S = (0.2, 3600.0)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/kiosk", tags=["kiosk"])


def interval_of(given: str | None) -> float:
    """Seconds per screen from ``?interval=``; 0 keeps one screen; nonsense gets the default."""
    try:
        seconds = float(given) if given is not None else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S
    if not math.isfinite(seconds):
        return DEFAULT_INTERVAL_S
    if seconds <= 0:
        return 0.0
    low, high = INTERVAL_RANGE_S
    return min(high, max(low, seconds))


def screens_of(given: str | None) -> list[str]:
    """The screens of ``?screens=a,b`` in that order (unknown names left out), else all."""
    chosen = [s.strip() for s in (given or "").split(",") if s.strip() in SCREENS]
    return list(dict.fromkeys(chosen)) or list(SCREENS)


@pages.get("/kiosk", response_class=HTMLResponse)
def kiosk(
    request: Request,
    interval: str | None = None,
    screens: str | None = None,
    screen: str | None = None,
) -> Response:
    """Full screen, no page chrome: ``?interval=SECONDS`` per screen (0: stay),
    ``?screens=progress,demo`` which and in what order, ``?screen=demo`` where to start."""
    from daybreak.web.pages import _render

    shown = screens_of(screens)
    config = {
        "interval": interval_of(interval),
        "screens": shown,
        "start": shown.index(screen) if screen in shown else 0,
        "max_upload_bytes": OPTIONS.max_body_bytes,
    }
    return _render(request, "kiosk.html", title="Kiosk", config=config, screens=shown)


@api.get("/progress")
async def progress_json(request: Request) -> list[dict[str, Any]]:
    """Per category, each model's best figure so far at each registered version."""
    return await run_in_threadpool(standings.progress, _settings(request))


@api.get("/training")
async def training_json(request: Request) -> dict[str, Any]:
    """The running runs with their loss curves, downsampled on the server."""
    store = _store(request)
    await run_in_threadpool(store.check_stale)
    found = await run_in_threadpool(training_curves, store)
    return dict(to_jsonable(found))


@api.get("/dailylog")
async def dailylog_json(request: Request) -> dict[str, Any]:
    """The latest Daily Log's highlights (``{"log": null}`` before the first)."""
    return {"log": await run_in_threadpool(highlights, _settings(request))}


@api.get("/leaderboard")
async def leaderboard_json(request: Request) -> list[dict[str, Any]]:
    """Per category, its models ranked by their best version, with their aliases."""
    return await run_in_threadpool(standings.leaderboard, _settings(request))
