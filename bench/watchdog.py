"""The continuous watchdog: one pass over 200 live runs holding 2M points in total.

Each run has a training loss (8,000 points), a learning rate (1,600) and a validation loss
(400), as a run logging every step with evaluations every 20 steps would. Between passes every
run appends 1% more points (what a few seconds of training add). Figures:

1. an incremental pass (after the first): the floor is ≤ 1 s. Baseline: ``diagnose()`` on
   every run, which re-reads each whole history, as a watchdog without memory would.
2. the first pass, which reads everything once (no floor).

    python bench/watchdog.py [--quick]
"""

from __future__ import annotations

import os
import time

import _common
import numpy as np
from _common import Result, median

KEYS = {"train/loss": 1, "lr": 5, "val/loss": 20}  # key → logged every N steps


def make_runs(settings, count: int, steps: int) -> list[str]:
    from daybreak.store.engine import get_database
    from daybreak.tracking import service
    from daybreak.tracking.records import RunRecord

    db = get_database(settings.db_url)
    now = time.time()
    ids = []
    for index in range(count):
        run_id = f"bench{index:04d}"
        service.create_run(
            db,
            RunRecord(run_id, "bench", run_id, started_at=now - steps * 0.1, last_heartbeat=now),
        )
        append(settings.runs_dir / run_id, 0, steps, now - steps * 0.1, seed=index)
        ids.append(run_id)
    return ids


def append(run_dir, start: int, stop: int, t0: float, seed: int) -> int:
    """Log steps ``start..stop`` of a healthy, noisy run; returns the points written."""
    from daybreak.tracking import points

    rng = np.random.default_rng(seed * 100_000 + start)
    files = points.PointFiles(run_dir)
    written = 0
    for key, every in KEYS.items():
        steps = np.arange(start, stop)
        steps = steps[(steps + 1) % every == 0]
        base = 0.2 + 2.0 * np.exp(-steps / 3000)
        values = (
            base * (1 + 0.1 * rng.standard_normal(len(steps)))
            if key != "lr"
            else 1e-3 * np.ones(len(steps))
        )
        files.append(key, points.records_from(steps, t0 + steps * 0.1, values))
        written += len(steps)
    files.close()
    return written


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    count, steps, passes = (50, 8000, 3) if options.quick else (200, 8000, 5)
    from daybreak.config import get_settings
    from daybreak.watchdog import diagnose
    from daybreak.watchdog.monitor import Watchdog

    results: list[Result] = []
    with _common.temp_home() as home:
        os.environ["DAYBREAK_STALE_AFTER"] = "1e9"  # the runs are live: their heartbeat is fake
        settings = get_settings()
        ids = make_runs(settings, count, steps)
        total = sum(
            len(np.fromfile(f, dtype="<i8")) // 3 for f in home.glob("runs/*/metrics/*.points")
        )
        watchdog = Watchdog(settings, act=False)
        first = watchdog.run_pass()
        assert not first.errors, first.errors
        incremental, baseline = [], []
        stop = steps
        for _ in range(passes):
            t0 = time.time() - stop * 0.1
            for index, run_id in enumerate(ids):
                append(settings.runs_dir / run_id, stop, stop + steps // 100, t0, index)
            stop += steps // 100
            report = watchdog.run_pass()
            assert report.diagnosed == count and not report.errors, report
            incremental.append(report.seconds)
            started = time.perf_counter()
            for run_id in ids:
                diagnose(run_id)
            baseline.append(time.perf_counter() - started)
        results.append(
            Result(
                f"incremental watchdog pass: {count} live runs, {total / 1e6:.1f}M points",
                median(incremental),
                "s",
                "diagnose() on every run (re-reads every history)",
                median(baseline),
                1.0,
                note=f"passes {_common.spread(incremental)} s; each after 1% more points per run",
            )
        )
        results.append(
            Result(
                "first pass (reads every point once)",
                first.seconds,
                "s",
                "none",
                None,
                note=f"{first.diagnosed} runs diagnosed",
            )
        )
    return _common.report("watchdog", results, options)


if __name__ == "__main__":
    raise SystemExit(main())
