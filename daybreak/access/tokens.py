"""API and kiosk tokens: random, shown once, kept only as a SHA-256 hash plus a short visible
prefix. An ``api`` token acts as its user with the user's role; a ``kiosk`` token belongs to no
user and may only look at the kiosk (see :data:`daybreak.access.policy.KIOSK_ALLOWED`)."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import secrets
import time
from typing import Any, Literal, cast

import sqlalchemy as sa

from daybreak.access.principal import Principal, Via
from daybreak.access.roles import Role
from daybreak.errors import AuthError, ConfigError, NotFoundError
from daybreak.store.engine import Database
from daybreak.store.schema import api_tokens, sessions, users

Kind = Literal["api", "kiosk"]
SECRET_PREFIX = "dbk_"
SHOWN_PREFIX = 12  # "dbk_" and 8 random characters: enough to tell tokens apart in a list
LAST_USED_EVERY = 60.0  # seconds between writes of last_used_at, so reads stay reads
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION = re.compile(r"(\d+)\s*([mhdwy])")
INVALID = "the API token is not valid"
NEW_TOKEN_HINT = "create a new one with `daybreak token create` and set DAYBREAK_TOKEN to it"


@dataclasses.dataclass(frozen=True)
class Token:
    id: int
    name: str
    kind: Kind
    user: str | None
    prefix: str
    created_by: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None

    def status(self, now: float | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or time.time()):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "status": self.status()}


@dataclasses.dataclass(frozen=True)
class NewToken:
    token: Token
    secret: str  # the only time the whole token exists outside the caller's hands


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``2w``, ``1y``."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(
            f"{text!r} is not a duration", "write a number and a unit: 90m, 12h, 30d, 2w, 1y"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    db: Database,
    kind: Kind,
    user: str | None = None,
    name: str = "",
    expires_in: float | None = None,
    created_by: str = "",
    now: float | None = None,
) -> NewToken:
    """A new token; an ``api`` token needs its (enabled) user, a ``kiosk`` token has none."""
    now = now or time.time()
    user_id = _token_owner(db, kind, user)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    values = {
        "name": name,
        "kind": kind,
        "user_id": user_id,
        "prefix": secret[:SHOWN_PREFIX],
        "secret_hash": hash_secret(secret),
        "created_by": created_by,
        "created_at": now,
        "expires_at": now + expires_in if expires_in else None,
    }
    with db.write() as conn:
        result = conn.execute(api_tokens.insert().values(**values))
        token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return NewToken(get_token(db, str(token_id)), secret)


def _token_owner(db: Database, kind: Kind, user: str | None) -> int | None:
    if kind == "kiosk":
        if user:
            raise ConfigError("a kiosk token belongs to no user", "leave out --user with --kiosk")
        return None
    if kind != "api":
        raise ConfigError(f"unknown token kind {kind!r}", "use api or kiosk")
    if not user:
        raise ConfigError("an API token acts as a user", "name one with --user NAME")
    with db.read() as conn:
        row = conn.execute(sa.select(users.c.id, users.c.disabled).where(users.c.name == user))
        found = row.first()
    if found is None:
        raise NotFoundError(f"there is no user {user!r}", "add one with `daybreak user add`")
    if found.disabled:
        raise ConfigError(f"the user {user!r} is disabled", f"`daybreak user enable {user}`")
    return int(found.id)


def _select() -> sa.Select[Any]:
    return sa.select(
        api_tokens,
        users.c.name.label("user_name"),
        users.c.role.label("user_role"),
        users.c.disabled.label("user_disabled"),
    ).select_from(api_tokens.outerjoin(users, api_tokens.c.user_id == users.c.id))


def _token(row: Any) -> Token:
    return Token(
        row.id,
        row.name,
        cast(Kind, row.kind),
        row.user_name,
        row.prefix,
        row.created_by,
        row.created_at,
        row.expires_at,
        row.last_used_at,
        row.revoked_at,
    )


def list_tokens(db: Database, user: str | None = None) -> list[Token]:
    query = _select().order_by(api_tokens.c.id)
    if user:
        query = query.where(users.c.name == user)
    with db.read() as conn:
        return [_token(r) for r in conn.execute(query)]


def get_token(db: Database, ref: str) -> Token:
    """A token by its id or its visible prefix (``dbk_AbCd1234``)."""
    column = api_tokens.c.id if (ref.isascii() and ref.isdigit()) else api_tokens.c.prefix
    with db.read() as conn:
        rows = conn.execute(
            _select().where(column == (int(ref) if (ref.isascii() and ref.isdigit()) else ref))
        )
        found = rows.all()
    if len(found) != 1:
        problem = "no token" if not found else "more than one token"
        raise NotFoundError(f"{problem} has the id or prefix {ref!r}", "see `daybreak token ls`")
    return _token(found[0])


def revoke_token(db: Database, ref: str, now: float | None = None) -> Token:
    """Revoke a token for good (again is a no-op); browsers signed in with it are signed out."""
    token = get_token(db, ref)
    with db.write() as conn:
        conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token.id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now or time.time())
        )
        conn.execute(sessions.delete().where(sessions.c.token_id == token.id))
    return get_token(db, str(token.id))


def authenticate_token(
    db: Database, secret: str, via: Via = "token", now: float | None = None
) -> Principal:
    """Who ``secret`` acts as, or an AuthError saying whether it is unknown, revoked or expired."""
    with db.read() as conn:
        row = conn.execute(_select().where(api_tokens.c.secret_hash == hash_secret(secret))).first()
    if row is None:
        raise AuthError(INVALID, NEW_TOKEN_HINT)
    return principal_of(db, row, via, now or time.time())


def principal_for_token_id(db: Database, token_id: int, via: Via, now: float) -> Principal:
    with db.read() as conn:
        row = conn.execute(_select().where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise AuthError("the token you signed in with was deleted", NEW_TOKEN_HINT)
    return principal_of(db, row, via, now)


def principal_of(db: Database, row: Any, via: Via, now: float) -> Principal:
    token = _token(row)
    hint = "ask an admin for a new kiosk link" if token.kind == "kiosk" else NEW_TOKEN_HINT
    if token.revoked_at is not None:
        raise AuthError(f"the token {token.prefix}… was revoked on {_when(token.revoked_at)}", hint)
    if token.expires_at is not None and token.expires_at <= now:
        raise AuthError(f"the token {token.prefix}… expired on {_when(token.expires_at)}", hint)
    if token.kind == "api" and row.user_disabled:
        raise AuthError(f"the token's user {token.user!r} is disabled", "ask an admin")
    _touch(db, token, now)
    if token.kind == "kiosk":
        name, role = f"kiosk {token.name or token.prefix}", cast(Role, "kiosk")
    else:
        name, role = token.user or "", cast(Role, row.user_role)
    return Principal(name, role, via, user_id=row.user_id, token_id=token.id)


def _touch(db: Database, token: Token, now: float) -> None:
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        with db.write() as conn:
            conn.execute(
                api_tokens.update().where(api_tokens.c.id == token.id).values(last_used_at=now)
            )


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
