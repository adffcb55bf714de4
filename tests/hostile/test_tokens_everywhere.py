"""Every operation of the REST API (the MLflow API included), taken from the app's own OpenAPI
schema: a missing, wrong, expired or revoked token is refused with 401, a viewer's change with
403, a kiosk token everything but the kiosk's own reads."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from daybreak.access import tokens, users
from daybreak.access.policy import READ_ONLY_POSTS, SAFE_METHODS, kiosk_may
from daybreak.config import Settings
from daybreak.store.engine import get_database
from daybreak.web.auth import PUBLIC_PATHS

PASSWORD = "correct horse battery"
ADMIN_ONLY_READS = {("GET", "/api/users"), ("GET", "/api/tokens")}  # who may do what: admins


@pytest.fixture
def credentials(settings: Settings) -> dict[str, str]:
    db = get_database(settings.db_url)
    users.add_user(db, "ada", "admin", PASSWORD)
    users.add_user(db, "vi", "viewer", PASSWORD)
    revoked = tokens.create_token(db, "api", "ada")
    tokens.revoke_token(db, str(revoked.token.id))
    return {
        "viewer": tokens.create_token(db, "api", "vi").secret,
        "expired": tokens.create_token(
            db, "api", "ada", expires_in=1, now=time.time() - 120
        ).secret,
        "revoked": revoked.secret,
        "wrong": "dbk_" + "x" * 43,
        "kiosk": tokens.create_token(db, "kiosk").secret,
    }


def _operations(server: str) -> list[tuple[str, str]]:
    schema = httpx.get(f"{server}/openapi.json", headers={"Authorization": "Bearer none"})
    if schema.status_code == 401:  # the schema itself is behind the gate: read it from the app
        from daybreak.config import get_settings
        from daybreak.web.app import create_app

        spec = create_app(get_settings()).openapi()
    else:
        spec = schema.json()
    out = []
    for path, methods in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        out += [(method.upper(), concrete) for method in methods]
    return out


def test_every_operation_refuses_bad_tokens_and_wrong_roles(
    server: str, credentials: dict[str, str]
) -> None:
    operations = _operations(server)
    assert len(operations) > 60
    wrong: list[str] = []
    for method, path in operations:
        if path.startswith(PUBLIC_PATHS):
            continue
        for who in ("none", "wrong", "expired", "revoked"):
            headers = {} if who == "none" else {"Authorization": f"Bearer {credentials[who]}"}
            answer = httpx.request(method, server + path, headers=headers, json={})
            if answer.status_code != 401:
                wrong.append(f"{who}: {method} {path} -> {answer.status_code}")
        changes = method not in SAFE_METHODS and (method, path) not in READ_ONLY_POSTS
        viewer = httpx.request(
            method,
            server + path,
            headers={"Authorization": f"Bearer {credentials['viewer']}"},
            json={},
        )
        if changes and viewer.status_code != 403:
            wrong.append(f"viewer: {method} {path} -> {viewer.status_code} (a change)")
        if (method, path) in ADMIN_ONLY_READS:
            if viewer.status_code != 403:
                wrong.append(f"viewer: {method} {path} -> {viewer.status_code} (admins only)")
        elif not changes and viewer.status_code in (401, 403):
            wrong.append(f"viewer: {method} {path} -> {viewer.status_code} (a read)")
        kiosk = httpx.request(
            method,
            server + path,
            headers={"Authorization": f"Bearer {credentials['kiosk']}"},
            json={},
        )
        if not kiosk_may(method, path) and kiosk.status_code != 403:
            wrong.append(f"kiosk: {method} {path} -> {kiosk.status_code}")
    assert not wrong, "\n".join(wrong)
