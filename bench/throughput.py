"""Sustained durable write rate of one run.

Log a dict of 10 scalars per call as fast as possible for ~5 s, then ``run.flush()`` (which
returns once everything is written and fsynced). The figure is the number of points actually
on disk, counted by reading the metric files back, divided by the time from the first
``log`` until ``flush`` returned. Floor: ≥ 200k points/s. Baseline, for context: appending
the same number of ready-made 24-byte records with ``numpy.ndarray.tofile`` and one fsync.

    python bench/throughput.py [--quick]
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
import numpy as np
from _common import Result, median

KEYS = [f"train/k{i}" for i in range(10)]


def daybreak_rate(seconds: float) -> dict[str, float]:
    import daybreak
    from daybreak.tracking import points

    with _common.temp_home() as home:
        run = daybreak.init(
            project="bench", name="throughput", system_metrics=False, capture_output=False
        )
        log = run.log
        gc.collect()
        step = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for _ in range(1000):
                v = step * 1e-3
                log(
                    {
                        "train/k0": v,
                        "train/k1": v,
                        "train/k2": v,
                        "train/k3": v,
                        "train/k4": v,
                        "train/k5": v,
                        "train/k6": v,
                        "train/k7": v,
                        "train/k8": v,
                        "train/k9": v,
                    },
                    step=step,
                )
                step += 1
        logged_at = time.perf_counter()
        flushed = run.flush(timeout=600)
        done = time.perf_counter()
        run_dir = home / "runs" / run.id
        on_disk = sum(len(points.read_records(run_dir, key)) for key in KEYS)
        history_ok = all(len(daybreak.get_run(run.id).history(key)) == step for key in KEYS[:2])
        run.finish()
    return {
        "logged": step * len(KEYS),
        "on_disk": on_disk,
        "log_seconds": logged_at - start,
        "flush_seconds": done - logged_at,
        "rate": on_disk / (done - start),
        "caller_rate": step * len(KEYS) / (logged_at - start),
        "flushed": float(flushed),
        "history_ok": float(history_ok),
    }


def tofile_rate(total: int, folder: Path) -> float:
    """Points/s appending ready-made records to 10 files in 0.2 s-sized chunks, then fsync."""
    from daybreak.tracking.points import RECORD

    chunk = np.zeros(20_000, dtype=RECORD)
    chunk["step"] = np.arange(len(chunk))
    per_key = total // len(KEYS)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        handles = [
            stack.enter_context(open(folder / f"{i}.points", "ab")) for i in range(len(KEYS))
        ]
        written = 0
        while written < per_key:
            n = min(len(chunk), per_key - written)
            for handle in handles:
                chunk[:n].tofile(handle)
            written += n
        for handle in handles:
            handle.flush()
            os.fsync(handle.fileno())
    return written * len(KEYS) / (time.perf_counter() - start)


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    seconds = 1.5 if options.quick else 5.0
    reps = 1 if options.quick else 3
    ours: list[dict[str, float]] = []
    base: list[float] = []
    for _ in range(reps):
        ours.append(daybreak_rate(seconds))
        with tempfile.TemporaryDirectory() as tmp:
            base.append(tofile_rate(int(ours[-1]["on_disk"]), Path(tmp)))
    rates = [r["rate"] for r in ours]
    lost = sum(r["logged"] - r["on_disk"] for r in ours)
    note = (
        f"reps {_common.spread(rates)} points/s; per rep ~{_common.fmt(median([r['logged'] for r in ours]))} "
        f"points logged in {seconds:.1f} s (caller {_common.fmt(median([r['caller_rate'] for r in ours]))} points/s), "
        f"flush drained the rest in {_common.fmt(median([r['flush_seconds'] for r in ours]))} s; "
        f"points missing on disk: {lost}; history() lengths match: {all(r['history_ok'] for r in ours)}"
    )
    results = [
        Result(
            "durable write rate, one run",
            median(rates),
            "points/s",
            "numpy tofile append + fsync",
            median(base),
            200_000,
            higher_is_better=True,
            note=note,
        ),
    ]
    if lost:
        results[0].floor = float(
            "inf"
        )  # a point logged but not on disk fails the benchmark outright
        results[0].note += " — POINTS LOST"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results[
        0
    ].note += f"; peak RSS of the process {peak_mb:,.0f} MB (the caller outruns the writer, the queue holds the rest)"
    details: dict[str, Any] = {"reps": ours, "tofile_rates": base, "peak_rss_mb": peak_mb}
    return _common.report("throughput: sustained durable write rate", results, options, details)


if __name__ == "__main__":
    sys.exit(main())
