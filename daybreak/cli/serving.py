"""``daybreak serve``: the model server for registered models (see docs/serve.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from daybreak.cli.console import console
from daybreak.config import get_settings

if TYPE_CHECKING:
    from daybreak.serve.models import ModelSet


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    refs: list[str] = typer.Argument(..., help="Models to serve: NAME@ALIAS, NAME@N or NAME."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8766, help="Port to listen on."),
    workers: int = typer.Option(
        0, help="ONNX Runtime sessions per model (0: one per core; one on a GPU)."
    ),
    threads: int = typer.Option(1, help="Intra-op threads per session."),
    target: str | None = typer.Option(
        None,
        help="Serve the recommended export for this target (default: server-gpu where "
        "there is a GPU, then server-cpu, then mobile-cpu).",
    ),
    batching: str = typer.Option("auto", help="Dynamic batching: auto (on a GPU only), on or off."),
    max_batch: int = typer.Option(8, help="Most rows in one batch."),
    batch_wait_ms: float = typer.Option(2.0, help="Longest a request waits for its batch."),
    max_body_mb: float = typer.Option(10.0, help="Largest request body, in MiB."),
    reload_every: float = typer.Option(
        2.0, help="Seconds between checks for a moved alias or a newer export (0: never)."
    ),
) -> None:
    """Serve registered models over HTTP, each with its recommended ONNX export."""
    from daybreak.serve.options import ServeOptions
    from daybreak.serve.server import serve as run_server

    options = ServeOptions(
        workers=workers,
        threads=threads,
        target=target,
        batching=batching,
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        max_body_mb=max_body_mb,
        reload_every=reload_every,
    )
    url = f"http://{host}:{port}"

    def ready(models: ModelSet) -> None:
        for model in models.models:
            if model.loaded is not None:
                export = model.loaded.export
                console.print(
                    f"[green]ready[/]  {escape(model.ref)} → {escape(model.loaded.version.ref)} "
                    f"(export {export.id}, {export.target} {export.precision}, "
                    f"{model.loaded.runner.workers} session(s))"
                )
            elif model.error is not None:
                console.print(
                    f"[red]not loaded[/]  {escape(model.ref)}: {escape(model.error.message)}"
                    + (f" [dim]({escape(model.error.hint)})[/]" if model.error.hint else "")
                )
        console.print(f"serving at {url}/v1/models (Ctrl-C to stop)")

    run_server(get_settings(), refs, options, host, port, ready)
