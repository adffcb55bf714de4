"""Request-scoped access to the app's settings, store and the principal making the request.

An endpoint that changes state needs no extra code: the access middleware refuses viewers and
kiosks (``daybreak.web.auth``). Use ``Depends(require_role("admin"))`` for admin-only ones, and
``principal(request).name`` for who did something.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Path, Request

from daybreak.access.errors import ForbiddenError
from daybreak.access.principal import Principal
from daybreak.access.roles import Role, at_least
from daybreak.config import Settings
from daybreak.errors import AuthError
from daybreak.tracking.readers import LocalBackend

# A row id in a URL: bounded, so that a huge number is a 422, not a database overflow (500)
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def store(request: Request) -> LocalBackend:
    return request.app.state.store


def settings(request: Request) -> Settings:
    return request.app.state.settings


def principal(request: Request) -> Principal:
    """Who is asking (on a server in open mode: an anonymous admin)."""
    found = getattr(request.state, "principal", None)
    if found is None:  # only public paths skip the middleware's identification
        raise AuthError("you are not signed in", "sign in at /login or send a Bearer token")
    return found


def require_role(role: Role) -> Callable[[Request], Principal]:
    """A dependency that lets through principals with ``role`` or a higher one."""

    def check(request: Request) -> Principal:
        who = principal(request)
        if not at_least(who.role, role):
            raise ForbiddenError(
                f"this needs the {role} role; {who.name or 'you'} is a {who.role}",
                "ask an admin to change your role: daybreak user role NAME ROLE",
            )
        return who

    return check
