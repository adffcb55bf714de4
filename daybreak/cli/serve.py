"""``daybreak up``, ``daybreak server``, ``daybreak sync`` and ``daybreak db``."""

from __future__ import annotations

import time

import typer

from daybreak.cli.console import console
from daybreak.config import get_settings


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("server")(server)
    app.command("sync")(sync)


def up(
    demo: bool = typer.Option(
        False, "--demo", help="Also train a tiny real PyTorch model that logs to Daybreak."
    ),
    once: bool = typer.Option(
        False, "--once", help="With --demo: exit when the demo has finished and is shown."
    ),
    host: str = typer.Option(None, help="Address to listen on [default: 127.0.0.1]."),
    port: int = typer.Option(None, help="Port to listen on [default: 8765]."),
) -> None:
    """Start the embedded stack: server and background loops, on SQLite and a local folder."""
    settings = get_settings(host=host, port=port)
    from daybreak.stack import running_stack

    with running_stack(settings, settings.host, settings.port) as stack:
        console.print(
            f"[bold]Daybreak[/] is up at [link={stack['url']}]{stack['url']}[/] (home {settings.home})"
        )
        if demo:
            from daybreak.demo import run_demo, verify_demo

            stack["watchdog"].every = 1.0  # the demo's runs are short: look every second
            run_ids = run_demo(settings, stack["url"], console, stack["watchdog"])
            if once:
                verify_demo(stack["url"], run_ids)
                console.print("demo checked: every run is served")
                return
        console.print("Press Ctrl-C to stop.")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("stopping")


def server(
    host: str = typer.Option(None, help="Address to listen on [default: 127.0.0.1]."),
    port: int = typer.Option(None, help="Port to listen on [default: 8765]."),
) -> None:
    """Run only the HTTP server (REST API and web pages)."""
    import uvicorn

    from daybreak.stack import check_port_free
    from daybreak.store.engine import get_database
    from daybreak.web.app import create_app
    from daybreak.web.limits import http_protocol

    settings = get_settings(host=host, port=port)
    get_database(settings.db_url)
    check_port_free(settings.host, settings.port)
    console.print(f"Daybreak server on http://{settings.host}:{settings.port}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        http=http_protocol(),
    )


def sync(
    url: str = typer.Option(None, help="Server URL [default: DAYBREAK_URL]."),
) -> None:
    """Send runs spooled while the server was unreachable (remote mode)."""
    from daybreak.cli.console import fail
    from daybreak.tracking.remote import sync_spools

    settings = get_settings(url=url)
    if not settings.url:
        fail("no server to sync to", "set DAYBREAK_URL or pass --url")
    left = sync_spools(settings)
    if left:
        fail(
            f"{sum(left.values())} batches of {len(left)} runs are still spooled in {settings.spool_dir}",
            "is the server up? run `daybreak sync` again",
        )
    console.print(f"all spooled runs sent to {settings.url}")
