"""The embedded stack that ``daybreak up`` runs in one process: the server and the background
loops (heartbeat checks, the watchdog, the job agent, the Daily Log's scheduler)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from daybreak.config import Settings
from daybreak.errors import ConfigError


class HeartbeatMonitor(threading.Thread):
    """Marks runs whose heartbeat stopped as crashed, so no run stays "running" forever."""

    def __init__(self, settings: Settings, every: float = 10.0) -> None:
        super().__init__(name="daybreak-heartbeat-monitor", daemon=True)
        self.settings = settings
        self.every = every
        self.crashed: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        from daybreak.tracking.readers import LocalBackend

        backend = LocalBackend(self.settings)
        while not self._stop_event.wait(self.every):
            try:
                self.crashed.extend(backend.check_stale())
            except Exception as exc:  # the loop outlives a database hiccup
                print(f"daybreak: heartbeat check failed: {exc}")

    def stop(self) -> None:
        self._stop_event.set()


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                "another server may be running there; pass --port with a free port",
            ) from exc


class ServerThread:
    """uvicorn serving the app in a background thread (tests, ``up``)."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        import uvicorn

        from daybreak.web.app import create_app
        from daybreak.web.limits import http_protocol

        check_port_free(host, port)
        config = uvicorn.Config(
            create_app(settings),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            http=http_protocol(),
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self.server.run, name="daybreak-server", daemon=True)

    def start(self, timeout: float = 30.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(
                    f"the server did not start at {self.url}", "see the messages above"
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)


@contextlib.contextmanager
def running_stack(
    settings: Settings, host: str, port: int, monitor_every: float = 10.0, agent: bool = True
) -> Iterator[dict[str, Any]]:
    """Server plus background loops (heartbeat monitor, watchdog, job agent), stopped on
    exit."""
    from daybreak.dailylog.scheduler import DailyLogScheduler
    from daybreak.dailylog.window import parse_at, team_zone
    from daybreak.jobs.agent import AgentThread
    from daybreak.store.engine import get_database
    from daybreak.watchdog.monitor import WatchdogThread

    get_database(settings.db_url)
    team_zone(settings)  # a bad time zone or hour stops `up` here, saying what to set instead
    parse_at(settings.dailylog_at)
    server = ServerThread(settings, host, port).start()
    monitor = HeartbeatMonitor(settings, monitor_every)
    monitor.start()
    watchdog = WatchdogThread(settings)
    watchdog.start()
    scheduler = DailyLogScheduler(settings)
    scheduler.start()
    agents = [AgentThread(settings)]
    if settings.executor != "local":  # the team's Ray cluster gets an agent too
        agents.append(AgentThread(settings, settings.executor))
    started = [a for a in agents if agent and a.start()]
    try:
        yield {
            "url": server.url,
            "server": server,
            "monitor": monitor,
            "watchdog": watchdog,
            "dailylog": scheduler,
            "agent": bool(started),
        }
    finally:
        for thread in started:
            thread.stop()
        scheduler.stop()
        watchdog.stop()
        monitor.stop()
        server.stop()
