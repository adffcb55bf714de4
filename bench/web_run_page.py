"""The run page with 10 overlaid runs x 10 metrics x 100,000 points, served by a real server.

What a browser does to show it: the page's HTML, then one request per chart for its key in all
ten runs, six at a time (a browser's connections per host), in the compact binary form the page
reads, each downsampled on the server to 2,000 points per run (the most a chart of 1,000 pixels
asks for; extremes kept). Timed from the first request to the last byte, server time plus
transfer over loopback (floor ≤ 1 s). The server runs in its own process.

- cold: downsampled series not yet cached (each repetition asks a new point count);
- warm: the same page loaded again (the series cache holds the answers);
- JSON instead of binary, for information.

Baseline: reading every raw point of the 100 series once in process (``read_history``).

    python bench/web_run_page.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _common
import httpx
import numpy as np
from _common import Result, median

RUNS = 10
KEYS = [f"metric/{n}" for n in range(9)] + ["train/loss"]
POINTS = 100_000
CHART_POINTS = 2000
CONNECTIONS = 6


def seed(settings: Any, points: int) -> list[str]:
    """The runs, written with the real point files and indexed through the tracking service."""
    from daybreak.store.engine import get_database
    from daybreak.tracking import service
    from daybreak.tracking.points import RECORD, PointFiles
    from daybreak.tracking.records import KeyStats, RunRecord

    db = get_database(settings.db_url)
    rng = np.random.default_rng(0)
    start = time.time() - 3600
    ids = []
    for r in range(RUNS):
        run_id = f"page{r:04d}"
        service.create_run(
            db,
            RunRecord(id=run_id, project="bench", name=f"run-{r}", config={"lr": 10.0**-r},
                      started_at=start, last_heartbeat=time.time()),
        )  # fmt: skip
        files = PointFiles(settings.runs_dir / run_id)
        stats = {}
        steps = np.arange(points)
        for k, key in enumerate(KEYS):
            records = np.empty(points, dtype=RECORD)
            records["step"], records["ts"] = steps, start + steps * 0.01
            records["value"] = np.exp(-steps / (points / 4)) * (k + 1) + rng.normal(0, 0.01, points)
            files.append(key, records)
            stats[key] = KeyStats.of(records)
        files.close()
        service.index_metrics(db, run_id, stats, heartbeat=None)
        service.finish_run(db, run_id, "finished", start + points * 0.01)
        ids.append(run_id)
    return ids


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _common_free_port()
    code = (
        "import time; from daybreak.config import get_settings; from daybreak.stack import "
        f"ServerThread; ServerThread(get_settings(), '127.0.0.1', {port}).start(); time.sleep(1e9)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], env=_common.bench_env(home))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def _common_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_page(
    client: httpx.Client, url: str, ids: list[str], points: int, fmt: str
) -> tuple[float, int]:
    """The page and its charts' data as a browser fetches them; returns seconds and bytes."""
    begin = time.perf_counter()
    html = client.get(f"{url}/runs/{ids[0]}", params={"overlay": ",".join(ids[1:])})
    html.raise_for_status()

    def chart(key: str) -> int:
        params = {"runs": ",".join(ids), "keys": key, "points": points, "format": fmt}
        response = client.get(f"{url}/api/series", params=params)
        response.raise_for_status()
        return len(response.content)

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        sizes = list(pool.map(chart, KEYS))
    return time.perf_counter() - begin, len(html.content) + sum(sizes)


def read_raw(settings: Any, ids: list[str]) -> int:
    from daybreak.tracking.points import read_history

    return sum(len(read_history(settings.runs_dir / i, k)) for i in ids for k in KEYS)


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    reps = 3 if options.quick else 7
    points = 20_000 if options.quick else POINTS
    from daybreak.config import get_settings

    results: list[Result] = []
    with _common.temp_home() as home:
        settings = get_settings()
        made = time.perf_counter()
        ids = seed(settings, points)
        made = time.perf_counter() - made
        process, url = start_server(home)
        try:
            limits = httpx.Limits(max_connections=CONNECTIONS)
            with httpx.Client(limits=limits, timeout=60) as client:
                load_page(client, url, ids, CHART_POINTS, "binary")  # imports, page cache
                cold = [
                    load_page(client, url, ids, CHART_POINTS - 1 - n, "binary") for n in range(reps)
                ]
                warm = [load_page(client, url, ids, CHART_POINTS, "binary") for _ in range(reps)]
                as_json = [
                    load_page(client, url, ids, CHART_POINTS - 100 - n, "json") for n in range(reps)
                ]
        finally:
            process.terminate()
            process.wait(10)
        raw = []
        for _ in range(reps):
            begin = time.perf_counter()
            assert read_raw(settings, ids) == RUNS * len(KEYS) * points
            raw.append(time.perf_counter() - begin)

    def ms(found: list[tuple[float, int]]) -> list[float]:
        return [t * 1e3 for t, _ in found]

    shape = f"{RUNS} runs x {len(KEYS)} metrics x {points // 1000}k points"
    baseline = "read every raw point once in process (read_history)"
    results.append(
        Result(
            f"run page, {shape}, first load (series not cached)",
            median(ms(cold)),
            "ms",
            baseline,
            median(raw) * 1e3,
            1000.0,
            note=(
                f"reps {_common.spread(ms(cold))} ms; {cold[0][1] / 1e6:.2f} MB transferred "
                f"(HTML + {len(KEYS)} binary series requests of {RUNS} runs, {CHART_POINTS} points "
                f"per run); seeding took {made:.1f} s"
            ),
        )
    )
    results.append(
        Result(
            "the same page loaded again (series cached)",
            median(ms(warm)),
            "ms",
            baseline,
            median(raw) * 1e3,
            1000.0,
            note=f"reps {_common.spread(ms(warm))} ms; {warm[0][1] / 1e6:.2f} MB",
        )
    )
    results.append(
        Result(
            "first load with JSON series instead of binary",
            median(ms(as_json)),
            "ms",
            baseline,
            median(raw) * 1e3,
            note=f"reps {_common.spread(ms(as_json))} ms; {as_json[0][1] / 1e6:.2f} MB transferred",
        )
    )
    return _common.report("web run page: 10 overlaid runs", results, options)


if __name__ == "__main__":
    sys.exit(main())
