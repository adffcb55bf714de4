"""What one client may cost the server: body size, how slowly it may send, how long it may take
to send its request head. Oversized bodies are refused with 413 before they are read (by their
Content-Length) or as soon as they pass the limit; a body that stalls gets 408; a connection
that has not finished its request head in time is closed."""

from __future__ import annotations

import asyncio
import fnmatch
import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daybreak.config import Settings
from daybreak.errors import DaybreakError, PayloadTooLargeError
from daybreak.mlflow_api.errors import error_response as mlflow_error
from daybreak.mlflow_api.errors import is_mlflow_path

HEAD_TIMEOUT_S = 15.0  # to send the request line and headers
BODY_IDLE_TIMEOUT_S = 30.0  # between two chunks of a body
JSON_LIMIT_MB = 32  # every body that is not an upload
UPLOADS = (  # bodies that may be as large as DAYBREAK_MAX_UPLOAD_MB
    ("PUT", "/api/runs/*/artifacts/*"),
    ("POST", "/api/runs/*/points"),
    ("POST", "/api/runs/*/output"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/*"),
    ("POST", "/api/kiosk/predict/*"),
    ("POST", "/v1/*"),
)


class RequestTimeoutError(DaybreakError):
    http_status = 408


class BodyRefused(HTTPException):
    """Raised from ``receive``: an HTTPException so that FastAPI's body parsing lets it through
    (it turns other exceptions into 400); ``error`` is what the client is told."""

    def __init__(self, error: DaybreakError) -> None:
        super().__init__(status_code=error.http_status, detail=error.message)
        self.error = error


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.upload_limit = settings.max_upload_mb * 2**20
        self.json_limit = min(JSON_LIMIT_MB * 2**20, self.upload_limit)

    def limit_for(self, method: str, path: str) -> int:
        upload = any(method == m and fnmatch.fnmatchcase(path, p) for m, p in UPLOADS)
        return self.upload_limit if upload else self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, limit = scope["path"], self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, path, _too_large(limit))
            return
        await self.app(scope, _limited(receive, limit), send)


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def receive_within_limits() -> Message:
        nonlocal seen
        try:
            async with asyncio.timeout(BODY_IDLE_TIMEOUT_S):  # no task per chunk, unlike wait_for
                message = await receive()
        except TimeoutError:
            stalled = RequestTimeoutError(
                f"the request body stalled for {BODY_IDLE_TIMEOUT_S:.0f} s",
                "send the body without pauses",
            )
            raise BodyRefused(stalled) from None
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyRefused(_too_large(limit))
        return message

    return receive_within_limits


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is over {limit / 2**20:.0f} MiB",
        "send less at once (uploads: raise DAYBREAK_MAX_UPLOAD_MB on the server)",
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, path: str, exc: DaybreakError) -> None:
    """Answer without reading the body, and close: the rest of it is never read."""
    if is_mlflow_path(path):
        body, status = mlflow_error(exc)
    else:
        body, status = {"error": exc.to_dict()}, exc.http_status
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def guarded_protocol(base: Any) -> Any:
    """``base`` (uvicorn's HTTP protocol class) closing connections that take longer than
    HEAD_TIMEOUT_S to send a request head: slowloris clients cannot pile up."""

    class Guarded(base):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            timer = getattr(self, "_head_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            timer = getattr(self, "_head_timer", None)
            if timer is not None:
                timer.cancel()
            self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_late, self.cycle)

        def _head_late(self, cycle_then: Any) -> None:
            # no request began since the timer was armed (the cycle is made once the head is in)
            if self.cycle is cycle_then and not self.transport.is_closing():
                self.transport.close()

    Guarded.__name__ = f"Guarded{base.__name__}"
    return Guarded


def http_protocol() -> Any:
    """The protocol class to give uvicorn (``http=``): its default, guarded."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    return guarded_protocol(AutoHTTPProtocol)
