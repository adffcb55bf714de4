"""Request-scoped access to the app's settings and store."""

from __future__ import annotations

from fastapi import Request

from daybreak.config import Settings
from daybreak.tracking.readers import LocalBackend


def store(request: Request) -> LocalBackend:
    return request.app.state.store


def settings(request: Request) -> Settings:
    return request.app.state.settings
