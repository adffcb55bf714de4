"""The demo-day kiosk: ``/kiosk``, a full-screen page that rotates through its screens and
refreshes them from ``/api/kiosk/...``, and the live demo through the serving layer. Opened
with ``/kiosk?token=KIOSK_TOKEN`` (see ``daybreak.web.auth``), it never asks anyone to sign in,
and a kiosk may only do what ``daybreak.access.policy.KIOSK_ALLOWED`` lists."""

from __future__ import annotations

from fastapi import APIRouter

from daybreak.web.kiosk import demo, screens

router = APIRouter()
router.include_router(screens.pages)
router.include_router(screens.api)
router.include_router(demo.api)

__all__ = ["router"]
