"""``daybreak runs``: list, show, compare, tail, export, import and delete tracked runs."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from daybreak.cli.console import console, print_json, progress
from daybreak.config import get_settings
from daybreak.display import format_duration
from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.store.jsontext import nonfinite_text
from daybreak.tracking import transfer
from daybreak.tracking.readers import SYSTEM_PREFIX, backend
from daybreak.tracking.records import RUNNING, STATUSES, KeyStats, RunRecord

app = typer.Typer(
    help="List, inspect, compare, export, import and delete runs.", no_args_is_help=True
)

STATUS_STYLE = {
    "running": "bold cyan",
    "finished": "green",
    "failed": "bold red",
    "crashed": "bold red",
    "stopped": "yellow",
}
MISSING = "—"


# -- commands -----------------------------------------------------------------------------


@app.command("ls")
def ls(
    project: str | None = typer.Option(None, "--project", "-p", help="Only runs of this project."),
    status: str | None = typer.Option(
        None, "--status", "-s", help=f"Only runs with this status: {', '.join(STATUSES)}."
    ),
    tag: str | None = typer.Option(None, "--tag", "-t", help="Only runs with this tag."),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=1, help="At most this many runs, newest first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List runs, newest first."""
    if status is not None and status not in STATUSES:
        raise ConfigError(f"unknown status {status!r}", f"use one of {', '.join(STATUSES)}")
    store = backend(get_settings())
    records = store.list_runs(project=project, status=status, tag=tag, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    if not records:
        console.print("no runs yet" if not (project or status or tag) else "no runs match")
        return
    table = Table(box=None)
    for column in ("id", "project", "name", "status", "started", "duration"):
        table.add_column(column, no_wrap=column not in ("project", "name"))
    table.add_column("metrics")
    for record in records:
        table.add_row(
            record.id[:8],
            escape(record.project),
            escape(record.name),
            _status(record.status),
            _when(record.started_at, "%Y-%m-%d %H:%M"),
            _duration(record),
            _headline(store.metric_index(record.id)),
        )
    console.print(table)


@app.command("show")
def show(
    run: str = typer.Argument(..., metavar="RUN", help="A run id or a unique prefix of one."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
) -> None:
    """Everything about one run: record, config, summary, metrics, artifacts, notes, error."""
    details = run_details(backend(get_settings()), run)
    if as_json:
        print_json(details)
        return
    record = RunRecord.from_dict(details["run"])
    _print_header(record)
    _print_mapping("config", _flatten(record.config))
    _print_mapping("summary", _flatten(record.summary))
    metrics = {k: KeyStats(**v) for k, v in details["metrics"].items()}
    if metrics:
        console.print(_metrics_table(metrics))
    if details["artifacts"]:
        console.print(_artifacts_table(details["artifacts"]))
    if details.get("datasets"):
        console.print(f"[bold]datasets read[/] {', '.join(details['datasets'])}")
    for note in details["notes"]:
        console.print(
            f"[bold]note[/] {_when(note['created_at'])} {escape(note['author'])}: {escape(note['body'])}"
        )
    for finding in details.get("findings", []):
        state = " (cleared)" if finding["cleared_at"] else ""
        console.print(
            f"[bold]finding[/] {finding['severity']} {finding['kind']} at step {finding['step']}"
            f"{state}: {escape(finding['message'])}"
        )
    for action in details.get("watch_actions", []):
        console.print(
            f"[bold]watchdog[/] {_when(action['at'])} {action['kind']}: {escape(action['message'])}"
        )
    if record.error:
        console.print("[bold red]error[/]")
        console.print(escape(record.error.rstrip()), style="red")


@app.command("compare")
def compare(
    runs: list[str] = typer.Argument(
        ..., metavar="RUN", help="Two or more run ids (or unique prefixes)."
    ),
    metric: list[str] | None = typer.Option(
        None, "--metric", "-m", help="Compare this metric (repeatable); default all."
    ),
    all_config: bool = typer.Option(
        False, "--all", help="Show every config key, not only those that differ."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Runs side by side: config keys that differ, and last/min/max of each metric."""
    if len(runs) < 2:
        raise ConfigError(
            "compare needs at least two runs", "daybreak runs compare RUN RUN [RUN...]"
        )
    result = compare_runs(backend(get_settings()), runs, metric or [], all_config)
    if as_json:
        print_json(result)
        return
    heads = [f"{r['id'][:8]}\n{escape(r['name'])}" for r in result["runs"]]
    config = Table(
        "config", *heads, title="config" if all_config else "config that differs", box=None
    )
    for key, values in result["config"].items():
        config.add_row(escape(key), *(MISSING if v is None else escape(_value(v)) for v in values))
    if result["config"]:
        console.print(config)
    else:
        console.print("config: the same in every run")
    table = Table("metric", *heads, title="metrics: last (min … max)", box=None)
    for key, stats in result["metrics"].items():
        table.add_row(escape(key), *(_stats_cell(s) for s in stats))
    console.print(table)


@app.command("tail")
def tail(
    run: str = typer.Argument(..., metavar="RUN", help="A run id or a unique prefix of one."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing new output until the run ends."
    ),
    lines: int = typer.Option(
        20, "--lines", "-n", min=0, help="How many of the last lines to print first."
    ),
    metrics: bool = typer.Option(
        False, "--metrics", help="Show the latest metric values instead of the output."
    ),
    interval: float = typer.Option(
        1.0, "--interval", min=0.05, help="Seconds between polls with --follow."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the lines (or with --metrics the values) as JSON."
    ),
) -> None:
    """Print a run's captured output (stdout and stderr); with -f, follow it while it runs."""
    if as_json and follow:
        raise ConfigError("--json and --follow do not go together", "drop one of them")
    store = backend(get_settings())
    run_id = store.resolve(run)
    if metrics:
        _tail_metrics(store, run_id, follow, interval, as_json)
        return
    last, offset = last_lines(store, run_id, lines)
    if as_json:
        print_json({"run": run_id, "lines": last, "next_offset": offset})
        return
    _write("".join(last))
    if follow:
        follow_output(store, run_id, offset, interval, _write)


@app.command("export")
def export(
    runs: list[str] | None = typer.Argument(
        None, metavar="RUN", help="Run ids (or unique prefixes) to export."
    ),
    project: str | None = typer.Option(
        None, "--project", "-p", help="Export every run of this project."
    ),
    output: str = typer.Option("-", "--output", "-o", help="File to write, or - for stdout."),
) -> None:
    """Write runs and all their metric points as JSONL (see docs/runs-jsonl.md)."""
    store = backend(get_settings())
    run_ids = transfer.select_runs(store, runs or [], project)
    if output == "-":
        try:
            transfer.export_runs(store, run_ids, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader (head, less) went away: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        return
    total = transfer.count_points(store, run_ids)
    with progress("exporting", total) as advance:
        result = transfer.export_file(store, run_ids, Path(output), advance)
    console.print(
        f"exported {len(result.run_ids)} run(s), {result.points} points to {escape(output)}"
    )


@app.command("import")
def import_(
    file: str = typer.Argument(
        ..., help="A runs JSONL file (from `daybreak runs export`), or - for stdin."
    ),
    project: str | None = typer.Option(
        None, "--project", "-p", help="Put every imported run into this project."
    ),
    new_ids: bool = typer.Option(
        False, "--new-ids", help="Give runs fresh ids instead of refusing ids that exist."
    ),
) -> None:
    """Create runs from a runs JSONL file: all of them, or on any error none."""
    settings = get_settings()
    if file == "-":
        result = transfer.import_runs(settings, sys.stdin.buffer, project, new_ids)
    else:
        path = Path(file)
        if not path.is_file():
            raise NotFoundError(
                f"no file {file}", "give the path of a file written by `daybreak runs export`"
            )
        with (
            path.open("rb") as source,
            progress("importing", path.stat().st_size, unit="bytes") as advance,
        ):
            result = transfer.import_runs(settings, source, project, new_ids, advance)
    console.print(
        f"imported {len(result.run_ids)} run(s), {result.points} points: {', '.join(result.run_ids)}"
    )


@app.command("delete")
def delete(
    runs: list[str] = typer.Argument(
        ..., metavar="RUN", help="Run ids (or unique prefixes) to delete."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    force: bool = typer.Option(False, "--force", help="Also delete runs that are still running."),
) -> None:
    """Delete runs with their metrics, output, artifacts and checkpoints. This cannot be undone."""
    store = backend(get_settings())
    records = list({r.id: r for r in (store.get_run(run) for run in runs)}.values())
    running = [r.id for r in records if r.status == RUNNING]
    if running and not force:
        raise ConflictError(
            f"run {', '.join(running)} is still running",
            "stop it first, or pass --force to delete it while it runs",
        )
    for record in records:
        console.print(
            f"  {record.id}  {escape(record.project)}/{escape(record.name)}  {_status(record.status)}"
        )
    if not yes:
        typer.confirm(f"Delete {len(records)} run(s) and all their data?", abort=True)
    count = store.delete_runs([r.id for r in records])
    console.print(f"deleted {count} run(s)")


# -- what the commands show -----------------------------------------------------------------


def run_details(store: Any, run: str) -> dict[str, Any]:
    """One run as ``show`` presents it: the record, metric index, artifacts, notes, and (on
    the local store) datasets read, watchdog findings and actions."""
    record = store.get_run(run)
    details = {
        "run": record.to_dict(),
        "metrics": {k: s.to_dict() for k, s in store.metric_index(record.id).items()},
        "artifacts": store.artifacts(record.id),
        "notes": store.notes(run_id=record.id),
    }
    if not store.settings.remote:
        from daybreak.lake.datasets import used_by_run
        from daybreak.watchdog import store as watch_store

        details["datasets"] = used_by_run(store.settings, record.id)
        details["findings"] = watch_store.list_findings(store.db, run_ids=[record.id])
        details["watch_actions"] = watch_store.list_actions(store.db, run_ids=[record.id])
    return details


def compare_runs(
    store: Any, runs: list[str], metrics: list[str], all_config: bool
) -> dict[str, Any]:
    """Config values (the differing keys, or all) and metric stats of several runs, in order."""
    records = [store.get_run(r) for r in runs]
    configs = [_flatten(r.config) for r in records]
    keys = sorted({k for c in configs for k in c})
    config = {k: [c.get(k) for c in configs] for k in keys}
    if not all_config:
        config = {
            k: v for k, v in config.items() if not _all_same([c.get(k, MISSING) for c in configs])
        }
    indexes = [store.metric_index(r.id) for r in records]
    known = sorted({k for index in indexes for k in index})
    missing = [m for m in metrics if m not in known]
    if missing:
        raise NotFoundError(
            f"none of these runs has metric {', '.join(repr(m) for m in missing)}",
            f"their metrics: {', '.join(known) or 'none'}",
        )
    chosen = metrics or [k for k in known if not k.startswith(SYSTEM_PREFIX)]
    return {
        "runs": [
            {"id": r.id, "project": r.project, "name": r.name, "status": r.status} for r in records
        ],
        "config": config,
        "metrics": {k: [i[k].to_dict() if k in i else None for i in indexes] for k in chosen},
    }


def last_lines(store: Any, run_id: str, count: int) -> tuple[list[str], int]:
    """The last ``count`` lines of a run's output (with their newlines) and the offset after them."""
    kept: deque[str] = deque(maxlen=count or None)
    partial, offset = "", 0
    while True:
        text, after = store.output(run_id, offset)
        if after == offset:
            break
        offset = after
        pieces = (partial + text).split("\n")
        partial = pieces.pop()
        if count:
            kept.extend(p + "\n" for p in pieces)
    if partial and count:
        kept.append(partial)
    return list(kept), offset


def follow_output(
    store: Any, run_id: str, offset: int, interval: float, write: Callable[[str], None]
) -> int:
    """Write new output as it arrives until the run is no longer running; returns the offset."""
    while True:
        offset = _drain(store, run_id, offset, write)
        if store.get_run(run_id).status != RUNNING:
            return _drain(store, run_id, offset, write)
        time.sleep(interval)


def _drain(store: Any, run_id: str, offset: int, write: Callable[[str], None]) -> int:
    while True:
        text, after = store.output(run_id, offset)
        if after == offset:
            return offset
        write(text)
        offset = after


def _tail_metrics(store: Any, run_id: str, follow: bool, interval: float, as_json: bool) -> None:
    if as_json:
        print_json({k: s.to_dict() for k, s in store.metric_index(run_id).items()})
        return
    if not follow:
        console.print(_metrics_table(store.metric_index(run_id)))
        return
    from rich.live import Live

    with Live(
        _metrics_table(store.metric_index(run_id)), console=console, auto_refresh=False
    ) as live:
        while store.get_run(run_id).status == RUNNING:
            time.sleep(interval)
            live.update(_metrics_table(store.metric_index(run_id)), refresh=True)
        live.update(_metrics_table(store.metric_index(run_id)), refresh=True)


# -- rendering ------------------------------------------------------------------------------


def _write(text: str) -> None:
    """Captured output goes out verbatim: no markup, wrapping or highlighting."""
    console.file.write(text)
    console.file.flush()


def _print_header(record: RunRecord) -> None:
    console.print(
        f"[bold]{record.id}[/]  {escape(record.project)} / [bold]{escape(record.name)}[/]  {_status(record.status)}"
    )
    ended = _when(record.ended_at) if record.ended_at is not None else MISSING
    facts = {
        "started": _when(record.started_at),
        "ended": ended,
        "duration": _duration(record),
        "attempts": str(record.attempts),
        "host": record.host or MISSING,
        "command": record.command or MISSING,
        "tags": ", ".join(record.tags) or MISSING,
    }
    if record.git:
        facts["git"] = " ".join(f"{k}={_value(v)}" for k, v in record.git.items())
    table = Table(show_header=False, box=None)
    for name, value in facts.items():
        table.add_row(f"[dim]{name}[/]", escape(value))
    console.print(table)


def _print_mapping(title: str, values: Mapping[str, Any]) -> None:
    if not values:
        return
    table = Table("key", "value", title=title, title_justify="left", box=None)
    for key, value in values.items():
        table.add_row(escape(key), escape(_value(value)))
    console.print(table)


def _metrics_table(index: Mapping[str, KeyStats]) -> Table:
    table = Table(
        "metric", "step", "last", "min", "max", "count", "non-finite", title="metrics", box=None
    )
    table.title_justify = "left"
    for key, s in index.items():
        table.add_row(
            escape(key),
            MISSING if s.last_step is None else str(s.last_step),
            _num(s.last),
            _num(s.min),
            _num(s.max),
            str(s.count),
            str(s.nonfinite) if s.nonfinite else "",
        )
    return table


def _artifacts_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("id", "name", "kind", "step", "size", "created", title="artifacts", box=None)
    table.title_justify = "left"
    for row in rows:
        step = row.get("step")
        table.add_row(
            str(row["id"]),
            escape(str(row["name"])),
            str(row["kind"]),
            MISSING if step is None else str(step),
            _size(int(row.get("size") or 0)),
            _when(row["created_at"]),
        )
    return table


def _stats_cell(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return MISSING
    return f"{_num(stats['last'])} ({_num(stats['min'])} … {_num(stats['max'])})"


def _headline(index: Mapping[str, KeyStats], count: int = 2) -> str:
    """A couple of last values for the list: losses and accuracies first."""

    def rank(key: str) -> tuple[int, str]:
        name = key.lower()
        return (0 if "loss" in name else 1 if "acc" in name else 2, key)

    keys = sorted((k for k in index if not k.startswith(SYSTEM_PREFIX)), key=rank)[:count]
    return "  ".join(f"{escape(k)}={_num(index[k].last)}" for k in keys)


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]"


def _when(ts: float | None, form: str = "%Y-%m-%d %H:%M:%S") -> str:
    return MISSING if ts is None else time.strftime(form, time.localtime(ts))


def _duration(record: RunRecord) -> str:
    end = record.ended_at if record.ended_at is not None else time.time()
    return format_duration(end - record.started_at)


def _num(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    value = float(value)
    return f"{value:.6g}" if math.isfinite(value) else nonfinite_text(value)


def _size(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"opt": {"lr": 1}}`` becomes ``{"opt.lr": 1}`` so nested configs compare key by key."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _all_same(values: list[Any]) -> bool:
    return all(v == values[0] and type(v) is type(values[0]) for v in values[1:])
