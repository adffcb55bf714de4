"""The one console for CLI output, and JSON output for every read command."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, Literal

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


@contextlib.contextmanager
def progress(
    label: str, total: int, unit: Literal["items", "bytes"] = "items"
) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr while the block runs (only on a terminal); yields the function
    that advances it by a number of items or bytes."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
    )

    amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        amount,
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=True, disable=not errors.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
