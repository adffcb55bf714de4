"""Daily Log tests: runs with real points in the real store, a night in Europe/Berlin, and a
real HTTP server on 127.0.0.1 that records what webhooks receive."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from daybreak.config import Settings, get_settings
from daybreak.store.engine import get_database
from daybreak.tracking import service
from daybreak.tracking.points import PointFiles, records_from
from daybreak.tracking.records import KeyStats, RunRecord

BERLIN = ZoneInfo("Europe/Berlin")
END = dt.datetime(2026, 11, 20, 9, 30, tzinfo=BERLIN).timestamp()  # the morning of the log
START = END - 86_400.0


@pytest.fixture
def settings(home, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DAYBREAK_TIMEZONE", "Europe/Berlin")
    return get_settings()


def curve(n: int, start: float, interval: float = 1.0, seed: int = 0, floor: float = 0.1):
    """A healthy falling loss: steps, timestamps, values."""
    steps = np.arange(n)
    rng = np.random.default_rng(seed)
    values = floor + np.exp(-steps / (n / 5)) + 0.01 * rng.standard_normal(n)
    return steps, start + steps * interval, values


def make_run(
    settings: Settings,
    run_id: str,
    series: dict[str, tuple[Any, Any, Any]],
    *,
    project: str = "pose",
    name: str | None = None,
    status: str = "finished",
    started: float | None = None,
    ended: float | None = None,
    config: dict[str, Any] | None = None,
    error: str | None = None,
) -> str:
    """A run registered through the tracking service, its points in the real point files."""
    db = get_database(settings.db_url)
    first = min(float(ts[0]) for _, ts, _ in series.values()) if series else START
    last = max(float(ts[-1]) for _, ts, _ in series.values()) if series else START
    started = first if started is None else started
    record = RunRecord(
        id=run_id,
        project=project,
        name=name or run_id,
        config=config or {},
        started_at=started,
        last_heartbeat=time.time() if status == "running" else last,
        pid=None,
        host="elsewhere",
    )
    service.create_run(db, record)
    files = PointFiles(settings.runs_dir / run_id)
    stats = {}
    for key, (steps, stamps, values) in series.items():
        records = records_from(steps, stamps, values)
        files.append(key, records)
        stats[key] = KeyStats.of(records)
    files.close()
    service.index_metrics(db, run_id, stats, heartbeat=None)
    if status != "running":
        service.finish_run(db, run_id, status, last if ended is None else ended, error=error)
    return run_id


class Hook:
    """A real HTTP server on 127.0.0.1 answering from a script of (status, headers, delay)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str], float]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, delay = hook.script.pop(0) if hook.script else (200, {}, 0.0)
                hook.received.append(
                    {"path": self.path, "body": body, "at": time.monotonic(), "status": status}
                )
                if delay:
                    time.sleep(delay)
                answer = b"ok" if status < 400 else b"invalid_payload: no text"
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def json(self, index: int = -1) -> Any:
        return json.loads(self.received[index]["body"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


@pytest.fixture
def night(settings: Settings) -> Callable[[], dict[str, str]]:
    """A night with a healthy finished run, a diverging one (with its finding and the
    watchdog's restart), a crashed one, one still running with a GPU (stalled a while), and
    one from the week before the window."""

    def build() -> dict[str, str]:
        from daybreak.watchdog import Finding
        from daybreak.watchdog.store import record_action, record_findings

        db = get_database(settings.db_url)
        t0 = START + 3600
        steps, stamps, loss = curve(2000, t0, 2.0)
        val_steps = np.arange(99, 2000, 100)
        acc = 0.5 + 0.4 * (1 - np.exp(-val_steps / 600))
        healthy = make_run(
            settings,
            "healthy0001",
            {
                "train/loss": (steps, stamps, loss),
                "val/pck": (val_steps, t0 + val_steps * 2.0, acc),
            },
            name="resnet-a",
            config={"model": "resnet", "metric": "val/pck", "steps": 2000},
        )
        div = loss.copy()
        div[1200:] += np.linspace(0, 3, 800)
        diverged = make_run(
            settings,
            "diverge0001",
            {"train/loss": (steps, stamps, div)},
            name="resnet-lr1",
            status="failed",
            config={"model": "resnet-big", "steps": 2000},
            error="stopped by the watchdog",
        )
        found = record_findings(
            db,
            diverged,
            [
                Finding(
                    "divergence",
                    "critical",
                    1300,
                    "train/loss rose from its best 0.12 to 3.1 from step 1200 on",
                    "restart from the last checkpoint before the onset with a lower learning rate",
                    {"key": "train/loss", "onset_step": 1200, "best": 0.12},
                )
            ],
            now=t0 + 1300 * 2.0,
        )
        record_action(
            db,
            diverged,
            "restart",
            "divergence",
            "restarted from step 1100 with lr x 0.5",
            {"checkpoint_step": 1100},
            finding_id=found[0]["id"],
            now=t0 + 1310 * 2.0,
        )
        c_steps, c_stamps, c_loss = curve(500, t0 + 600, 1.0, seed=2)
        make_run(
            settings,
            "crashed0001",
            {"loss": (c_steps, c_stamps, c_loss)},
            project="face",
            name="mobilenet",
            status="crashed",
            error="Killed",
        )
        r_steps, r_stamps, r_loss = curve(3000, END - 3000 * 1.0, 1.0, seed=3)
        gpu_t = np.arange(END - 3000, END, 5.0)
        util = np.where(np.arange(len(gpu_t)) < len(gpu_t) // 2, 95.0, 5.0)
        make_run(
            settings,
            "running0001",
            {
                "train/loss": (r_steps, r_stamps, r_loss),
                "sys/gpu0/util_percent": (np.arange(len(gpu_t)), gpu_t, util),
            },
            project="face",
            name="vit-long",
            status="running",
            config={"steps": 9000},
        )
        stalled = Finding(
            "stalled",
            "critical",
            None,
            "no new step for 12 minutes while the process is alive",
            "look at the process (py-spy dump) and its data loader",
            {"seconds_since_step": 720},
        )
        record_findings(db, "running0001", [stalled], now=END - 900)
        o_steps, o_stamps, o_loss = curve(100, START - 7 * 86_400, 1.0)
        make_run(settings, "oldrun00001", {"loss": (o_steps, o_stamps, o_loss)}, project="old")
        return {"healthy": healthy, "diverged": diverged}

    return build
