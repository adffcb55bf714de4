"""``daybreak import tensorboard|mlflow``: runs recorded by other tools become Daybreak runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from daybreak.cli.console import console, errors, print_json, progress
from daybreak.config import get_settings
from daybreak.importers.common import DEFAULT_PROJECT, ImportResult

app = typer.Typer(
    help="Import runs from TensorBoard event files or an MLflow tracking server (docs/import.md).",
    no_args_is_help=True,
)

JSON_HELP = "Print a summary as JSON."


def register(root: typer.Typer) -> None:
    """Add the ``import`` group to the ``daybreak`` command."""
    root.add_typer(app, name="import")


@app.command("tensorboard")
def tensorboard(
    folder: Path = typer.Argument(
        ..., metavar="DIR", help="A TensorBoard log folder (what you pass to --logdir)."
    ),
    project: str | None = typer.Option(
        None, "--project", "-p", help=f"Project of the runs (default {DEFAULT_PROJECT!r})."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every folder under DIR with event files becomes a run, with all its scalar points."""
    from daybreak.importers import tensorboard as importer

    settings = get_settings()
    plan = importer.plan(settings, folder, project)
    with progress("reading event files", plan.total, unit="bytes") as advance:
        result = importer.import_plan(settings, plan, advance)
    _report(result, as_json)


@app.command("mlflow")
def mlflow(
    uri: str = typer.Argument(
        ...,
        metavar="URI",
        help="An MLflow tracking URI: http://HOST:5000, sqlite:///mlflow.db or ./mlruns.",
    ),
    experiment: list[str] | None = typer.Option(
        None,
        "--experiment",
        "-e",
        help="Only this experiment, by name or id (repeatable); default every active one.",
    ),
    project: str | None = typer.Option(
        None, "--project", "-p", help="Put every run in this project (default: its experiment)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Each MLflow run becomes a run: params, tags, status, times and every metric point."""
    from daybreak.importers import mlflow as importer

    settings = get_settings()
    plan = importer.plan(settings, uri, experiment or [], project)
    with progress("reading MLflow runs", plan.total) as advance:
        result = importer.import_plan(settings, plan, advance)
    _report(result, as_json)


def _report(result: ImportResult, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    if result.imported:
        table = Table(box=None)
        for column in ("id", "project", "name", "points"):
            table.add_column(column, justify="right" if column == "points" else "left")
        for run in result.imported:
            table.add_row(run.id, escape(run.project), escape(run.name), f"{run.points:,}")
        console.print(table)
    for skipped in result.skipped:
        console.print(f"skipped {escape(skipped.source)}: {escape(skipped.reason)}")
    for name, key in sorted(result.renamed.items()):
        console.print(f"renamed {escape(name)!r} to metric key {escape(key)!r}")
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}")
    rate = f" in {result.seconds:.1f} s" if result.imported else ""
    console.print(
        f"imported {len(result.imported)} run(s), {result.points:,} points from "
        f"{result.tool} {escape(result.source)}{rate}"
        + (f"; {len(result.skipped)} skipped" if result.skipped else "")
    )
