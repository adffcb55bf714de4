"""One POST to a webhook on the standard library, and what its answer means for a retry."""

from __future__ import annotations

import dataclasses
import email.utils
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from typing import IO

from daybreak import __version__

BODY_SHOWN = 500


@dataclasses.dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str = ""
    permanent: bool = False  # retrying cannot help (a 4xx other than 429)
    retry_after: float | None = None  # seconds the server asked us to wait


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be resent as a GET without its body: report it instead."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, timeout: float) -> Outcome:
    """POST ``body`` as JSON to ``url``; never raises for network or HTTP trouble."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"daybreak/{__version__}",
        },
    )
    host = urllib.parse.urlsplit(url).netloc
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(4096)
        return Outcome(True)
    except urllib.error.HTTPError as exc:
        return _http_error(exc)
    except TimeoutError:
        return Outcome(False, f"{host} did not answer within {timeout:g} s")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return Outcome(False, f"{host} did not answer within {timeout:g} s")
        reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
        return Outcome(False, f"cannot connect to {host}: {reason}")
    except (http.client.HTTPException, OSError) as exc:
        return Outcome(False, f"the connection to {host} failed: {exc or type(exc).__name__}")


def _http_error(exc: urllib.error.HTTPError) -> Outcome:
    try:
        text = exc.read(BODY_SHOWN * 2).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    shown = f"HTTP {exc.code}: {text[:BODY_SHOWN] or exc.reason}"
    if exc.code == 429:
        return Outcome(False, f"{shown} (rate limited)", retry_after=retry_after(exc.headers))
    if 300 <= exc.code < 400:
        where = exc.headers.get("Location", "elsewhere")
        return Outcome(False, f"{shown}; redirected to {where}: use that URL", permanent=True)
    if 400 <= exc.code < 500:
        return Outcome(False, shown, permanent=True)
    return Outcome(False, shown)


def retry_after(headers: Message) -> float | None:
    """The ``Retry-After`` header in seconds (it may be a number or an HTTP date)."""
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
