"""The FastAPI application: REST API, ingestion from remote SDKs, and the web pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from daybreak import __version__
from daybreak.config import Settings, get_settings
from daybreak.errors import DaybreakError, NotFoundError
from daybreak.mlflow_api.errors import error_response as mlflow_error
from daybreak.mlflow_api.errors import is_mlflow_path
from daybreak.tracking.readers import LocalBackend
from daybreak.web import auth

STATIC = Path(__file__).with_name("static")
TEMPLATES = Path(__file__).with_name("templates")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app over the local store named by ``settings`` (the server is always local)."""
    settings = settings or get_settings()
    if settings.remote:
        settings = Settings(**{**settings.__dict__, "url": ""})
    app = FastAPI(
        title="Daybreak",
        version=__version__,
        description="Runs, metrics, logs and artifacts of a deep-learning team.",
    )
    app.state.settings = settings
    app.state.store = LocalBackend(settings)
    _install_errors(app)
    auth.install(app, settings)
    from daybreak.web.limits import BodyLimitMiddleware

    app.add_middleware(BodyLimitMiddleware, settings=settings)  # outermost: before access
    from daybreak.web import accounts, actions, api, dailylog, ingest, kiosk, models

    app.include_router(api.router)
    app.include_router(dailylog.api)
    app.include_router(actions.api)
    app.include_router(models.api)
    app.include_router(ingest.router)
    app.include_router(accounts.api)
    app.include_router(kiosk.router)
    from daybreak.web import mlflow

    mlflow.install(app)
    _include_pages(app)
    return app


def _include_pages(app: FastAPI) -> None:
    try:
        from daybreak.web import pages
    except ImportError:  # pages land separately; the API works without them
        return
    pages.install(app)


def error_body(exc: DaybreakError) -> dict[str, Any]:
    return {"error": exc.to_dict()}


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(DaybreakError)
    async def _daybreak_error(request: Request, exc: DaybreakError) -> JSONResponse:
        if is_mlflow_path(request.url.path):
            return JSONResponse(*mlflow_error(exc))
        return JSONResponse(error_body(exc), status_code=exc.http_status)

    async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
        """A value that passed validation but that the store cannot hold (a lone surrogate,
        a NUL in PostgreSQL text, an integer past 64 bits): the request's fault, not a 500."""
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
        refused = DaybreakError(
            f"the request has a value that cannot be stored: {detail}",
            "send valid UTF-8 text without NUL characters and numbers in range",
        )
        refused.http_status = 422
        return await _daybreak_error(request, refused)

    for kind in (UnicodeEncodeError, OverflowError, sqlalchemy.exc.DataError):
        app.add_exception_handler(kind, _unstorable)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        if is_mlflow_path(request.url.path):
            return JSONResponse(*mlflow_error(DaybreakError(problems, "see /docs for the schema")))
        body = {
            "error": {
                "type": "ValidationError",
                "message": problems,
                "hint": "see /docs for the request schema",
            }
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        carried = getattr(exc, "error", None)  # daybreak.web.limits.BodyRefused
        if isinstance(carried, DaybreakError):
            return await _daybreak_error(request, carried)
        if is_mlflow_path(request.url.path) and exc.status_code in (404, 405):
            from daybreak.web.mlflow import not_found as mlflow_not_found

            return mlflow_not_found(request.url.path)
        accept = request.headers.get("accept", "")
        wants_page = not request.url.path.startswith("/api/") and "text/html" in accept
        if exc.status_code == 404 and wants_page:
            from daybreak.web import pages

            missing = NotFoundError(
                f"there is no page at {request.url.path}", "start from the projects list"
            )
            return pages.not_found(request, missing)
        body = {"error": {"type": "HTTPError", "message": str(exc.detail), "hint": None}}
        return JSONResponse(
            body, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )
