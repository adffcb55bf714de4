"""Users: a name, a role and an argon2 password hash; disabled users cannot sign in."""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from typing import Any, cast

import sqlalchemy as sa

from daybreak.access import passwords
from daybreak.access.roles import UserRole, parse_role
from daybreak.errors import AuthError, ConfigError, ConflictError, NotFoundError
from daybreak.store.engine import Database
from daybreak.store.schema import sessions, users

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
WRONG_LOGIN = "wrong name or password"


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    name: str
    role: UserRole
    disabled: bool
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _user(row: Any) -> User:
    return User(row.id, row.name, cast(UserRole, row.role), bool(row.disabled), row.created_at)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a valid user name",
            "use letters, digits and . _ @ - (starting with a letter or digit), at most 100",
        )
    return name


def has_users(db: Database) -> bool:
    with db.read() as conn:
        return conn.execute(sa.select(users.c.id).limit(1)).first() is not None


def add_user(db: Database, name: str, role: str, password: str, now: float | None = None) -> User:
    check_name(name)
    checked_role = parse_role(role)
    password_hash = passwords.hash_password(password)
    with db.write() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.name == name)).first():
            raise ConflictError(
                f"the user {name!r} already exists",
                f"change it with `daybreak user role {name} ROLE` or `daybreak user passwd {name}`",
            )
        values = {
            "name": name,
            "role": checked_role,
            "password_hash": password_hash,
            "disabled": False,
            "created_at": now or time.time(),
        }
        conn.execute(users.insert().values(**values))
    return get_user(db, name)


def list_users(db: Database) -> list[User]:
    with db.read() as conn:
        return [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.name))]


def get_user(db: Database, name: str) -> User:
    with db.read() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"there is no user {name!r}", "list them with `daybreak user ls`")
    return _user(row)


def set_role(db: Database, name: str, role: str) -> User:
    checked_role = parse_role(role)
    _update(db, name, role=checked_role)
    return get_user(db, name)


def set_disabled(db: Database, name: str, disabled: bool = True) -> User:
    """Disable (or enable again) a user; a disabled user's sessions end and tokens stop working."""
    user = _update(db, name, disabled=disabled)
    if disabled:
        _end_sessions(db, user.id)
    return get_user(db, name)


def set_password(db: Database, name: str, password: str) -> None:
    """Set a new password and sign the user out everywhere."""
    user = _update(db, name, password_hash=passwords.hash_password(password))
    _end_sessions(db, user.id)


def authenticate(db: Database, name: str, password: str) -> User:
    """The user with this name and password, or an AuthError that does not say which was wrong."""
    with db.read() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    if row is None:
        passwords.verify_password(_dummy_hash(), password)  # as slow as a real miss
        raise AuthError(WRONG_LOGIN, "check both and try again; an admin can reset a password")
    if not passwords.verify_password(row.password_hash, password):
        raise AuthError(WRONG_LOGIN, "check both and try again; an admin can reset a password")
    if row.disabled:
        raise AuthError(f"the user {name!r} is disabled", "ask an admin to enable it again")
    if passwords.needs_rehash(row.password_hash):
        _update(db, name, password_hash=passwords.hash_password(password))
    return _user(row)


def _update(db: Database, name: str, **values: Any) -> User:
    user = get_user(db, name)
    with db.write() as conn:
        conn.execute(users.update().where(users.c.id == user.id).values(**values))
    return user


def _end_sessions(db: Database, user_id: int) -> None:
    with db.write() as conn:
        conn.execute(sessions.delete().where(sessions.c.user_id == user_id))


@functools.cache
def _dummy_hash() -> str:
    return passwords.hash_password("not a real password, only for timing")
