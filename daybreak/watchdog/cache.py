"""What the continuous watchdog remembers of each live run between passes: the points of the
metrics it watches and the tail of the log, each extended by reading only what was appended
since the last pass (a pass never re-reads a whole history)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from daybreak.tracking import points
from daybreak.tracking.points import RECORD, History
from daybreak.tracking.values import key_filename

LOG_TAIL = 20_000  # characters of the log kept for recognising known errors


class SeriesCache:
    """One metric file read incrementally. While its steps only grow and the run was never
    rewound, the history is the file's records themselves, extended in place; otherwise the
    raw records are kept and the history rebuilt from them (later writes of a step win,
    rewound points dropped)."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self._reset()

    def _reset(self) -> None:
        self.offset = 0
        self.raw: np.ndarray | None = None  # the records in write order, once not in order
        self.history = History(self.key, *(np.empty(0, dtype=t) for t in ("<i8", "<f8", "<f8")))

    def update(self, marks: list[list[float]]) -> bool:
        """Read what was appended since the last call; True when there were new points."""
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self.offset:  # the file was replaced: start again
                    self._reset()
                whole = (size - self.offset) // RECORD.itemsize * RECORD.itemsize
                if not whole:
                    return False
                handle.seek(self.offset)
                fresh = np.frombuffer(handle.read(whole), dtype=RECORD)
        except FileNotFoundError:
            return False
        self.offset += whole
        steps = self.history.steps
        in_order = bool(np.all(np.diff(fresh["step"]) > 0)) and (
            not len(steps) or fresh["step"][0] > steps[-1]
        )
        if self.raw is None and in_order and not marks:
            old = self.history
            self.history = History(
                self.key,
                np.concatenate([old.steps, fresh["step"]]),
                np.concatenate([old.timestamps, fresh["ts"]]),
                np.concatenate([old.values, fresh["value"]]),
            )
            return True
        self.raw = np.concatenate([self.keep_raw(), fresh])
        self.rebuild(marks)
        return True

    def keep_raw(self) -> np.ndarray:
        """From now on keep the records in write order (the history can no longer be them)."""
        if self.raw is None:
            self.raw = self.history.to_records()
        return self.raw

    def rebuild(self, marks: list[list[float]]) -> None:
        kept = points.by_step(points.drop_rewound(self.keep_raw(), marks))
        self.history = History.from_records(self.key, kept)


class RunCache:
    """The watched series and log tail of one run."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.series: dict[str, SeriesCache] = {}
        self.keys: list[str] = []
        self.log_offset = 0
        self.log_tail = ""
        self._marks: list[list[float]] = []
        self._marks_stamp: float | None = None

    def refresh_keys(self) -> list[str]:
        self.keys = points.list_keys(self.run_dir)
        return self.keys

    def update(self, keys: list[str]) -> bool:
        """Bring the series of ``keys`` and the log tail up to date; True when anything new
        arrived (or a rewind changed what the histories hold)."""
        rewound = self._check_rewinds()
        changed = rewound
        for key in keys:
            series = self._series(key)
            if series.update(self._marks):
                changed = True
            elif rewound:
                series.rebuild(self._marks)
        self._read_log()
        return changed

    def history(self, key: str) -> History:
        if key not in self.series:
            self._series(key).update(self._marks)
        return self.series[key].history

    def _series(self, key: str) -> SeriesCache:
        if key not in self.series:
            path = points.metrics_dir(self.run_dir) / key_filename(key)
            self.series[key] = SeriesCache(path, key)
        return self.series[key]

    def _check_rewinds(self) -> bool:
        try:
            stamp = (points.metrics_dir(self.run_dir) / points.REWINDS).stat().st_mtime
        except FileNotFoundError:
            return False
        if stamp == self._marks_stamp:
            return False
        self._marks_stamp = stamp
        self._marks = points.rewinds(self.run_dir)
        for series in self.series.values():
            series.keep_raw()
        return True

    def _read_log(self) -> None:
        path = self.run_dir / "output.log"
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size <= self.log_offset:
                    return
                start = max(self.log_offset, size - 4 * LOG_TAIL)
                handle.seek(start)
                text = handle.read(size - start).decode("utf-8", "replace")
        except FileNotFoundError:
            return
        self.log_offset = size
        self.log_tail = (self.log_tail + text)[-LOG_TAIL:]
