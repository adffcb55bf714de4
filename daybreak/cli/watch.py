"""``daybreak watch scan``: the watchdog's findings about runs, on demand."""

from __future__ import annotations

import time

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


@watch_app.command("run")
def run_loop(
    every: float = typer.Option(
        None, "--every", help="Seconds between passes [default: setting watch_interval]."
    ),
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    act: bool = typer.Option(True, "--act/--no-act", help="Carry out the projects' policies."),
) -> None:
    """Watch the live runs continuously (what `daybreak up` does in the background): store
    findings and act on new ones by each project's policy, until Ctrl-C."""
    from daybreak.watchdog.monitor import Watchdog

    settings = get_settings()
    watchdog = Watchdog(settings, act=act)
    interval = settings.watch_interval if every is None else every
    try:
        while True:
            report = watchdog.run_pass()
            for finding in report.new_findings:
                style = SEVERITY_STYLE.get(finding["severity"], "")
                console.print(
                    f"[{style}]{finding['severity']}[/] {finding['run_id']} {finding['kind']}: "
                    f"{escape(finding['message'])}"
                )
            for action in report.actions:
                console.print(f"[bold]{action['kind']}[/] {escape(action['message'])}")
            for error in report.errors:
                console.print(f"[red]error[/] {escape(error)}")
            console.print(
                f"[dim]pass: {report.runs} runs, {report.diagnosed} with new points, "
                f"{report.seconds * 1000:.0f} ms[/]"
            )
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        console.print("stopped")


@watch_app.command("findings")
def findings_ls(
    run_ids: list[str] = typer.Argument(None, help="Only these runs."),
    since: float = typer.Option(None, "--since", help="First seen at or after this unix time."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Findings the watchdog stored, and what it did about them."""
    from daybreak.store.engine import get_database
    from daybreak.tracking.readers import LocalBackend
    from daybreak.watchdog import store

    settings = get_settings()
    db = get_database(settings.db_url)
    ids = [LocalBackend(settings).resolve(r) for r in run_ids] if run_ids else None
    found = store.list_findings(db, run_ids=ids, since=since)
    actions = store.list_actions(db, run_ids=ids, since=since)
    if as_json:
        print_json({"findings": found, "actions": actions})
        return
    table = Table("id", "run", "severity", "kind", "step", "what", "state")
    for row in found:
        style = SEVERITY_STYLE.get(row["severity"], "")
        table.add_row(
            str(row["id"]),
            f"{row['run_id']} {escape(row['run_name'])}",
            f"[{style}]{row['severity']}[/]",
            row["kind"],
            "" if row["step"] is None else str(row["step"]),
            escape(row["message"]),
            "cleared" if row["cleared_at"] else "open",
        )
    console.print(table if found else "no findings stored")
    for action in actions:
        console.print(
            f"{_when(action['at'])} [bold]{action['kind']}[/] {action['run_id']}: {escape(action['message'])}"
        )


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


policy_app = typer.Typer(
    help="What the watchdog does about findings, per project.", no_args_is_help=True
)
watch_app.add_typer(policy_app, name="policy")


@policy_app.command("set")
def policy_set(
    project: str = typer.Argument(..., help="A project, or * for every project without its own."),
    on: str = typer.Option(
        "", "--on", help="Finding kinds, comma-separated [default: every kind]."
    ),
    action: str = typer.Option("notify", "--action", help="notify, stop or restart."),
    min_severity: str = typer.Option(
        "warning", "--min-severity", help="info, warning or critical."
    ),
    lr_scale: float = typer.Option(
        None, "--lr-scale", help="restart: multiply the learning rate by this."
    ),
    clip_grad: float = typer.Option(
        None, "--clip-grad", help="restart: clip the gradient norm to this."
    ),
    max_restarts: int = typer.Option(
        2, "--max-restarts", help="restart: at most this many per run, then stop."
    ),
    append: bool = typer.Option(
        False, "--append", help="Add this rule after the project's others."
    ),
) -> None:
    """Set a project's policy to one rule (or --append it): e.g. `--on divergence,nan --action
    restart --lr-scale 0.5 --clip-grad 1.0 --max-restarts 2`."""
    from daybreak.store.engine import get_database
    from daybreak.watchdog import policy

    db = get_database(get_settings().db_url)
    kinds = [k.strip() for k in on.split(",") if k.strip()]
    rule = policy.make_rule(kinds, action, min_severity, lr_scale, clip_grad, max_restarts)
    rules = list(policy.policies(db).get(project, ())) if append else []
    policy.set_policy(db, project, [*rules, rule])
    console.print(f"{project}: " + "; ".join(r.describe() for r in [*rules, rule]))


@policy_app.command("ls")
def policy_ls(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every project's policy (projects without one use *, else: notify about everything)."""
    from daybreak.store.engine import get_database
    from daybreak.watchdog import policy

    stored = policy.policies(get_database(get_settings().db_url))
    if as_json:
        print_json({p: [r.to_dict() for r in rules] for p, rules in stored.items()})
        return
    table = Table("project", "rules")
    for project, rules in sorted(stored.items()):
        table.add_row(escape(project), "\n".join(escape(r.describe()) for r in rules))
    if "*" not in stored:
        table.add_row("* (default)", policy.DEFAULT[0].describe())
    console.print(table)


@policy_app.command("rm")
def policy_rm(project: str) -> None:
    """Remove a project's policy (it falls back to *)."""
    from daybreak.store.engine import get_database
    from daybreak.watchdog import policy

    policy.remove_policy(get_database(get_settings().db_url), project)
    console.print(f"removed the policy of {project}")
