"""Users and tokens over the API: who am I (anyone), and the admin's list of users and
tokens, creating and revoking tokens."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from daybreak.access import tokens, users
from daybreak.access.principal import Principal
from daybreak.store.engine import Database, get_database
from daybreak.web.deps import principal, require_role, settings

api = APIRouter(prefix="/api", tags=["access"])
admin_only = Depends(require_role("admin"))


def _db(request: Request) -> Database:
    return get_database(settings(request).db_url)


class TokenRequest(BaseModel):
    kind: Literal["api", "kiosk"] = "api"
    user: str | None = None
    name: str = ""
    expires: str | None = None  # 90m, 12h, 30d, 2w, 1y


@api.get("/me")
def me(request: Request) -> dict[str, Any]:
    """Who this request acts as (``via`` is open, session, token or legacy)."""
    return principal(request).to_dict()


@api.get("/users", dependencies=[admin_only])
def list_users(request: Request) -> list[dict[str, Any]]:
    return [u.to_dict() for u in users.list_users(_db(request))]


@api.get("/tokens", dependencies=[admin_only])
def list_tokens(request: Request, user: str | None = None) -> list[dict[str, Any]]:
    """Every token (never its secret: only its prefix)."""
    return [t.to_dict() for t in tokens.list_tokens(_db(request), user)]


@api.post("/tokens", status_code=201)
def create_token(
    request: Request, body: TokenRequest, who: Principal = admin_only
) -> dict[str, Any]:
    """A new token; the answer's ``secret`` is the only time it is shown."""
    expires_in = tokens.parse_duration(body.expires) if body.expires else None
    user = body.user if body.kind == "api" else None
    new = tokens.create_token(_db(request), body.kind, user, body.name, expires_in, who.name)
    return {**new.token.to_dict(), "secret": new.secret}


@api.delete("/tokens/{ref}", dependencies=[admin_only])
def revoke_token(request: Request, ref: str) -> dict[str, Any]:
    return tokens.revoke_token(_db(request), ref).to_dict()
