"""``daybreak convert NAME@VERSION --target T``: the measured search over exports of a
registered version, stored in the registry with its reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from daybreak.cli.console import console, errors, print_json
from daybreak.config import get_settings

if TYPE_CHECKING:
    from daybreak.registry.records import Export


def register(app: typer.Typer) -> None:
    from daybreak.cli.registry import model_app

    app.command("convert")(convert_cmd)
    model_app.command("exports")(exports_cmd)


def convert_cmd(
    ref: str = typer.Argument(..., help="NAME@N, NAME@ALIAS or NAME (its latest version)."),
    target: str = typer.Option(
        ...,
        "--target",
        "-t",
        help="mobile-cpu, server-cpu, server-gpu, or a profile file (.toml, .yaml, .json).",
    ),
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="Calibrate and validate on this dataset version instead of the model's own "
        "(needed for ONNX imports to judge accuracy).",
    ),
    runs: int = typer.Option(50, min=5, help="Timed runs per batch size and candidate."),
    max_seconds: float = typer.Option(
        3.0, min=0.1, help="At most this long timing one batch size of one candidate."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Convert a registered version for a target: build every candidate export, check parity
    and accuracy, time them, store them all with their reports and mark the recommended one."""
    from daybreak.convert.pipeline import convert_version
    from daybreak.convert.report import render

    settings = get_settings()
    with _progress_bar() as bar:
        task = bar.add_task("converting", total=None)

        def show(step: str, done: int, total: int) -> None:
            bar.update(task, description=escape(step), completed=done, total=total)

        conversion = convert_version(
            settings,
            ref,
            Path(target) if Path(target).suffix else target,
            dataset=dataset,
            runs=runs,
            max_seconds=max_seconds,
            progress=show,
        )
    if as_json:
        print_json(conversion.to_dict())
        return
    console.print(render(conversion.report))
    for note in conversion.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    source = conversion.dataset or "random inputs"
    best = next((e for e in conversion.exports if e.recommended), None)
    console.print(
        f"{escape(conversion.ref)} for {escape(conversion.target)}: {len(conversion.exports)} "
        f"exports stored (samples from {escape(source)}) in {conversion.report.seconds:.1f}s; "
        + (
            f"recommended [bold]{best.format}/{best.precision}[/] (export {best.id})"
            if best
            else "[red]none recommended[/]"
        )
    )


def _progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )


def exports_cmd(
    ref: str = typer.Argument(..., help="NAME@N, NAME@ALIAS or NAME (its latest version)."),
    target: str = typer.Option(None, "--target", "-t", help="Only this target's exports."),
    latest: bool = typer.Option(
        True, "--latest/--all", help="Only each target's latest conversion, or every one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The stored exports of a version, compared: per target, each candidate's status, speed,
    accuracy and size, the recommended one starred."""
    from daybreak.registry.exports import list_exports

    found = [e for e in list_exports(get_settings(), ref) if target in (None, e.target)]
    if latest:
        newest = {e.target: e.report.get("conversion") for e in found}
        found = [e for e in found if e.report.get("conversion") == newest[e.target]]
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    if not found:
        console.print(
            f"no exports of {escape(ref)} yet: run `daybreak convert {escape(ref)} --target server-cpu`"
        )
        return
    for name in dict.fromkeys(e.target for e in found):
        console.print(_exports_table(name, [e for e in found if e.target == name]))


def _exports_table(target: str, found: list[Export]) -> Any:
    from daybreak.convert.report import table

    shown = [
        {**(e.report.get("row") or {}), "status": e.status, "recommended": e.recommended}
        for e in found
    ]
    why = found[-1].report.get("why", "")
    return table(shown, f"target {target}", why, ids=[e.id for e in found])
