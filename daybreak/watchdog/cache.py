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
    """One metric file read incrementally: the bytes read so far and the history they make."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.offset = 0
        self.records = np.empty(0, dtype=RECORD)
        self.ordered = True  # steps strictly increasing in write order: no re-sort needed
        self.history = History(key, *(np.empty(0, dtype=t) for t in ("<i8", "<f8", "<f8")))

    def update(self, marks: list[list[float]]) -> bool:
        """Read what was appended since the last call; True when there were new points."""
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self.offset:  # the file was replaced: start again
                    self.__init__(self.path, self.key)  # type: ignore[misc]
                whole = (size - self.offset) // RECORD.itemsize * RECORD.itemsize
                if not whole:
                    return False
                handle.seek(self.offset)
                fresh = np.frombuffer(handle.read(whole), dtype=RECORD)
        except FileNotFoundError:
            return False
        self.offset += whole
        if self.ordered and len(self.records) and fresh["step"][0] <= self.records["step"][-1]:
            self.ordered = False
        if self.ordered and len(fresh) > 1 and not bool(np.all(np.diff(fresh["step"]) > 0)):
            self.ordered = False
        self.records = np.concatenate([self.records, fresh])
        self._rebuild(marks, appended=fresh if self.ordered and not marks else None)
        return True

    def _rebuild(self, marks: list[list[float]], appended: np.ndarray | None = None) -> None:
        if appended is not None:  # the common case: append to the arrays already built
            old = self.history
            self.history = History(
                self.key,
                np.concatenate([old.steps, appended["step"]]),
                np.concatenate([old.timestamps, appended["ts"]]),
                np.concatenate([old.values, appended["value"]]),
            )
            return
        kept = points.by_step(points.drop_rewound(self.records, Path(), marks))
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
            series = self.series.get(key)
            if series is None:
                path = points.metrics_dir(self.run_dir) / key_filename(key)
                series = self.series[key] = SeriesCache(path, key)
            if series.update(self._marks):
                changed = True
            elif rewound:
                series._rebuild(self._marks)
        self._read_log()
        return changed

    def history(self, key: str) -> History:
        series = self.series.get(key)
        if series is None:
            path = points.metrics_dir(self.run_dir) / key_filename(key)
            series = self.series[key] = SeriesCache(path, key)
            series.update(self._marks)
        return series.history

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
            series.ordered = False
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
