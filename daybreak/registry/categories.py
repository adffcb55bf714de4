"""Categories: the families models belong to. The zoo's six are seeded on first use; a team
adds its own with :func:`add`."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from daybreak.config import Settings
from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.store.engine import get_database
from daybreak.store.schema import categories

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")

# name -> (description, intended use): the zoo's categories (see daybreak.zoo.CATEGORIES)
DEFAULTS: dict[str, tuple[str, str]] = {
    "classification": (
        "image classification: one label per image",
        "Assign one of the listed labels to a whole image.",
    ),
    "pose": (
        "human pose: named body keypoints",
        "Locate the listed body keypoints of one person centred in the image.",
    ),
    "face": (
        "face landmarks: named facial points",
        "Locate the listed facial landmarks of one face filling the image.",
    ),
    "segmentation": (
        "semantic segmentation: a class per pixel",
        "Separate the listed classes pixel by pixel (for example person from background).",
    ),
    "detection": (
        "object detection: labelled boxes",
        "Find and box objects of the listed classes in an image.",
    ),
    "text": (
        "text classification: one label per text",
        "Assign one of the listed labels (intents) to a short text.",
    ),
}


@dataclasses.dataclass(frozen=True)
class Category:
    name: str
    description: str
    intended_use: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def seed(conn: Connection) -> None:
    """Insert the default categories when the table is empty (first use)."""
    if conn.execute(sa.select(sa.func.count()).select_from(categories)).scalar():
        return
    now = time.time()
    conn.execute(
        categories.insert(),
        [
            {"name": name, "description": about, "intended_use": use, "created_at": now}
            for name, (about, use) in DEFAULTS.items()
        ],
    )


def require(conn: Connection, name: str) -> Category:
    """The category ``name``, seeding the defaults first; a clear error when it is unknown."""
    seed(conn)
    row = conn.execute(sa.select(categories).where(categories.c.name == name)).mappings().first()
    if row is None:
        known = conn.execute(sa.select(categories.c.name).order_by(categories.c.name)).scalars()
        raise NotFoundError(
            f"no model category {name!r}",
            f"use one of {', '.join(known)}, or add it with `daybreak model category add {name}`",
        )
    return Category(**row)


def list_all(settings: Settings) -> list[Category]:
    """Every category, by name (the defaults seeded on first use)."""
    with get_database(settings.db_url).write() as conn:
        seed(conn)
        rows = conn.execute(sa.select(categories).order_by(categories.c.name)).mappings().all()
    return [Category(**row) for row in rows]


def add(settings: Settings, name: str, description: str = "", intended_use: str = "") -> Category:
    """A new category; its intended use goes into the cards of its models."""
    if not NAME.match(name):
        raise ConfigError(
            f"{name!r} is not a category name", "use lower-case letters, digits, '-', '_' or '.'"
        )
    with get_database(settings.db_url).write() as conn:
        seed(conn)
        if conn.execute(sa.select(categories.c.name).where(categories.c.name == name)).first():
            raise ConflictError(f"category {name!r} already exists", "pick another name")
        values: dict[str, Any] = {
            "name": name,
            "description": description,
            "intended_use": intended_use,
            "created_at": time.time(),
        }
        conn.execute(categories.insert().values(**values))
    return Category(**values)
