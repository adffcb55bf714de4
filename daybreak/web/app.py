"""The FastAPI application: REST API, ingestion from remote SDKs, and the web pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from daybreak import __version__
from daybreak.config import Settings, get_settings
from daybreak.errors import DaybreakError, NotFoundError
from daybreak.tracking.readers import LocalBackend

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
    _install_auth(app, settings)
    from daybreak.web import api, dailylog, ingest, models

    app.include_router(api.router)
    app.include_router(dailylog.api)
    app.include_router(models.api)
    app.include_router(ingest.router)
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
    async def _daybreak_error(_: Request, exc: DaybreakError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
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


COOKIE = "daybreak_token"
OPEN_PATHS = ("/api/health", "/login", "/static/")
LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Daybreak: sign in</title>
<link rel="stylesheet" href="/static/daybreak.css"></head><body><main class="login">
<h1>Daybreak</h1><p>This server needs its API token (DAYBREAK_TOKEN).</p>{error}
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<input type="password" name="token" placeholder="token" autofocus required>
<button type="submit">Sign in</button></form></main></body></html>"""


def _install_auth(app: FastAPI, settings: Settings) -> None:
    """With a token set, the API wants ``Authorization: Bearer TOKEN`` and the pages a cookie
    set by signing in at /login with the same token."""
    if not settings.token:
        return
    import hmac
    import html
    import urllib.parse

    from fastapi.responses import HTMLResponse, RedirectResponse

    token = settings.token

    def allowed(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(header, f"Bearer {token}") or hmac.compare_digest(cookie, token)

    def login_page(next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
        shown = f'<p class="error">{html.escape(error)}</p>' if error else ""
        page = LOGIN_PAGE.format(error=shown, next=html.escape(next_path, quote=True))
        return HTMLResponse(page, status)

    @app.get("/login", include_in_schema=False)
    def _login_form(next: str = "/") -> HTMLResponse:
        return login_page(next)

    @app.post("/login", include_in_schema=False)
    async def _login(request: Request) -> Any:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        given = form.get("token", [""])[0]
        next_path = form.get("next", ["/"])[0]
        if not next_path.startswith("/") or next_path.startswith("//"):
            next_path = "/"
        if not hmac.compare_digest(given, token):
            return login_page(next_path, "wrong token", 401)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return response

    @app.middleware("http")
    async def _check_token(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if path.startswith(OPEN_PATHS) or allowed(request):
            return await call_next(request)
        if path.startswith("/api/") or path in ("/openapi.json", "/docs"):
            body = {
                "error": {
                    "type": "AuthError",
                    "message": "missing or wrong API token",
                    "hint": "send Authorization: Bearer $DAYBREAK_TOKEN",
                }
            }
            return JSONResponse(body, status_code=401)
        query = urllib.parse.urlencode({"next": path})
        return RedirectResponse(f"/login?{query}", status_code=303)
