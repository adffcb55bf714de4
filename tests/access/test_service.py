"""Users, passwords, tokens, sessions and the policy, on the real metadata store."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from daybreak.access import policy, sessions, tokens, users
from daybreak.access.principal import Principal
from daybreak.errors import AuthError, ConfigError, ConflictError
from daybreak.store.engine import Database, get_database
from daybreak.store.schema import api_tokens
from daybreak.store.schema import users as users_table

PASSWORD = "correct horse battery"


@pytest.fixture
def db(settings) -> Database:
    return get_database(settings.db_url)


def test_passwords_are_stored_only_as_argon2_hashes(db):
    users.add_user(db, "ada", "admin", PASSWORD)
    with db.read() as conn:
        row = conn.execute(sa.select(users_table)).one()
    assert row.password_hash.startswith("$argon2id$")
    assert all(PASSWORD not in str(value) for value in row)
    assert users.authenticate(db, "ada", PASSWORD).role == "admin"
    for name, password in (("ada", "wrong password"), ("nobody", PASSWORD)):
        with pytest.raises(AuthError, match="wrong name or password"):
            users.authenticate(db, name, password)


def test_bad_users_say_what_to_do(db):
    with pytest.raises(ConfigError, match="too short"):
        users.add_user(db, "ada", "member", "short")
    with pytest.raises(ConfigError, match="unknown role") as caught:
        users.add_user(db, "ada", "owner", PASSWORD)
    assert "viewer, member, admin" in str(caught.value.hint)
    with pytest.raises(ConfigError, match="not a valid user name"):
        users.add_user(db, "no spaces", "member", PASSWORD)
    users.add_user(db, "ada", "member", PASSWORD)
    with pytest.raises(ConflictError, match="already exists"):
        users.add_user(db, "ada", "member", PASSWORD)


def test_disabling_a_user_ends_their_sessions_and_stops_their_tokens(db):
    user = users.add_user(db, "bob", "member", PASSWORD)
    session_id = sessions.start_session(db, user.id)
    token = tokens.create_token(db, "api", "bob")
    users.set_disabled(db, "bob")
    with pytest.raises(AuthError, match="disabled"):
        users.authenticate(db, "bob", PASSWORD)
    with pytest.raises(AuthError, match="ended"):
        sessions.authenticate_session(db, session_id, "")
    with pytest.raises(AuthError, match="disabled"):
        tokens.authenticate_token(db, token.secret)
    users.set_disabled(db, "bob", False)
    assert tokens.authenticate_token(db, token.secret).name == "bob"


def test_tokens_are_kept_as_hashes_and_act_as_their_user(db):
    users.add_user(db, "cy", "viewer", PASSWORD)
    new = tokens.create_token(db, "api", "cy", name="laptop")
    with db.read() as conn:
        row = conn.execute(sa.select(api_tokens)).one()
    assert new.secret.startswith("dbk_") and len(new.secret) > 40
    assert all(new.secret not in str(value) for value in row)
    assert row.prefix == new.secret[:12] == new.token.prefix
    who = tokens.authenticate_token(db, new.secret)
    assert (who.name, who.role, who.via) == ("cy", "viewer", "token")
    users.set_role(db, "cy", "member")  # a role change applies at once
    assert tokens.authenticate_token(db, new.secret).role == "member"
    assert tokens.list_tokens(db)[0].last_used_at is not None


def test_expired_revoked_and_unknown_tokens_say_so(db):
    users.add_user(db, "di", "member", PASSWORD)
    past = time.time() - 3600
    expired = tokens.create_token(db, "api", "di", expires_in=60, now=past)
    with pytest.raises(AuthError, match="expired on") as caught:
        tokens.authenticate_token(db, expired.secret)
    assert "daybreak token create" in str(caught.value.hint)
    revoked = tokens.create_token(db, "api", "di")
    tokens.revoke_token(db, revoked.token.prefix)
    with pytest.raises(AuthError, match="was revoked"):
        tokens.authenticate_token(db, revoked.secret)
    with pytest.raises(AuthError, match="not valid"):
        tokens.authenticate_token(db, "dbk_made-up")
    statuses = {t.id: t.status() for t in tokens.list_tokens(db)}
    assert statuses == {expired.token.id: "expired", revoked.token.id: "revoked"}


def test_token_options_are_checked(db):
    users.add_user(db, "ed", "member", PASSWORD)
    assert tokens.parse_duration("30d") == 30 * 86400
    assert tokens.parse_duration("12h") == 12 * 3600
    for bad in ("30", "d", "0d", "3 months"):
        with pytest.raises(ConfigError, match="not a duration"):
            tokens.parse_duration(bad)
    with pytest.raises(ConfigError, match="kiosk token belongs to no user"):
        tokens.create_token(db, "kiosk", "ed")
    with pytest.raises(ConfigError, match="acts as a user"):
        tokens.create_token(db, "api")
    kiosk = tokens.authenticate_token(db, tokens.create_token(db, "kiosk", name="hall").secret)
    assert (kiosk.role, kiosk.name, kiosk.user_id) == ("kiosk", "kiosk hall", None)


def test_sessions_expire_and_carry_a_csrf_token(db):
    user = users.add_user(db, "flo", "member", PASSWORD)
    session_id = sessions.start_session(db, user.id)
    who = sessions.authenticate_session(db, session_id, "")
    assert (who.name, who.via) == ("flo", "session")
    assert who.csrf_token == sessions.csrf_token_for(session_id) != session_id
    old = sessions.start_session(db, user.id, lifetime=60, now=time.time() - 3600)
    with pytest.raises(AuthError, match="expired"):
        sessions.authenticate_session(db, old, "")
    legacy = sessions.start_session(db)  # signed in with DAYBREAK_TOKEN
    assert sessions.authenticate_session(db, legacy, "tok").role == "admin"
    with pytest.raises(AuthError, match="no longer set"):
        sessions.authenticate_session(db, legacy, "")
    users.set_password(db, "flo", "another good password")
    with pytest.raises(AuthError, match="ended"):
        sessions.authenticate_session(db, session_id, "")


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("viewer", "GET", "/api/runs", True),
        ("viewer", "PATCH", "/api/runs/abc", False),
        ("viewer", "PUT", "/api/runs/abc", False),
        ("viewer", "POST", "/logout", True),
        ("member", "DELETE", "/api/runs/abc", True),
        ("kiosk", "GET", "/kiosk", True),
        ("kiosk", "HEAD", "/kiosk/screens", True),
        ("kiosk", "GET", "/api/kiosk/progress", True),
        ("kiosk", "POST", "/api/kiosk/predict/pose-lite", True),
        ("kiosk", "GET", "/api/runs", False),
        ("kiosk", "GET", "/kiosks", False),
        ("kiosk", "POST", "/api/runs/abc/notes", False),
    ],
)
def test_policy_by_method_and_path(role, method, path, allowed):
    who = Principal("someone", role, "token")
    assert (policy.refusal(who, method, path) is None) is allowed
