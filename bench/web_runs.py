"""The runs table over 10,000 runs, served by a real server in its own process.

10,000 runs in 8 projects (finished, failed, crashed and a few running), each with a config
of 6 values (one nested), 2 tags at most and 6 indexed metrics, made through the tracking
service. Timed from the request to the last byte over loopback, median of repetitions
(floor ≤ 300 ms for the page):

1. ``/runs``: the whole page as a browser first loads it: the newest 50 rows with the default
   columns (name, project, status, started, duration, tags and 4 key metrics);
2. the same page filtered on a config value and a metric, sorted by a metric, grouped by a
   config key, with two config columns chosen;
3. the same query as JSON (``/api/runs-table``), for information.

Baselines in the same run and server: ``/api/runs?limit=50`` (the runs list the old project
page was built on: it reads every run, then keeps 50) and ``/api/health`` (a bare request).

    python bench/web_runs.py [--quick]
"""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import httpx
from _common import Result, median

RUNS = 10_000
PROJECTS = 8
STATUSES = ("finished",) * 6 + ("failed", "crashed")
KEYS = ("train/loss", "val/loss", "val/acc", "lr", "sys/gpu0/util_percent", "sys/cpu_percent")
HARD_VIEW = {
    "q": "config.lr>=0.001 val/acc>0.5 status:finished,failed",
    "sort": "metric.val/acc",
    "group": "config.model",
    "cols": "name,project,status,config.lr,config.optim.beta,metric.val/acc,metric.val/loss",
}


def seed(settings: Any, count: int) -> float:
    """``count`` runs through the tracking service; returns the seconds it took."""
    from daybreak.store.engine import get_database
    from daybreak.tracking import service
    from daybreak.tracking.records import KeyStats, RunRecord

    db = get_database(settings.db_url)
    began = time.perf_counter()
    now = time.time()
    for i in range(count):
        run_id = f"bench{i:06d}"
        start = now - (count - i) * 30.0
        service.create_run(
            db,
            RunRecord(
                id=run_id,
                project=f"project-{i % PROJECTS}",
                name=f"{('resnet', 'vit', 'unet', 'mlp')[i % 4]}-{i}",
                status="running",
                config={
                    "lr": (1e-2, 3e-3, 1e-3, 3e-4)[i % 4],
                    "model": f"net{i % 12}",
                    "batch": 32 * (1 + i % 4),
                    "amp": i % 2 == 0,
                    "optim": {"name": "adamw", "beta": 0.9 + (i % 10) / 100},
                    "seed": i,
                },
                tags=["baseline"] * (i % 5 == 0) + ["sweep"] * (i % 3 == 0),
                started_at=start,
                last_heartbeat=now,
                host=f"gpu-{i % 4}",
            ),
        )
        stats = {
            key: KeyStats(count=1000, last=((i * 7 + k) % 100) / 100, last_step=999,
                          first_ts=start, last_ts=start + 600)
            for k, key in enumerate(KEYS)
        }  # fmt: skip
        service.index_metrics(db, run_id, stats, heartbeat=None)
        if i < count - 5:  # the newest few are still running
            service.finish_run(db, run_id, STATUSES[i % len(STATUSES)], start + 600)
    return time.perf_counter() - began


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
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


def timed(fetch: Callable[[], httpx.Response], reps: int) -> tuple[list[float], httpx.Response]:
    """Seconds per request, from sending it to its last byte."""
    out = []
    response = fetch()  # warm: imports, templates, the database's page cache
    for _ in range(reps):
        gc.collect()
        began = time.perf_counter()
        response = fetch()
        response.read()
        out.append(time.perf_counter() - began)
        assert response.status_code == 200, response.text[:300]
    return out, response


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    reps = 5 if options.quick else 25
    count = 2000 if options.quick else RUNS
    from daybreak.config import get_settings

    results: list[Result] = []
    with _common.temp_home() as home:
        made = seed(get_settings(), count)
        process, url = start_server(home)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                page, first = timed(lambda: client.get("/runs"), reps)
                hard, view = timed(lambda: client.get("/runs", params=HARD_VIEW), reps)
                api, body = timed(lambda: client.get("/api/runs-table", params=HARD_VIEW), reps)
                listing, _ = timed(lambda: client.get("/api/runs", params={"limit": 50}), reps)
                bare, _ = timed(lambda: client.get("/api/health"), reps)
        finally:
            process.kill()
            process.wait()
    assert f'data-total="{count}"' in first.text and 'data-rows="50"' in first.text
    matched = body.json()["total"]
    assert f'data-total="{matched}"' in view.text and body.json()["groups"]
    results += [
        Result(
            f"/runs over {count:,} runs: newest 50, default columns",
            median(page) * 1e3,
            "ms",
            "/api/runs?limit=50",
            median(listing) * 1e3,
            300.0,
            note=(
                f"reps {_common.spread([t * 1e3 for t in page])} ms; HTML {len(first.content) / 1e3:.0f} KB; "
                f"a bare request (/api/health) {median(bare) * 1e3:.1f} ms; seeding took {made:.0f} s"
            ),
        ),
        Result(
            "/runs filtered on config + metric, sorted by a metric, grouped by a config key",
            median(hard) * 1e3,
            "ms",
            "/api/runs?limit=50",
            median(listing) * 1e3,
            300.0,
            note=(
                f"reps {_common.spread([t * 1e3 for t in hard])} ms; {matched:,} runs match, "
                f"{len(body.json()['groups'])} groups; view: {HARD_VIEW}"
            ),
        ),
        Result(
            "the same view as JSON (/api/runs-table)",
            median(api) * 1e3,
            "ms",
            "/api/health",
            median(bare) * 1e3,
            note=f"{len(body.content) / 1e3:.0f} KB",
        ),
    ]
    return _common.report(f"web_runs: the runs table over {count:,} runs", results, options)


if __name__ == "__main__":
    sys.exit(main())
