"""``daybreak submit``, ``daybreak agent`` and ``daybreak jobs ls|show|logs|cancel|retry|requeue``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from daybreak.cli.console import console, print_json
from daybreak.config import get_settings
from daybreak.display import format_duration

jobs_app = typer.Typer(help="The job queue: list, inspect, cancel, retry.", no_args_is_help=True)

STATUS_STYLE = {
    "queued": "cyan",
    "running": "green",
    "succeeded": "bold green",
    "failed": "red",
    "cancelled": "yellow",
}


def submit(
    entry: str = typer.Argument(
        None, help="A script (train.py), -m package.module, or a command; or use --spec."
    ),
    args: list[str] = typer.Argument(None, help="Arguments for the entry point (after --)."),
    spec_file: Path = typer.Option(None, "--spec", help="A YAML job spec."),
    module: bool = typer.Option(False, "-m", "--module", help="ENTRY is a Python module."),
    config: Path = typer.Option(None, "--config", help="A YAML/JSON config file for the job."),
    dataset: list[str] = typer.Option([], "--dataset", help="A dataset version it reads (repeat)."),
    gpus: str = typer.Option("0", "--gpus", help="GPUs it needs."),
    cpus: str = typer.Option("1", "--cpus", help="CPUs it needs."),
    memory: str = typer.Option(None, "--memory", help="Memory it needs, e.g. 16G."),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
    retries: int = typer.Option(2, "--retries", help="Times a failed attempt is retried."),
    timeout: str = typer.Option(None, "--timeout", help="Stop it after this long, e.g. 12h."),
    project: str = typer.Option("default", "--project"),
    name: str = typer.Option(None, "--name"),
    tag: list[str] = typer.Option([], "--tag", help="A tag (repeat)."),
    sweep: list[str] = typer.Option(
        [], "--sweep", help="KEY=V1,V2: one job per point of the grid (repeat for more keys)."
    ),
    code: str = typer.Option(
        "snapshot", "--code", help="snapshot (the working tree now), commit (HEAD) or none."
    ),
    executor: str = typer.Option(
        None, "--executor", help="local or ray://HOST:PORT [default: settings]."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Queue a job (or one per sweep point); the code is frozen now."""
    from daybreak.jobs import service, spec

    settings = get_settings()
    if spec_file is not None:
        if entry:
            raise spec.SpecError("give an entry point or --spec, not both", "")
        job, grid = spec.from_yaml(spec_file)
    else:
        if not entry:
            raise spec.SpecError("no entry point", "daybreak submit train.py, or --spec job.yaml")
        job = spec.build(
            entry,
            args or [],
            config,
            dataset,
            gpus,
            cpus,
            memory,
            priority,
            retries,
            timeout,
            project,
            name,
            tag,
            executor=executor or settings.executor,
            code=code,
            module=module,
        )
        grid = {}
    grid = {**grid, **spec.parse_sweep(sweep)}
    records = service.submit(settings, job, grid)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    for record in records:
        console.print(f"queued [bold]{record.id}[/] {escape(record.name)} → run {record.run_id}")
    if not service.live_agents(settings):
        console.print(
            "[yellow]no agent is running[/]: start one with `daybreak agent` (or `daybreak up`)"
        )


def agent(
    slots: int = typer.Option(None, "--slots", help="CPU jobs at once [default: cores]."),
    executor: str = typer.Option(
        "local", "--executor", help="local, or ray://HOST:PORT to run that executor's jobs on Ray."
    ),
) -> None:
    """Run queued jobs on this machine (or a Ray cluster) until Ctrl-C; running jobs keep running."""
    import threading

    from daybreak.jobs.agent import run_agent

    settings = get_settings()
    stop = threading.Event()
    console.print(f"agent for {executor}; database {settings.db_url}")
    try:
        run_agent(settings, stop, slots, executor)
    except KeyboardInterrupt:
        stop.set()
        console.print("agent stopped; running jobs keep running and are re-attached next time")


@jobs_app.command("ls")
def ls(
    status: str = typer.Option(None, "--status"),
    project: str = typer.Option(None, "--project"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Jobs, newest first."""
    from daybreak.jobs import service

    records = service.list_jobs(get_settings(), status, project, limit)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    table = Table("job", "name", "status", "attempt", "gpus", "priority", "run", "age", "why")
    now = time.time()
    for r in records:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(
            r.id,
            escape(r.name),
            f"[{style}]{r.status}[/]",
            f"{r.attempt}/{r.max_retries + 1}",
            str(r.gpus),
            str(r.priority),
            r.run_id,
            format_duration(now - r.created_at),
            escape(r.reason or ""),
        )
    console.print(table)


@jobs_app.command("show")
def show(job_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One job: its spec, state and history (every attempt)."""
    from daybreak.jobs import service

    settings = get_settings()
    record = service.get(settings, job_id)
    history = service.events(settings, record.id)
    if as_json:
        print_json({**record.to_dict(), "events": history})
        return
    details = record.to_dict()
    for key in ("id", "name", "project", "status", "reason", "command", "run_id", "attempt"):
        console.print(f"[bold]{key:>12}[/]  {escape(str(details[key]))}")
    console.print(f"[bold]{'resources':>12}[/]  {details['spec']['resources']}")
    console.print(f"[bold]{'config':>12}[/]  {escape(str(details['spec']['config']))}")
    console.print(f"[bold]{'code':>12}[/]  {record.code_uri or '(not frozen)'}")
    table = Table("when", "attempt", "event", "detail", title="history")
    for event in history:
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(event["at"])),
            str(event["attempt"]),
            event["kind"],
            escape(event["detail"]),
        )
    console.print(table)
    if record.error:
        console.print("[bold]last lines of the log[/]")
        console.print(record.error[-2000:], markup=False, highlight=False)


@jobs_app.command("logs")
def logs(
    job_id: str,
    attempt: int = typer.Option(None, "--attempt", help="Which attempt [default: the latest]."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing while it runs."),
) -> None:
    """The output of a job attempt."""
    import sys

    from daybreak.jobs import service

    settings = get_settings()
    record = service.get(settings, job_id)
    number = attempt or max(record.attempt, 1)
    path = settings.home / "jobs" / record.id / f"attempt-{number}.log"
    if not path.exists() and not follow:
        raise service.JobStateError(
            f"job {record.id} has no log for attempt {number} yet", f"it is {record.status}"
        )
    offset = 0
    while True:
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
                offset += len(chunk)
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()
        if not follow or service.get(settings, record.id).status in service.DONE:
            return
        time.sleep(0.5)


def _apply(
    action: Callable[[Any, str], Any],
    job_ids: list[str],
    as_json: bool,
    say: Callable[[Any], str],
) -> None:
    """Run a queue action on each job, then print the jobs (or one line each)."""
    settings = get_settings()
    records = [action(settings, job_id) for job_id in job_ids]
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    for record in records:
        console.print(f"{record.id}: {say(record)}")


@jobs_app.command("cancel")
def cancel(job_ids: list[str], as_json: bool = typer.Option(False, "--json")) -> None:
    """Cancel jobs: queued ones at once, running ones are stopped (whole process group)."""
    from daybreak.jobs import service

    _apply(
        service.cancel,
        job_ids,
        as_json,
        lambda r: "cancel requested" if r.status == "running" else r.status,
    )


@jobs_app.command("retry")
def retry(job_ids: list[str], as_json: bool = typer.Option(False, "--json")) -> None:
    """Put failed or cancelled jobs back in the queue; they continue their run from its last checkpoint."""
    from daybreak.jobs import service

    _apply(
        service.retry, job_ids, as_json, lambda r: f"queued again (attempt {r.attempt + 1} next)"
    )


@jobs_app.command("requeue")
def requeue(job_ids: list[str], as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop running jobs and put them back in the queue (they resume from their checkpoint)."""
    from daybreak.jobs import service

    _apply(service.requeue, job_ids, as_json, lambda r: "will stop and go back in the queue")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("agent")(agent)
    app.add_typer(jobs_app, name="jobs")
