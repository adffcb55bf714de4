"""The ``daybreak`` command. Each group lives in its own module and only calls service code."""

from __future__ import annotations

import sys

import typer

from daybreak import __version__
from daybreak.cli.console import fail
from daybreak.errors import DaybreakError

app = typer.Typer(
    name="daybreak",
    help="Daybreak: track, watch, review and ship your team's models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"daybreak {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Daybreak: track, watch, review and ship your team's models."""


def _register() -> None:
    from daybreak.cli import serve

    serve.register(app)
    from daybreak.cli import lake

    app.add_typer(lake.lake_app, name="lake")
    app.add_typer(lake.dataset_app, name="dataset")
    from daybreak.cli import jobs

    jobs.register(app)
    from daybreak.cli import watch

    app.add_typer(watch.watch_app, name="watch")
    from daybreak.cli import dailylog, notes

    dailylog.register(app)
    notes.register(app)
    from daybreak.cli import registry

    registry.register(app)
    from daybreak.cli import convert

    convert.register(app)
    from daybreak.cli import serving

    serving.register(app)
    from daybreak.cli import access

    access.register(app)
    from daybreak.cli import imports

    imports.register(app)
    try:
        from daybreak.cli import runs
    except ImportError:
        return
    app.add_typer(runs.app, name="runs")


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: Daybreak errors become a message, a hint and a non-zero exit code."""
    try:
        app(args=argv, standalone_mode=True)
    except DaybreakError as exc:
        fail(exc.message, exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
