"""JSON stored as text, portable across SQLite and PostgreSQL, NaN-safe."""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def nonfinite_text(value: float) -> str:
    """``"NaN"``, ``"Infinity"`` or ``"-Infinity"``: how Daybreak spells a non-finite float in
    JSON (which has no tokens for them) and JavaScript's ``Number()`` reads back."""
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def from_text(value: Any) -> Any:
    """The inverse of ``nonfinite_text``; anything else is returned unchanged."""
    return NONFINITE.get(value, value) if isinstance(value, str) else value


def to_jsonable(value: Any) -> Any:
    """Non-finite floats become the strings ``"NaN"``/``"Infinity"``; JSON has no tokens for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return nonfinite_text(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), allow_nan=False, separators=(",", ":"))


class JSONText(sa.types.TypeDecorator[Any]):
    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else dumps(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        return None if value is None else json.loads(value)
