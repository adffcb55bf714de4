"""The job queue on the web: the page (queued, running with live progress, recently ended) and
the JSON it polls, with cancel and retry. Viewers and kiosks are refused the POSTs by the
access middleware; the page shows them no buttons."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from daybreak.errors import DaybreakError, NotFoundError
from daybreak.jobs import board, service
from daybreak.web.deps import principal
from daybreak.web.deps import settings as _settings

api = APIRouter(prefix="/api", tags=["jobs"])
pages = APIRouter(include_in_schema=False)


@api.get("/jobs")
def list_jobs(request: Request, recent: int = board.RECENT, project: str | None = None) -> Any:
    """Queued jobs in the order agents take them, running jobs with their run's progress, the
    ``recent`` latest ended jobs and the live agents."""
    return board.board(_settings(request), recent, project)


@api.get("/jobs/{job_id}")
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    """One job (an id or a unique prefix), its progress when running, and its events."""
    settings = _settings(request)
    job = service.get(settings, job_id)
    running = job.status == service.RUNNING
    return {
        **board.view(job, board.progress(settings, job) if running else None),
        "events": service.events(settings, job.id),
    }


@api.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str) -> dict[str, Any]:
    """Cancel a queued job at once, or ask a running one's agent to stop it (409 when the job
    has already ended)."""
    return board.view(service.cancel(_settings(request), job_id))


@api.post("/jobs/{job_id}/retry")
def retry(request: Request, job_id: str) -> dict[str, Any]:
    """Queue a failed or cancelled job again, into the same run (409 in any other state)."""
    return board.view(service.retry(_settings(request), job_id))


@pages.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request) -> Response:
    from daybreak.web.pages import _render

    try:
        found = board.board(_settings(request))
    except DaybreakError as exc:
        return _render(request, "error.html", exc.http_status, title="Jobs", message=exc.message)
    who = principal(request)
    return _render(request, "jobs.html", title="Jobs", board=found, can_act=who.can_change_things)


@pages.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str) -> Response:
    from daybreak.web.pages import _render, not_found

    settings = _settings(request)
    try:
        job = service.get(settings, job_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    except DaybreakError as exc:
        return _render(request, "error.html", exc.http_status, title="Job", message=exc.message)
    running = job.status == service.RUNNING
    return _render(
        request,
        "job.html",
        title=f"{job.name} · job",
        job=board.view(job, board.progress(settings, job) if running else None),
        events=service.events(settings, job.id),
    )
