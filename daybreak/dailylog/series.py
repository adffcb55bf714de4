"""Cheap reads of metric points for the log: one cached read per run and key, tails read from
the end of the file, and charts cut down to ~120 points that keep every extreme."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from daybreak.tracking import points
from daybreak.tracking.downsample import downsample_indices
from daybreak.tracking.points import RECORD, History
from daybreak.tracking.values import key_filename

CHART_POINTS = 120


class SeriesCache:
    """Histories read during one build, so a run's metric is read from disk at most once."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self._read: dict[tuple[str, str], History] = {}

    def history(self, run_id: str, key: str) -> History:
        found = self._read.get((run_id, key))
        if found is None:
            found = points.read_history(self.runs_dir / run_id, key)
            self._read[(run_id, key)] = found
        return found

    def tail(self, run_id: str, key: str, count: int = 256) -> np.ndarray:
        """The last ``count`` records of ``key`` as written, read from the end of the file."""
        path = points.metrics_dir(self.runs_dir / run_id) / key_filename(key)
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                whole = size - size % RECORD.itemsize
                start = max(0, whole - count * RECORD.itemsize)
                handle.seek(start)
                raw = handle.read(whole - start)
        except FileNotFoundError:
            return np.empty(0, dtype=RECORD)
        return np.frombuffer(raw, dtype=RECORD)


def upto(history: History, until: float) -> History:
    """Only the points logged before ``until``."""
    keep = history.timestamps < until
    if bool(keep.all()):
        return history
    return History(history.key, history.steps[keep], history.timestamps[keep], history.values[keep])


def chart(
    history: History, lo: int = 0, hi: int | None = None, marker: int | None = None
) -> dict[str, Any] | None:
    """Chart data for points ``lo:hi`` of ``history``: at most ~120 points, the extremes and
    non-finite values kept (as null), numbers rounded to 5 significant digits."""
    steps, values = history.steps[lo:hi], history.values[lo:hi]
    if len(steps) == 0:
        return None
    idx = downsample_indices(values, CHART_POINTS)
    return {
        "key": history.key,
        "steps": [int(s) for s in steps[idx]],
        "values": [_short(float(v)) for v in values[idx]],
        "marker": marker,
    }


def around(history: History, step: int | None) -> tuple[int, int]:
    """The slice of points around ``step``: a fifth of the run (at least 30 points) each side."""
    n = len(history)
    if step is None or n == 0:
        return 0, n
    centre = int(np.searchsorted(history.steps, step))
    half = max(30, n // 5)
    return max(0, centre - half), min(n, centre + half + 1)


def time_at(history: History, step: int | None) -> float | None:
    """The timestamp of the first point at or after ``step``."""
    if step is None or len(history) == 0:
        return None
    index = min(int(np.searchsorted(history.steps, step)), len(history) - 1)
    return float(history.timestamps[index])


def step_rate(records: np.ndarray) -> float | None:
    """Steps per second over the records (the tail of a training series)."""
    if len(records) < 2:
        return None
    span = float(records["ts"][-1] - records["ts"][0])
    steps = float(records["step"][-1] - records["step"][0])
    return steps / span if span > 0 and steps > 0 else None


def _short(value: float) -> float | None:
    return float(f"{value:.5g}") if math.isfinite(value) else None
