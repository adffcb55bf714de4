"""Who may do what, enforced in one middleware so that no route can forget.

Open mode (no users, no DAYBREAK_TOKEN): everyone is an admin and nothing asks to sign in.
Otherwise every page needs a signed-in session (a cookie) and every API call a Bearer token or
a session; the :mod:`daybreak.access.policy` refuses viewers and kiosks anything that changes
state, and cookie sessions must send their CSRF token with every unsafe request.

An endpoint that changes state needs no extra code: the middleware refuses viewers. Use
``Depends(require_role("admin"))`` from :mod:`daybreak.web.deps` for admin-only endpoints.
"""

from __future__ import annotations

import base64
import hmac
import math
import urllib.parse

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daybreak.access import sessions, tokens, users
from daybreak.access.errors import ForbiddenError
from daybreak.access.policy import SAFE_METHODS, refusal
from daybreak.access.principal import LEGACY_NAME, OPEN, Principal
from daybreak.access.throttle import LoginThrottle
from daybreak.config import Settings
from daybreak.errors import AuthError, DaybreakError
from daybreak.mlflow_api.errors import error_response as mlflow_error
from daybreak.mlflow_api.errors import is_mlflow_path
from daybreak.store.engine import Database, get_database

PUBLIC_PATHS = ("/api/health", "/login", "/static/")
API_PATHS = ("/api/", "/openapi.json", "/docs", "/redoc", "/v1/")
KIOSK_PATH = "/kiosk"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SIGN_IN_REASONS = {  # what the login page says, by the code in its ?reason=
    "expired": "Your session has expired. Please sign in again.",
    "ended": "Your session has ended. Please sign in again.",
    "signed-out": "You are signed out.",
}
API_SIGN_IN_HINT = "send Authorization: Bearer TOKEN (create one with `daybreak token create`)"

router = APIRouter(include_in_schema=False)


class Gate:
    """The app's view of access: whether it is open, and who a request's credentials are."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._closed = bool(settings.token)
        self.throttle = LoginThrottle()

    @property
    def db(self) -> Database:
        return get_database(self.settings.db_url)

    def known_closed(self) -> bool:
        """Closed for good (a user exists, or DAYBREAK_TOKEN is set): no query needed."""
        return self._closed

    def is_open(self) -> bool:
        """Open until the first user exists (checked each time until then, never again)."""
        if not self._closed and users.has_users(self.db):
            self._closed = True
        return not self._closed

    def from_bearer(self, secret: str) -> Principal:
        legacy = self.settings.token
        if legacy and hmac.compare_digest(secret.encode(), legacy.encode()):
            return Principal(LEGACY_NAME, "admin", "legacy")
        return tokens.authenticate_token(self.db, secret)

    def who(self, bearer: str, session_id: str) -> Principal | None:
        """:meth:`identify`, except that in open mode anyone is OPEN (one thread hop)."""
        try:
            principal = self.identify(bearer, session_id) if bearer or session_id else None
        except AuthError:
            if self.is_open():
                return OPEN
            raise
        if principal is None and self.is_open():
            return OPEN
        return principal

    def identify(self, bearer: str, session_id: str) -> Principal | None:
        """The credentials' principal, None without any, AuthError when they are no good."""
        if bearer:
            return self.from_bearer(bearer)
        if session_id:
            return sessions.authenticate_session(self.db, session_id, self.settings.token)
        return None


def gate(request: Request) -> Gate:
    return request.app.state.gate


def install(app: FastAPI, settings: Settings) -> None:
    """Add the access middleware and the sign-in routes to ``app``."""
    app.state.gate = Gate(settings)
    app.include_router(router)

    app.add_middleware(AccessMiddleware)


class AccessMiddleware:
    """Plain ASGI (no per-request task and queue as with ``@app.middleware``): a request is
    either answered here (refused, or a kiosk signing in) or passed on as it came, its body
    replayed when the CSRF check had to read a form."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            refused = await _admit(request)
        except DaybreakError as exc:  # a database that is away, a credential that is no good
            refused = _error(request, exc)
        except HTTPException as exc:  # a form body over its limit, or stalled
            error = getattr(exc, "error", None) or DaybreakError(str(exc.detail))
            refused = _error(request, error)
        if refused is not None:
            await refused(scope, receive, send)
            return
        body = getattr(request, "_body", None)
        if body is not None:
            receive = _replay(body)
        await self.app(scope, receive, send)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _admit(request: Request) -> Response | None:
    """None to let the request through, else the response that refuses or redirects it."""
    path = request.url.path
    if path.startswith(PUBLIC_PATHS):
        return None
    if _is_kiosk(path) and request.query_params.get("token"):
        return await _kiosk_sign_in(request)
    principal = await _principal(request)
    if principal is None:
        return _error(request, AuthError("you are not signed in", API_SIGN_IN_HINT))
    request.state.principal = principal
    refused = refusal(principal, request.method, path)
    if refused is None and not await _csrf_ok(request, principal):
        refused = ForbiddenError(
            "this request is missing its CSRF token",
            f"reload the page; scripts send the {CSRF_HEADER} header from "
            '<meta name="csrf-token">, forms a csrf_token field',
        )
    if refused is not None:
        return _error(request, refused)
    return None


async def _principal(request: Request) -> Principal | None:
    """Who is asking; OPEN in open mode when the credentials are missing or no good."""
    bearer, session_id = _bearer(request), request.cookies.get(sessions.COOKIE, "")
    the_gate = gate(request)
    if not bearer and not session_id and the_gate.known_closed():
        return None  # no credentials on a closed server: nothing to look up
    return await run_in_threadpool(the_gate.who, bearer, session_id)


def _bearer(request: Request) -> str:
    """The token of ``Authorization: Bearer TOKEN``, or of Basic auth whose password is a
    token (what the MLflow client sends with MLFLOW_TRACKING_USERNAME/PASSWORD)."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return secret.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(secret.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2].strip()
    return ""


async def _csrf_ok(request: Request, principal: Principal) -> bool:
    """Requests on a cookie session that change something must carry the session's token."""
    if principal.csrf_token is None or request.method in SAFE_METHODS:
        return True
    given = request.headers.get(CSRF_HEADER) or await _form_csrf(request)
    return hmac.compare_digest(given.encode(), principal.csrf_token.encode())


async def _form_csrf(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(FORM_TYPES):
        return ""
    body = await request.body()  # cached: the endpoint still reads it
    if content_type.startswith(FORM_TYPES[0]):
        return _form_field(body, CSRF_FIELD)
    try:
        value = (await request.form()).get(CSRF_FIELD)
    except (AssertionError, ValueError):  # python-multipart missing, or a broken form
        return ""
    return value if isinstance(value, str) else ""


def _form_field(body: bytes, name: str) -> str:
    values = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get(name, [""])
    return values[0]


def _is_api(path: str) -> bool:
    return path.startswith(API_PATHS) or path == "/api"


def _is_kiosk(path: str) -> bool:
    return path == KIOSK_PATH or path.startswith(KIOSK_PATH + "/")


def _error(request: Request, exc: DaybreakError) -> Response:
    """The error as JSON for the API and scripts, as a page for a browser."""
    if is_mlflow_path(request.url.path):
        return JSONResponse(*mlflow_error(exc))
    if exc.http_status == 401:
        return _sign_in_needed(request, exc)
    accept = request.headers.get("accept", "")
    if _is_api(request.url.path) or "text/html" not in accept:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)
    from daybreak.web.pages import _render

    title = "Not allowed" if exc.http_status == 403 else "Something went wrong"
    return _render(
        request, "error.html", exc.http_status, title=title, message=exc.message, hint=exc.hint
    )


def _sign_in_needed(request: Request, exc: DaybreakError) -> Response:
    """401: JSON for the API, a kiosk error page for the kiosk, the login page for the rest."""
    path = request.url.path
    response: Response
    if _is_api(path):
        body = {"error": exc.to_dict()}
        response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    elif _is_kiosk(path):
        response = _kiosk_refused(request, exc)
    else:
        reason = "expired" if "expired" in exc.message else "ended"
        had_session = sessions.COOKIE in request.cookies
        query = {"next": _next_of(request), **({"reason": reason} if had_session else {})}
        response = RedirectResponse(f"/login?{urllib.parse.urlencode(query)}", status_code=303)
    if sessions.COOKIE in request.cookies:  # it is no good: let the browser forget it
        response.delete_cookie(sessions.COOKIE, path="/")
    return response


def _next_of(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query and request.method == "GET" else "")


def _kiosk_refused(request: Request, exc: DaybreakError) -> Response:
    from daybreak.web.pages import _render

    hint = exc.hint or "open the kiosk with its link: /kiosk?token=…"
    return _render(request, "error.html", 401, title="Kiosk", message=exc.message, hint=hint)


async def _kiosk_sign_in(request: Request) -> Response:
    """``/kiosk?token=…``: a kiosk token becomes a long kiosk session, never a login prompt."""
    the_gate = gate(request)
    secret = request.query_params["token"]
    try:
        principal = await run_in_threadpool(tokens.authenticate_token, the_gate.db, secret)
        if principal.role != "kiosk" or principal.token_id is None:
            raise AuthError(
                "that is not a kiosk token", "create one: daybreak token create --kiosk"
            )
    except AuthError as exc:
        return _kiosk_refused(request, exc)
    session_id = await run_in_threadpool(
        sessions.start_session,
        the_gate.db,
        None,
        principal.token_id,
        sessions.KIOSK_LIFETIME,
    )
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    target = request.url.path + (f"?{urllib.parse.urlencode(rest)}" if rest else "")
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, session_id, sessions.KIOSK_LIFETIME)
    return response


def set_session_cookie(
    request: Request, response: Response, session_id: str, lifetime: float
) -> None:
    response.set_cookie(
        sessions.COOKIE,
        session_id,
        max_age=int(lifetime),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def safe_next(target: str) -> str:
    """Only paths on this server: never an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# -- signing in and out --------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/", reason: str = "") -> Response:
    if gate(request).is_open():
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next), notice=SIGN_IN_REASONS.get(reason, ""))


def _login_page(
    request: Request, next_path: str, error: str = "", notice: str = "", status: int = 200
) -> Response:
    from daybreak.web.pages import _render

    return _render(
        request,
        "login.html",
        status,
        title="Sign in",
        next=next_path,
        error=error,
        notice=notice,
        legacy_token=bool(gate(request).settings.token),
    )


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign in with a name and password, or with a token (the legacy DAYBREAK_TOKEN too)."""
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    field = lambda name: form.get(name, [""])[0]  # noqa: E731
    next_path = safe_next(field("next") or "/")
    who = field("name").strip() if not field("token") else "(token)"
    address = request.client.host if request.client else "unknown"
    throttle = gate(request).throttle
    wait = throttle.wait_s(who, address)
    if wait > 0:
        seconds = math.ceil(wait)
        page = _login_page(
            request,
            next_path,
            error=f"too many failed sign-ins for {who!r} from {address}: try again in {seconds} s"
            " (an admin can reset a password: daybreak user passwd NAME)",
            status=429,
        )
        page.headers["Retry-After"] = str(seconds)
        return page
    try:
        session_id = await run_in_threadpool(
            _start_session, gate(request), field("name"), field("password"), field("token")
        )
    except AuthError as exc:
        throttle.failed(who, address)
        return _login_page(request, next_path, error=exc.message, status=401)
    except DaybreakError as exc:
        return _login_page(request, next_path, error=str(exc), status=exc.http_status)
    throttle.succeeded(who, address)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, session_id, sessions.USER_LIFETIME)
    return response


def _start_session(the_gate: Gate, name: str, password: str, token: str) -> str:
    db = the_gate.db
    if token:
        try:
            principal = the_gate.from_bearer(token.strip())
        except AuthError as exc:
            unknown = exc.message == tokens.INVALID
            raise AuthError("wrong token" if unknown else exc.message, exc.hint) from exc
        return sessions.start_session(db, principal.user_id, principal.token_id)
    if not name or not password:
        raise AuthError("enter your name and password", None)
    user = users.authenticate(db, name.strip(), password)
    return sessions.start_session(db, user.id)


@router.post("/logout")
async def logout(request: Request) -> Response:
    session_id = request.cookies.get(sessions.COOKIE, "")
    if session_id:
        await run_in_threadpool(sessions.end_session, gate(request).db, session_id)
    response = RedirectResponse("/login?reason=signed-out", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response
