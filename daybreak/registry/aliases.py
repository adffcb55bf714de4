"""Aliases (``production``, ``staging``, ``demo``, any name): moved with a note, every move
and removal kept in history."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from daybreak.config import Settings
from daybreak.errors import NotFoundError
from daybreak.registry import refs
from daybreak.registry.records import Alias, AliasMove
from daybreak.registry.service import aliases_of, current_user, model_row, resolve_in
from daybreak.store.engine import get_database
from daybreak.store.schema import alias_history, model_aliases


def set_alias(
    settings: Settings, ref: str, alias: str, note: str = "", by: str | None = None
) -> Alias:
    """Point ``alias`` of the model at the version ``ref`` names; the move is kept in history."""
    refs.check_alias(alias)
    by = current_user() if by is None else by
    now = time.time()
    with get_database(settings.db_url).write() as conn:
        version = resolve_in(conn, ref)
        model_id = model_row(conn, version.model)["id"]
        old = aliases_of(conn, model_id).get(alias)
        values = {"version": version.version, "note": note, "updated_by": by, "updated_at": now}
        if old is None:
            conn.execute(model_aliases.insert().values(model_id=model_id, alias=alias, **values))
        else:
            conn.execute(
                model_aliases.update()
                .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
                .values(**values)
            )
        _history(conn, model_id, alias, old, version.version, note, by, now)
    return Alias(version.model, alias, version.version, note, by, now)


def delete_alias(
    settings: Settings, name: str, alias: str, note: str = "", by: str | None = None
) -> AliasMove:
    """Remove ``alias`` from model ``name``; the removal is kept in history."""
    by = current_user() if by is None else by
    now = time.time()
    with get_database(settings.db_url).write() as conn:
        model_id = model_row(conn, name)["id"]
        old = aliases_of(conn, model_id).get(alias)
        if old is None:
            raise NotFoundError(f"model {name!r} has no alias {alias!r}", "see `model alias ls`")
        conn.execute(
            model_aliases.delete().where(
                model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
            )
        )
        _history(conn, model_id, alias, old, None, note, by, now)
    return AliasMove(name, alias, old, None, note, by, now)


def _history(
    conn: Connection,
    model_id: int,
    alias: str,
    old: int | None,
    new: int | None,
    note: str,
    by: str,
    at: float,
) -> None:
    conn.execute(
        alias_history.insert().values(
            model_id=model_id,
            alias=alias,
            old_version=old,
            new_version=new,
            note=note,
            by=by,
            at=at,
        )
    )


def list_aliases(settings: Settings, name: str) -> list[Alias]:
    with get_database(settings.db_url).read() as conn:
        model_id = model_row(conn, name)["id"]
        rows = conn.execute(
            sa.select(model_aliases)
            .where(model_aliases.c.model_id == model_id)
            .order_by(model_aliases.c.alias)
        ).mappings()
        return [
            Alias(name, r["alias"], r["version"], r["note"], r["updated_by"], r["updated_at"])
            for r in rows
        ]


def alias_moves(settings: Settings, name: str, alias: str | None = None) -> list[AliasMove]:
    """Every move of the model's aliases (or of one), oldest first."""
    with get_database(settings.db_url).read() as conn:
        model_id = model_row(conn, name)["id"]
        query = (
            sa.select(alias_history)
            .where(alias_history.c.model_id == model_id)
            .order_by(alias_history.c.id)
        )
        if alias is not None:
            query = query.where(alias_history.c.alias == alias)
        return [
            AliasMove(
                name, r["alias"], r["old_version"], r["new_version"], r["note"], r["by"], r["at"]
            )
            for r in conn.execute(query).mappings()
        ]
