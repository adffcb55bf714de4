"""Roles, from least to most trusted. A kiosk is not a user role: it belongs to kiosk tokens."""

from __future__ import annotations

from typing import Literal, cast

from daybreak.errors import ConfigError

Role = Literal["kiosk", "viewer", "member", "admin"]
UserRole = Literal["viewer", "member", "admin"]

USER_ROLES: tuple[UserRole, ...] = ("viewer", "member", "admin")
_RANK: dict[str, int] = {"kiosk": 0, "viewer": 1, "member": 2, "admin": 3}


def parse_role(value: str) -> UserRole:
    """A user role from user input, or a ConfigError naming the choices."""
    role = value.strip().lower()
    if role not in USER_ROLES:
        raise ConfigError(f"unknown role {value!r}", f"use one of: {', '.join(USER_ROLES)}")
    return cast(UserRole, role)


def at_least(role: Role, wanted: Role) -> bool:
    return _RANK[role] >= _RANK[wanted]


def can_change_things(role: Role) -> bool:
    """Members and admins may change state; viewers and kiosks only read."""
    return at_least(role, "member")
