"""Server-side web sessions. The browser's HttpOnly cookie holds a random id; the table holds
only its hash, the expiry and who signed in. Each session has a CSRF token derived from its id,
so it needs no storage and cannot be guessed without the cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any, cast

import sqlalchemy as sa

from daybreak.access.principal import LEGACY_NAME, Principal
from daybreak.access.roles import UserRole
from daybreak.access.tokens import principal_for_token_id
from daybreak.errors import AuthError
from daybreak.store.engine import Database
from daybreak.store.schema import sessions, users

COOKIE = "daybreak_session"
USER_LIFETIME = 14 * 86400.0
KIOSK_LIFETIME = 365 * 86400.0  # a kiosk stays up; revoking its token still ends it at once
LAST_SEEN_EVERY = 60.0
SIGN_IN_AGAIN = "sign in again"


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token_for(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"daybreak csrf", hashlib.sha256).hexdigest()


def start_session(
    db: Database,
    user_id: int | None = None,
    token_id: int | None = None,
    lifetime: float = USER_LIFETIME,
    now: float | None = None,
) -> str:
    """A new session for a user, a token, or (neither) the legacy DAYBREAK_TOKEN; returns the
    id for the cookie. Expired sessions are swept out on the way."""
    now = now or time.time()
    session_id = secrets.token_urlsafe(32)
    with db.write() as conn:
        conn.execute(sessions.delete().where(sessions.c.expires_at <= now))
        conn.execute(
            sessions.insert().values(
                id_hash=_hash(session_id),
                user_id=user_id,
                token_id=token_id,
                created_at=now,
                expires_at=now + lifetime,
                last_seen_at=now,
            )
        )
    return session_id


def end_session(db: Database, session_id: str) -> None:
    with db.write() as conn:
        conn.execute(sessions.delete().where(sessions.c.id_hash == _hash(session_id)))


def authenticate_session(
    db: Database, session_id: str, legacy_token: str, now: float | None = None
) -> Principal:
    """Who the session belongs to, or an AuthError (ended, expired, user disabled, token gone)."""
    now = now or time.time()
    with db.read() as conn:
        row = conn.execute(sa.select(sessions).where(sessions.c.id_hash == _hash(session_id)))
        found = row.first()
    if found is None:
        raise AuthError("your session has ended", SIGN_IN_AGAIN)
    if found.expires_at <= now:
        end_session(db, session_id)
        raise AuthError("your session has expired", SIGN_IN_AGAIN)
    principal = _owner(db, found, legacy_token, now)
    _touch(db, found, now)
    csrf = csrf_token_for(session_id)
    return Principal(
        principal.name, principal.role, "session", principal.user_id, principal.token_id, csrf
    )


def _owner(db: Database, session: Any, legacy_token: str, now: float) -> Principal:
    if session.token_id is not None:
        return principal_for_token_id(db, session.token_id, "session", now)
    if session.user_id is None:
        if not legacy_token:
            raise AuthError("DAYBREAK_TOKEN is no longer set on this server", SIGN_IN_AGAIN)
        return Principal(LEGACY_NAME, "admin", "session")
    with db.read() as conn:
        user = conn.execute(sa.select(users).where(users.c.id == session.user_id)).first()
    if user is None or user.disabled:
        raise AuthError("your user was disabled", "ask an admin to enable it again")
    return Principal(user.name, cast(UserRole, user.role), "session", user_id=user.id)


def _touch(db: Database, session: Any, now: float) -> None:
    if now - session.last_seen_at >= LAST_SEEN_EVERY:
        with db.write() as conn:
            conn.execute(
                sessions.update()
                .where(sessions.c.id_hash == session.id_hash)
                .values(last_seen_at=now)
            )
