"""Action items over HTTP: listed, opened, assigned and resolved (with a note) from the web
pages, the Daily Log's meeting view first among them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from daybreak.notes import service
from daybreak.store.engine import Database, get_database
from daybreak.web.deps import RowId, principal
from daybreak.web.deps import settings as _settings

api = APIRouter(prefix="/api/action-items", tags=["action items"])


class NewItem(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    body: str = Field("", max_length=10_000)
    owner: str = Field("", max_length=200)
    project: str | None = None
    run_id: str | None = None


class Assignment(BaseModel):
    owner: str = Field(min_length=1, max_length=200)


class Resolution(BaseModel):
    note: str = Field(min_length=1, max_length=10_000)


def _db(request: Request) -> Database:
    return get_database(_settings(request).db_url)


@api.get("")
def list_items(
    request: Request, status: Literal["open", "resolved", "all"] = "open"
) -> list[dict[str, Any]]:
    """Action items, oldest first (open ones by default)."""
    return service.list_action_items(_db(request), status=None if status == "all" else status)


@api.post("", status_code=201)
def add_item(request: Request, item: NewItem) -> dict[str, Any]:
    db = _db(request)
    item_id = service.add_action_item(
        db,
        item.title,
        body=item.body,
        owner=item.owner,
        project=item.project,
        run_id=item.run_id,
        created_by=principal(request).name,
    )
    return service.get_action_item(db, item_id)


@api.post("/{item_id}/assign")
def assign_item(request: Request, item_id: RowId, assignment: Assignment) -> dict[str, Any]:
    return service.assign_action_item(_db(request), item_id, assignment.owner)


@api.post("/{item_id}/resolve")
def resolve_item(request: Request, item_id: RowId, resolution: Resolution) -> dict[str, Any]:
    return service.resolve_action_item(
        _db(request), item_id, resolution.note, by=principal(request).name
    )
