"""Access: users with roles, API and kiosk tokens, web sessions and CSRF, and the one policy
that says who may do what. The web app enforces it in one middleware (``daybreak.web.auth``);
the CLI manages users and tokens (``daybreak user``, ``daybreak token``)."""

from __future__ import annotations

from daybreak.access.errors import ForbiddenError
from daybreak.access.policy import KIOSK_ALLOWED, refusal
from daybreak.access.principal import OPEN, Principal
from daybreak.access.roles import USER_ROLES, Role, UserRole, at_least
from daybreak.access.tokens import NewToken, Token, authenticate_token, create_token
from daybreak.access.users import User, add_user, authenticate, has_users

__all__ = [
    "KIOSK_ALLOWED",
    "OPEN",
    "USER_ROLES",
    "ForbiddenError",
    "NewToken",
    "Principal",
    "Role",
    "Token",
    "User",
    "UserRole",
    "add_user",
    "at_least",
    "authenticate",
    "authenticate_token",
    "create_token",
    "has_users",
    "refusal",
]
