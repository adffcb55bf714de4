"""``daybreak dailylog build|ls|show``, ``dailylog webhook add|ls|rm`` and ``dailylog deliveries``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from daybreak.cli.console import console, print_json
from daybreak.config import get_settings
from daybreak.errors import ConfigError

dailylog_app = typer.Typer(
    help="The Daily Log: what happened overnight, what went wrong, what to do.",
    no_args_is_help=True,
)
webhook_app = typer.Typer(help="Where Daily Logs are delivered.", no_args_is_help=True)
dailylog_app.add_typer(webhook_app, name="webhook")

FORMAT_HELP = "markdown, html, json, slack, teams or text."
STATUS_STYLE = {"sent": "green", "pending": "yellow", "failed": "bold red"}


def register(app: typer.Typer) -> None:
    """Add the ``dailylog`` group to the ``daybreak`` command."""
    app.add_typer(dailylog_app, name="dailylog")


@dailylog_app.command("build")
def build(
    since: str = typer.Option(
        None,
        "--since",
        help="Start: ISO 8601 in the team's zone, or unix seconds [default: the end of the last log].",
    ),
    until: str = typer.Option(None, "--until", help="End, the same way [default: now]."),
    send: bool = typer.Option(False, "--send", help="Deliver it to every webhook."),
    fmt: str = typer.Option("markdown", "--format", help=FORMAT_HELP),
    out: Path = typer.Option(None, "--out", help="Write it to this file instead of printing it."),
) -> None:
    """Build the log for a window (one log per window: building it again shows the stored one)."""
    from daybreak.dailylog import service, window
    from daybreak.dailylog.formats import check_format

    settings = get_settings()
    check_format(fmt)
    zone = window.team_zone(settings)
    start = window.parse_time(since, zone, "--since") if since else None
    end = window.parse_time(until, zone, "--until") if until else None
    if start is not None and end is not None and start >= end:
        raise ConfigError("--since must be before --until", "give an earlier --since")
    with console.status("building the Daily Log…"):
        log = service.build(settings, since=start, until=end)
    _emit(log, fmt, out)
    if send:
        _send(settings, log["id"])


@dailylog_app.command("show")
def show(
    which: str = typer.Argument("latest", help="A log id, or 'latest'."),
    fmt: str = typer.Option("markdown", "--format", help=FORMAT_HELP),
    out: Path = typer.Option(None, "--out", help="Write it to this file instead of printing it."),
) -> None:
    """Show a stored log."""
    from daybreak.dailylog.formats import check_format

    check_format(fmt)
    _emit(_stored(which), fmt, out)


@dailylog_app.command("ls")
def ls(
    limit: int = typer.Option(30, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stored logs, newest first."""
    from daybreak.dailylog import service, window

    settings = get_settings()
    logs = service.list_logs(settings, limit)
    if as_json:
        print_json(logs)
        return
    if not logs:
        console.print("no Daily Logs yet: build one with `daybreak dailylog build`")
        return
    table = Table("id", "from", "to", "headline")
    for row in logs:
        zone = window.zone_or_utc(row["timezone"])
        table.add_row(
            str(row["id"]),
            window.local_text(row["window_start"], zone),
            window.local_text(row["window_end"], zone),
            escape(row["headline"]),
        )
    console.print(table)


@webhook_app.command("add")
def webhook_add(
    name: str = typer.Argument(..., help="A short name, e.g. team-slack."),
    url: str = typer.Argument(..., help="The incoming-webhook URL."),
    fmt: str = typer.Option(..., "--format", help="slack, teams, json or markdown."),
) -> None:
    """Deliver Daily Logs to a webhook from now on."""
    from daybreak.dailylog import webhooks

    row = webhooks.add_webhook(get_settings(), name, url, fmt)
    console.print(f"webhook [bold]{escape(name)}[/] ({row['format']}) → {webhooks.shown_url(url)}")


@webhook_app.command("ls")
def webhook_ls(as_json: bool = typer.Option(False, "--json")) -> None:
    """Webhooks Daily Logs go to."""
    from daybreak.dailylog import webhooks

    rows = webhooks.list_webhooks(get_settings())
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(
            "no webhooks: add one with `daybreak dailylog webhook add NAME URL --format slack`"
        )
        return
    table = Table("name", "format", "url")
    for row in rows:
        table.add_row(escape(row["name"]), row["format"], escape(webhooks.shown_url(row["url"])))
    console.print(table)


@webhook_app.command("rm")
def webhook_rm(name: str) -> None:
    """Stop delivering to a webhook (its unsent deliveries are marked failed)."""
    from daybreak.dailylog import webhooks

    webhooks.remove_webhook(get_settings(), name)
    console.print(f"removed webhook {escape(name)}")


@dailylog_app.command("deliveries")
def deliveries(
    retry: bool = typer.Option(False, "--retry", help="Send pending and failed ones again now."),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Deliveries of logs to webhooks: sent, pending (to be retried) or failed, with the error."""
    from daybreak.dailylog import deliver

    settings = get_settings()
    if retry:
        with console.status("sending…"):
            deliver.send_pending(settings, retry=True)
    rows = deliver.list_deliveries(settings, limit)
    if as_json:
        print_json(rows)
        return
    _table(rows)
    if any(row["status"] != "sent" for row in rows) and not retry:
        console.print(
            "[dim]send the ones not sent again with `daybreak dailylog deliveries --retry`[/]"
        )


def _stored(which: str) -> dict[str, Any]:
    from daybreak.dailylog import service

    return service.find(get_settings(), which)


def _emit(log: dict[str, Any], fmt: str, out: Path | None) -> None:
    from daybreak.dailylog.formats import render

    text = render(log, fmt)
    if out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot write {out}: {exc.strerror}", "choose a writable path"
            ) from exc
        console.print(f"Daily Log #{log['id']} ({fmt}) written to {escape(str(out))}")
        return
    if fmt == "markdown":
        console.print(Markdown(text))
    else:
        console.file.write(text)
        console.file.flush()


def _send(settings: Any, log_id: int) -> None:
    from daybreak.dailylog import deliver, webhooks

    if not webhooks.list_webhooks(settings):
        raise ConfigError(
            "no webhook to send to",
            "add one with `daybreak dailylog webhook add NAME URL --format slack`",
        )
    with console.status("delivering…"):
        rows = deliver.deliver(settings, log_id)
    _table(rows)
    failed = [row for row in rows if row["status"] != "sent"]
    if failed:
        raise typer.Exit(1)


def _table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no deliveries")
        return
    from daybreak.dailylog import window

    zone = window.team_zone(get_settings())
    table = Table("log", "target", "status", "tries", "when", "error")
    for row in rows:
        when = row["sent_at"] or row["next_attempt_at"] or row["created_at"]
        shown = window.local_text(when, zone)
        if row["status"] == "pending" and row["next_attempt_at"]:
            shown = f"next {shown}"
        style = STATUS_STYLE.get(row["status"], "")
        table.add_row(
            str(row["log_id"]),
            escape(row["target"]),
            f"[{style}]{row['status']}[/]",
            str(row["attempts"]),
            shown,
            escape(row["last_error"] or ""),
        )
    console.print(table)
