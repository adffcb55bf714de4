"""A small HTTP client for the Daybreak API on the standard library (no import cost, keep-alive)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import IO, Any

from daybreak.errors import AuthError, DaybreakError, NotFoundError, RemoteError


class HttpClient:
    def __init__(
        self, url: str, token: str = "", timeout: float = 10.0, authorization: str = ""
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise RemoteError(
                f"DAYBREAK_URL {url!r} is not an http(s) URL", "set it like http://HOST:8765"
            )
        self.url = url.rstrip("/")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._base = parsed.path.rstrip("/")
        self.authorization = authorization or (f"Bearer {token}" if token else "")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = kind(self._host, self._port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | IO[bytes] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        """Send one request; raises RemoteError when the server cannot be reached."""
        target = self._base + path
        if params:
            target += "?" + urllib.parse.urlencode(
                {k: v for k, v in params.items() if v is not None}
            )
        sent = dict(headers or {})
        if self.authorization:
            sent["Authorization"] = self.authorization
        for attempt in range(2):
            try:
                conn = self._connection()
                conn.request(method, target, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
                return response.status, data, {k.lower(): v for k, v in response.getheaders()}
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                self.close()
                retry_safe = attempt == 0 and isinstance(
                    exc, http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError
                )
                if retry_safe and not hasattr(body, "read"):
                    continue  # a kept-alive connection the server had closed
                raise RemoteError(
                    f"cannot reach the Daybreak server at {self.url}: {exc}",
                    "start it with `daybreak up` / `daybreak server`, or check DAYBREAK_URL",
                ) from exc
        raise AssertionError("unreachable")

    def json(
        self, method: str, path: str, payload: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, data, _ = self.request(
            method, path, body, {"Content-Type": "application/json"} if body else None, params
        )
        check(status, data)
        return json.loads(data) if data else None


def check(status: int, data: bytes) -> None:
    """Turn an error response into the matching Daybreak error."""
    if status < 400:
        return
    try:
        error = json.loads(data)["error"]
        message, hint = error.get("message") or f"HTTP {status}", error.get("hint")
    except (ValueError, KeyError, TypeError):
        message, hint = f"HTTP {status}: {data[:200]!r}", None
    kinds: dict[int, type[DaybreakError]] = {401: AuthError, 404: NotFoundError}
    error_type = kinds.get(status, RemoteError if status >= 500 else DaybreakError)
    exc = error_type(message, hint)
    exc.http_status = status
    raise exc
