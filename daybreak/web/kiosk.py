"""The kiosk: a placeholder page until the real rotating kiosk lands here. Opened with
``/kiosk?token=KIOSK_TOKEN`` (see ``daybreak.web.auth``), it never asks anyone to sign in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)


@router.get("/kiosk", response_class=HTMLResponse)
def kiosk(request: Request) -> Response:
    from daybreak.web.pages import _render

    return _render(request, "kiosk.html", title="Kiosk")
