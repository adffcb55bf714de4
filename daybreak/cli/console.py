"""The one console for CLI output, and JSON output for every read command."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from daybreak.store.jsontext import to_jsonable

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Machine-readable output: strict JSON, non-finite numbers as "NaN"/"Infinity" strings."""
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2, allow_nan=False, default=str) + "\n")


def fail(message: str, hint: str | None = None, code: int = 1) -> None:
    """Print an error the way every command does, then exit non-zero."""
    errors.print(f"[bold red]error:[/] {message}")
    if hint:
        errors.print(f"[dim]hint:[/] {hint}")
    raise SystemExit(code)
