"""Running the serving app under uvicorn: in the foreground (``daybreak serve``) or in a
background thread (tests, benchmarks)."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from typing import Any

from daybreak.config import Settings
from daybreak.errors import ConfigError
from daybreak.serve.app import create_app
from daybreak.serve.models import ModelSet
from daybreak.serve.options import ServeOptions


def uvicorn_config(app: Any, host: str, port: int) -> Any:
    """httptools and uvloop where installed (they parse and schedule faster than h11 and
    asyncio's loop), no access log (it costs more than a small model's prediction)."""
    import uvicorn

    from daybreak.web.limits import http_protocol

    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http_protocol(),
        loop=loop,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
    )


def serve(
    settings: Settings,
    refs: list[str],
    options: ServeOptions,
    host: str,
    port: int,
    on_ready: Callable[[ModelSet], Any] | None = None,
) -> None:
    """Serve until interrupted."""
    import uvicorn

    from daybreak.stack import check_port_free

    check_port_free(host, port)
    uvicorn.Server(uvicorn_config(create_app(settings, refs, options, on_ready), host, port)).run()


class ServeThread:
    """The serving app under uvicorn in a background thread; ``start`` returns once every
    model has loaded or failed to."""

    def __init__(
        self,
        settings: Settings,
        refs: list[str],
        options: ServeOptions | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        import uvicorn

        from daybreak.stack import check_port_free

        if port == 0:
            port = _free_port(host)
        check_port_free(host, port)
        self.app = create_app(settings, refs, options)
        self.server = uvicorn.Server(uvicorn_config(self.app, host, port))
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self.server.run, name="daybreak-serve", daemon=True)

    @property
    def models(self) -> ModelSet:
        models: ModelSet = self.app.state.models
        return models

    def start(self, timeout: float = 60.0) -> ServeThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (self.server.started and self.models.settled.is_set()):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the model server did not start at {self.url}", "see its log")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)

    def __enter__(self) -> ServeThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
