"""``daybreak watch scan``: the watchdog's findings about runs, on demand."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from daybreak.cli.console import console, print_json
from daybreak.config import get_settings

watch_app = typer.Typer(
    help="The watchdog: what went wrong in runs, and what to do.", no_args_is_help=True
)

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


@watch_app.command("scan")
def scan(
    run_ids: list[str] = typer.Argument(
        None, help="Runs to diagnose [default: every running run]."
    ),
    project: str = typer.Option(None, "--project", help="Only runs of this project."),
    now: float = typer.Option(None, "--now", help="Diagnose as of this unix time."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Diagnose runs: NaNs, divergence, spikes, no learning, overfitting, stalls, crashes,
    slowdowns, idle GPUs, known errors."""
    import daybreak
    from daybreak.tracking.readers import backend
    from daybreak.watchdog import diagnose

    settings = get_settings()
    if not run_ids:
        run_ids = [r.id for r in backend(settings).list_runs(project=project, status="running")]
    results = {}
    for run_id in run_ids:
        view = daybreak.get_run(run_id)
        results[view.id] = (view, diagnose(view, now))
    if as_json:
        print_json({rid: [f.to_dict() for f in found] for rid, (_, found) in results.items()})
        return
    if not results:
        console.print("no running runs to scan (name runs to scan ended ones)")
        return
    table = Table("run", "severity", "kind", "step", "what", "suggestion")
    for view, found in results.values():
        if not found:
            table.add_row(f"{view.id} {escape(view.name)}", "[green]ok[/]", "", "", "", "")
        for finding in found:
            style = SEVERITY_STYLE.get(finding.severity, "")
            table.add_row(
                f"{view.id} {escape(view.name)}",
                f"[{style}]{finding.severity}[/]",
                finding.kind,
                "" if finding.step is None else str(finding.step),
                escape(finding.message),
                escape(finding.suggestion),
            )
    console.print(table)
