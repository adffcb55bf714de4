"""The Daily Log on the web: the archive and one log as a page (its charts inline), and the
same through the API in every format; the watchdog's findings and actions of a run."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from daybreak import dailylog
from daybreak.errors import NotFoundError
from daybreak.store.engine import get_database
from daybreak.web.deps import settings as _settings
from daybreak.web.deps import store as _store

api = APIRouter(prefix="/api", tags=["daily log"])
pages = APIRouter(include_in_schema=False)
Format = Literal["json", "markdown", "html", "slack", "teams", "text"]
MEDIA = {"markdown": "text/markdown", "html": "text/html", "text": "text/plain"}


def _log(request: Request, log_id: str) -> dict[str, Any]:
    from daybreak.dailylog.service import find

    return find(_settings(request), log_id)


@api.get("/dailylogs")
def list_logs(request: Request, limit: int = 100) -> list[dict[str, Any]]:
    """Stored Daily Logs, newest first (without their content)."""
    logs = dailylog.list_logs(_settings(request), max(1, min(limit, 1000)))
    return [{k: v for k, v in log.items() if k != "content"} for log in logs]


@api.get("/dailylogs/{log_id}")
def get_log(request: Request, log_id: str, format: Format = "json") -> Response:
    """One Daily Log (an id or ``latest``) in ``format``."""
    log = _log(request, log_id)
    if format == "json":
        return Response(dailylog.render(log, "json"), media_type="application/json")
    if format in ("slack", "teams"):
        return Response(dailylog.render(log, format), media_type="application/json")
    return PlainTextResponse(dailylog.render(log, format), media_type=MEDIA[format])


@api.get("/runs/{run_id}/findings")
def run_findings(request: Request, run_id: str) -> dict[str, Any]:
    """What the watchdog found in a run and what it did about it."""
    from daybreak.watchdog import store as watch_store

    full = _store(request).resolve(run_id)
    db = get_database(_settings(request).db_url)
    return {
        "findings": watch_store.list_findings(db, run_ids=[full]),
        "actions": watch_store.list_actions(db, run_ids=[full]),
    }


@pages.get("/dailylog", response_class=HTMLResponse)
def archive(request: Request) -> Response:
    from daybreak.web.pages import _render

    logs = dailylog.list_logs(_settings(request), 200)
    return _render(request, "dailylog_archive.html", title="Daily Log", logs=logs)


@pages.get("/dailylog/{log_id}", response_class=HTMLResponse)
def page(request: Request, log_id: str) -> Response:
    from daybreak.web.pages import _render, not_found

    try:
        log = _log(request, log_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    body = dailylog.render_html(log, standalone=False)
    return _render(request, "dailylog.html", title=f"Daily Log {log['id']}", log=log, body=body)


@pages.get("/dailylog/{log_id}/meeting", response_class=HTMLResponse)
def meeting(request: Request, log_id: str) -> Response:
    """The 10am meeting: the log's agenda one section at a time in large type, then the open
    action items, assigned and resolved from the page."""
    from daybreak.web.pages import _render, not_found

    try:
        log = _log(request, log_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    body = dailylog.render_html(log, standalone=False)
    return _render(
        request,
        "dailylog_meeting.html",
        title=f"Meeting · Daily Log {log['id']}",
        log=log,
        body=body,
    )
