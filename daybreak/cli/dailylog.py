"""Placeholder: filled in by the dailylog work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
