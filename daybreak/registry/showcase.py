"""The models the kiosk's live demo offers: every model with a ``demo`` alias (served as
``NAME@demo``, so moving the alias changes what visitors see); while no model has one, every
model whose latest version has a recommended export (served as ``NAME``, its latest)."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.store.engine import get_database
from daybreak.store.schema import exports, model_aliases, model_versions, models

DEMO_ALIAS = "demo"
SHOWN_PREPROCESSING = ("labels", "keypoints", "skeleton")


@dataclasses.dataclass(frozen=True)
class DemoModel:
    """A model on show: what it is served as and what the page needs to draw its answers."""

    name: str
    category: str
    ref: str
    version: int
    drawing: dict[str, Any]  # labels, keypoint names, skeleton pairs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def demo_models(settings: Settings) -> list[DemoModel]:
    """The models on show, by category then name."""
    with get_database(settings.db_url).read() as conn:
        found = _with_alias(conn) or _with_export(conn)
    return sorted(found, key=lambda m: (m.category, m.name))


def _columns() -> tuple[Any, ...]:
    return (
        models.c.name,
        models.c.category,
        model_versions.c.version,
        model_versions.c.preprocessing,
    )


def _with_alias(conn: sa.Connection) -> list[DemoModel]:
    query = (
        sa.select(*_columns())
        .join(model_aliases, model_aliases.c.model_id == models.c.id)
        .join(
            model_versions,
            sa.and_(
                model_versions.c.model_id == models.c.id,
                model_versions.c.version == model_aliases.c.version,
            ),
        )
        .where(model_aliases.c.alias == DEMO_ALIAS)
    )
    return [_model(row, f"{row['name']}@{DEMO_ALIAS}") for row in conn.execute(query).mappings()]


def _with_export(conn: sa.Connection) -> list[DemoModel]:
    latest = (
        sa.select(model_versions.c.model_id, sa.func.max(model_versions.c.version).label("v"))
        .group_by(model_versions.c.model_id)
        .subquery()
    )
    recommended = sa.exists().where(
        exports.c.version_id == model_versions.c.id,
        exports.c.recommended.is_(True),
        exports.c.status == "ok",
    )
    query = (
        sa.select(*_columns())
        .join(latest, latest.c.model_id == models.c.id)
        .join(
            model_versions,
            sa.and_(
                model_versions.c.model_id == models.c.id, model_versions.c.version == latest.c.v
            ),
        )
        .where(recommended)
    )
    return [_model(row, row["name"]) for row in conn.execute(query).mappings()]


def _model(row: Any, ref: str) -> DemoModel:
    prep = row["preprocessing"] or {}
    drawing = {k: prep[k] for k in SHOWN_PREPROCESSING if prep.get(k)}
    return DemoModel(row["name"], row["category"], ref, row["version"], drawing)
