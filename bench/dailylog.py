"""The Daily Log over a busy night, measured against reading the night's points once.

A night of 200 runs with 2,000,000 points in total (train/loss, lr, validation metrics and
GPU utilisation per run; finished, failed, crashed and still running), 30 watchdog findings
with actions, notes and action items. Points are written with the real point files and
runs registered through the tracking service.

1. build (gather + store) plus rendering the standalone HTML with its SVG charts, for a fresh
   window each repetition (floor ≤ 3 s). Baseline: reading every point of every run once with
   ``numpy.frombuffer`` per metric file, what a report that looked at everything would need
   before doing anything with the points.
2. the other formats (Markdown, Slack, Teams, JSON) of the same log, for information.

    python bench/dailylog.py [--quick]
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Any

import _common
import numpy as np
from _common import Result, median

RUNS = 200
POINTS = 2_000_000
NIGHT = 12 * 3600.0


def write_night(settings: Any, end: float) -> int:
    """The night's runs, points, findings, actions, notes and action items; returns points."""
    from daybreak.notes import service as notes
    from daybreak.store.engine import get_database
    from daybreak.tracking import service
    from daybreak.tracking.points import RECORD, PointFiles
    from daybreak.tracking.records import KeyStats, RunRecord
    from daybreak.watchdog import Finding
    from daybreak.watchdog.store import record_action, record_findings

    db = get_database(settings.db_url)
    rng = np.random.default_rng(0)
    per_run = POINTS // RUNS
    written = 0
    for i in range(RUNS):
        run_id = f"bench{i:05d}"
        start = end - NIGHT + (i % 50) * 300.0
        status = (
            "running"
            if i % 10 == 0
            else ("failed" if i % 13 == 0 else ("crashed" if i % 17 == 0 else "finished"))
        )
        steps = 6000
        config = {
            "model": f"net{i % 20}",
            "steps": steps * (2 if status == "running" else 1),
            "lr": 1e-3,
        }
        if i % 2 == 0:
            config["metric"] = "val/acc"
        series = _series(rng, steps, start, per_run, diverge=i % 7 == 0)
        service.create_run(
            db,
            RunRecord(
                id=run_id,
                project=f"project{i % 4}",
                name=f"run-{i}",
                config=config,
                started_at=start,
                last_heartbeat=time.time(),
                host="bench-elsewhere",
            ),
        )
        files = PointFiles(settings.runs_dir / run_id)
        stats = {}
        for key, (s, t, v) in series.items():
            records = np.empty(len(s), dtype=RECORD)
            records["step"], records["ts"], records["value"] = s, t, v
            files.append(key, records)
            stats[key] = KeyStats.of(records)
            written += len(records)
        files.close()
        service.index_metrics(db, run_id, stats, heartbeat=None)
        last = max(float(t[-1]) for _, t, _ in series.values())
        if status != "running":
            service.finish_run(
                db, run_id, status, last, error="Killed" if status != "finished" else None
            )
        if i % 7 == 0:
            found = record_findings(
                db,
                run_id,
                [
                    Finding(
                        "divergence",
                        "critical",
                        4200,
                        "train/loss rose from its best and stayed up",
                        "restart from the last checkpoint before the onset with a lower learning rate",
                        {"key": "train/loss", "onset_step": 4000},
                    )
                ],
                now=start + 4200 * 4.0,
            )
            if i % 14 == 0:
                record_action(
                    db,
                    run_id,
                    "restart",
                    "divergence",
                    "restarted with lr x 0.5",
                    {"checkpoint_step": 3900},
                    finding_id=found[0]["id"],
                    now=start + 4300 * 4.0,
                )
            notes.add_note(
                db,
                f"run-{i} diverged again: **lr** too high?",
                author="ana",
                run_id=run_id,
                now=start + 4400 * 4.0,
            )
            notes.add_action_item(
                db, f"look at run-{i}", owner="bo", run_id=run_id, now=start + 4500 * 4.0
            )
    return written


def _series(
    rng: np.random.Generator, steps: int, start: float, total: int, diverge: bool
) -> dict[str, Any]:
    """train/loss (every step), lr (every 4th), val/acc and val/loss (every 60th), GPU
    utilisation every 5 s: ``total`` points."""
    s = np.arange(steps)
    t = start + s * 4.0
    loss = 0.1 + np.exp(-s / 1200) + 0.02 * rng.standard_normal(steps)
    if diverge:
        loss[4000:] += np.linspace(0, 2, steps - 4000)
    lr_s = s[::4]
    val_s = s[59::60]
    acc = 0.9 - 0.5 * np.exp(-val_s / 1500)
    gpu_n = total - steps - len(lr_s) - 2 * len(val_s)
    gpu_t = start + np.arange(gpu_n) * (steps * 4.0 / gpu_n)
    util = np.clip(90 + 5 * rng.standard_normal(gpu_n), 0, 100)
    util[gpu_n // 3 : gpu_n // 3 + gpu_n // 10] = 3.0  # a stretch of idle GPU
    return {
        "train/loss": (s, t, loss),
        "lr": (lr_s, start + lr_s * 4.0, 1e-3 * np.cos(lr_s / steps)),
        "val/acc": (val_s, start + val_s * 4.0, acc),
        "val/loss": (val_s, start + val_s * 4.0, 1 - acc),
        "sys/gpu0/util_percent": (np.arange(gpu_n), gpu_t, util),
    }


def read_everything(runs_dir: Path) -> int:
    """The baseline: every point of every run read once."""
    from daybreak.tracking.points import RECORD

    count = 0
    for folder in sorted(runs_dir.iterdir()):
        for path in sorted((folder / "metrics").glob("*.points")):
            count += len(np.frombuffer(path.read_bytes(), dtype=RECORD))
    return count


def naive_report(settings: Any) -> int:
    """A second baseline: what a report written against the SDK would do, every key of every
    run through ``daybreak.get_run(id).history(key)``, keeping the best value."""
    import daybreak
    from daybreak.tracking.readers import LocalBackend

    count = 0
    for record in LocalBackend(settings).list_runs():
        view = daybreak.get_run(record.id)
        for key in view.metric_keys():
            history = view.history(key)
            count += len(history)
            np.nanmax(history.values)
    return count


def timed(action: Any, reps: int) -> tuple[list[float], Any]:
    out, result = [], None
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        result = action()
        out.append(time.perf_counter() - start)
    return out, result


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    reps = 3 if options.quick else 7
    from daybreak.config import get_settings
    from daybreak.dailylog import build, render

    results: list[Result] = []
    with _common.temp_home():
        settings = get_settings(timezone="Europe/Berlin")
        end = time.time() - 60
        made = time.perf_counter()
        written = write_night(settings, end)
        made = time.perf_counter() - made
        assert written == POINTS, written
        counter = iter(range(1000))

        def build_and_render() -> tuple[dict[str, Any], str]:
            log = build(settings, since=end - 86_400, until=end - next(counter) * 1e-3)
            return log, render(log, "html")

        build_and_render()  # imports, first queries
        ours, (log, page) = timed(build_and_render, reps)
        base, points = timed(lambda: read_everything(settings.runs_dir), reps)
        assert points == POINTS, points
        naive, seen = timed(lambda: naive_report(settings), max(3, reps // 2))
        assert seen == POINTS, seen
        content = log["content"]
        charts = page.count("<svg")
        others = {
            fmt: timed(lambda f=fmt: render(log, f), reps)[0]
            for fmt in ("markdown", "slack", "teams", "json")
        }
        results.append(
            Result(
                f"Daily Log build + HTML, {RUNS} runs / {POINTS / 1e6:.0f}M points, charts included",
                median(ours),
                "s",
                "read every point once (np.frombuffer per file)",
                median(base),
                3.0,
                note=(
                    f"reps {_common.spread(ours)} s; {charts} SVG charts, {len(content['problems'])} problems, "
                    f"{len(content['progress'])} progress entries, {len(content['running'])} running; "
                    f"HTML {len(page) / 1e3:.0f} KB; writing the night took {made:.1f} s"
                ),
            )
        )
        results.append(
            Result(
                "the same, against a naive report through the SDK",
                median(ours),
                "s",
                "get_run(id).history(key) of every key of every run",
                median(naive),
                note=f"naive reps {_common.spread(naive)} s",
            )
        )
        results.append(
            Result(
                "render Markdown + Slack + Teams + JSON of the same log",
                sum(median(v) for v in others.values()) * 1e3,
                "ms",
                "none",
                None,
                note=", ".join(f"{fmt} {median(v) * 1e3:.0f} ms" for fmt, v in others.items()),
            )
        )
    return _common.report("dailylog: a night of 200 runs", results, options)


if __name__ == "__main__":
    sys.exit(main())
