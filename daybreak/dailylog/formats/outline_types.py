"""The shapes of an outline: sections of items (a title, labelled lines, a chart) and facts."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Item:
    title: str
    lines: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (label, text)
    chart: dict[str, Any] | None = None
    level: str = ""  # critical | warning | info | good: a colour where a format has them


@dataclasses.dataclass
class Section:
    key: str
    title: str
    items: list[Item] = dataclasses.field(default_factory=list)
    facts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    text: str = ""


@dataclasses.dataclass
class Outline:
    title: str
    headline: str
    window: str
    sections: list[Section]
    log_id: int | None
