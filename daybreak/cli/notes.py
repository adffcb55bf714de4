"""``daybreak note add|ls`` and ``daybreak action add|ls|show|assign|resolve``."""

from __future__ import annotations

import datetime
import getpass
import os
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from daybreak.cli.console import console, print_json
from daybreak.config import get_settings
from daybreak.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from daybreak.store.engine import Database

note_app = typer.Typer(
    help="Notes: the team's shared development log about runs, models, datasets and logs.",
    no_args_is_help=True,
)
action_app = typer.Typer(
    help="Action items: what someone must do, carried from one Daily Log to the next.",
    no_args_is_help=True,
)

OPEN, RESOLVED = "open", "resolved"
RUN_HELP = "A run id or a unique prefix of one."
LOG_HELP = "A Daily Log id, or 'latest'."


def register(app: typer.Typer) -> None:
    """Add the ``note`` and ``action`` groups to the ``daybreak`` command."""
    app.add_typer(note_app, name="note")
    app.add_typer(action_app, name="action")


# -- helpers -------------------------------------------------------------------------------


def _db() -> Database:
    from daybreak.store.engine import get_database

    return get_database(get_settings().db_url)


def _user() -> str:
    """Who is typing: ``$DAYBREAK_USER``, else the OS user name."""
    try:
        return os.environ.get("DAYBREAK_USER") or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return ""


def _run(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    from daybreak.tracking.readers import LocalBackend

    return LocalBackend(get_settings()).resolve(prefix)


def _log(db: Database, value: str | None) -> int | None:
    """A Daily Log id from ``ID`` or ``latest``."""
    if value is None:
        return None
    if value == "latest":
        return _latest_log(db)
    if not (value.isascii() and value.isdigit()):
        raise ConfigError(f"--log {value!r} is not a log id", "give a number, or --log latest")
    return int(value)


def _latest_log(db: Database) -> int:
    import sqlalchemy as sa

    from daybreak.store.schema import daily_logs

    with db.read() as conn:
        found = conn.execute(sa.select(sa.func.max(daily_logs.c.id))).scalar()
    if found is None:
        raise NotFoundError(
            "there is no Daily Log yet, so --log latest has nothing to point at",
            "build one with `daybreak dailylog build`, or leave --log out",
        )
    return int(found)


def _moment(value: str | None, flag: str) -> float | None:
    """Unix seconds from a number or an ISO date/time (local time when it has no zone)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ConfigError(
            f"{flag} {value!r} is neither a unix time nor an ISO date",
            f"for example {flag} 2024-05-01 or {flag} 2024-05-01T09:30",
        ) from None


def _when(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


# -- notes ---------------------------------------------------------------------------------


@note_app.command("add")
def note_add(
    body: str = typer.Argument(..., help="The note, in markdown."),
    run: str = typer.Option(None, "--run", help=RUN_HELP),
    project: str = typer.Option(None, "--project", help="A project."),
    model: str = typer.Option(None, "--model", help="A model, NAME or NAME@VERSION."),
    dataset: str = typer.Option(None, "--dataset", help="A dataset, NAME or NAME@VERSION."),
    log: str = typer.Option(None, "--log", help=LOG_HELP),
    author: str = typer.Option(None, "--author", help="[default: $DAYBREAK_USER or you]"),
) -> None:
    """Write a note about a run, project, model, dataset or Daily Log (or the whole team)."""
    from daybreak.notes import service

    db = _db()
    note_id = service.add_note(
        db,
        body,
        author=_user() if author is None else author,
        run_id=_run(run),
        project=project,
        model=model,
        dataset=dataset,
        log_id=_log(db, log),
    )
    console.print(f"note {note_id} added")


@note_app.command("ls")
def note_ls(
    run: str = typer.Option(None, "--run", help=RUN_HELP),
    project: str = typer.Option(None, "--project", help="Notes of this project (runs included)."),
    model: str = typer.Option(None, "--model", help="NAME (every version) or NAME@VERSION."),
    dataset: str = typer.Option(None, "--dataset", help="NAME (every version) or NAME@VERSION."),
    log: str = typer.Option(None, "--log", help=LOG_HELP),
    since: str = typer.Option(None, "--since", help="Written at or after: unix time or ISO."),
    until: str = typer.Option(None, "--until", help="Written before: unix time or ISO."),
    as_json: bool = typer.Option(False, "--json", help="Print the notes as JSON."),
) -> None:
    """Notes, oldest first; every option narrows the list."""
    from daybreak.notes import service

    db = _db()
    found = service.list_notes(
        db,
        run_id=_run(run),
        project=project,
        model=model,
        dataset=dataset,
        log_id=_log(db, log),
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
    )
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no notes")
        return
    table = Table("id", "written", "author", "about", "note")
    for note in found:
        table.add_row(
            str(note["id"]),
            _when(note["created_at"]),
            escape(note["author"]),
            escape(note["subject"]),
            escape(note["body"]),
        )
    console.print(table)


# -- action items --------------------------------------------------------------------------


@action_app.command("add")
def action_add(
    title: str = typer.Argument(None, help="What to do [default with --finding: the finding]."),
    body: str = typer.Option("", "--body", help="Details, in markdown."),
    owner: str = typer.Option("", "--owner", help="Who does it."),
    project: str = typer.Option(None, "--project", help="The project it is about."),
    run: str = typer.Option(None, "--run", help=RUN_HELP),
    finding: int = typer.Option(None, "--finding", help="A watchdog finding id."),
) -> None:
    """Open an action item, from a title or from a watchdog finding."""
    from daybreak.notes import service

    db = _db()
    if title is None and finding is None:
        raise ConfigError("an action item needs a title", 'daybreak action add "what to do"')
    if title is None:
        item_id = service.action_item_from_finding(db, finding, owner=owner, created_by=_user())
    else:
        item_id = service.add_action_item(
            db,
            title,
            body=body,
            owner=owner,
            project=project,
            run_id=_run(run),
            finding_id=finding,
            created_by=_user(),
        )
    console.print(f"action item {item_id} open")


@action_app.command("ls")
def action_ls(
    show_all: bool = typer.Option(False, "--all", help="Open and resolved items."),
    resolved: bool = typer.Option(False, "--resolved", help="Only resolved items."),
    owner: str = typer.Option(None, "--owner", help="Only items of this owner."),
    project: str = typer.Option(None, "--project", help="Only items of this project."),
    as_json: bool = typer.Option(False, "--json", help="Print the items as JSON."),
) -> None:
    """Action items, oldest first: the open ones unless told otherwise."""
    from daybreak.notes import service

    if show_all and resolved:
        raise ConfigError("--all and --resolved contradict each other", "give one of them")
    status = None if show_all else (RESOLVED if resolved else OPEN)
    items = service.list_action_items(_db(), status=status, owner=owner, project=project)
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("no open action items" if status == OPEN else "no action items")
        return
    console.print(_items_table(items))


def _items_table(items: list[dict[str, Any]]) -> Table:
    table = Table("id", "status", "owner", "title", "about", "opened")
    for item in items:
        style = "yellow" if item["status"] == OPEN else "green"
        table.add_row(
            str(item["id"]),
            f"[{style}]{item['status']}[/]",
            escape(item["owner"] or "—"),
            escape(item["title"]),
            escape(_about(item)),
            _when(item["created_at"]),
        )
    return table


def _about(item: dict[str, Any]) -> str:
    if item["run_id"]:
        return f"run {item['run_id'][:8]} ({item['run_name']})"
    return f"project {item['project']}" if item["project"] else ""


@action_app.command("show")
def action_show(
    item_id: int = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="Print the item as JSON."),
) -> None:
    """One action item: what, who, about what, and how it was resolved."""
    from daybreak.notes import service

    _print_item(service.get_action_item(_db(), item_id), as_json)


def _print_item(item: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(item)
        return
    console.print(f"[bold]action item {item['id']}[/] {item['status']}: {escape(item['title'])}")
    lines = {
        "owner": item["owner"] or "—",
        "about": _about(item),
        "finding": "" if item["finding_id"] is None else str(item["finding_id"]),
        "opened": f"{_when(item['created_at'])} by {item['created_by'] or '—'}",
        "resolved": _resolved(item),
    }
    for key, value in lines.items():
        if value:
            console.print(f"[bold]{key:>9}[/]  {escape(value)}")
    if item["body"]:
        console.print(escape(item["body"]))


def _resolved(item: dict[str, Any]) -> str:
    if item["resolved_at"] is None:
        return ""
    by = item["resolved_by"] or "—"
    return f"{_when(item['resolved_at'])} by {by}: {item['resolution']}"


@action_app.command("assign")
def action_assign(
    item_id: int = typer.Argument(..., metavar="ID"),
    owner: str = typer.Argument(..., metavar="OWNER"),
    as_json: bool = typer.Option(False, "--json", help="Print the item as JSON."),
) -> None:
    """Give an open action item to someone."""
    from daybreak.notes import service

    _print_item(service.assign_action_item(_db(), item_id, owner), as_json)


@action_app.command("resolve")
def action_resolve(
    item_id: int = typer.Argument(..., metavar="ID"),
    note: str = typer.Option(..., "--note", help="What was done (required)."),
    as_json: bool = typer.Option(False, "--json", help="Print the item as JSON."),
) -> None:
    """Close an open action item, saying what was done."""
    from daybreak.notes import service

    _print_item(service.resolve_action_item(_db(), item_id, note, by=_user()), as_json)
