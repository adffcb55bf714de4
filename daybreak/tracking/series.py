"""Metric series for charts: one key of one run cut to a step or time window and downsampled
to a pixel budget (extremes and non-finite points kept), cached while the key's file stays
unchanged; and many runs x keys at once for pages that overlay runs."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from daybreak.errors import ConfigError, NotFoundError
from daybreak.tracking import points
from daybreak.tracking.downsample import downsample
from daybreak.tracking.points import History
from daybreak.tracking.values import key_filename

Axis = Literal["step", "time", "relative"]
AXES: tuple[str, ...] = ("step", "time", "relative")
CACHE_ENTRIES = 4096
CACHE_MAX_POINTS = 20_000  # a full-resolution read of a long series is not worth keeping
READERS = 4


@dataclasses.dataclass(frozen=True)
class Window:
    """The part of a series to show: steps, wall-clock seconds, or seconds since the run
    started (``relative``) between ``start`` and ``end`` (both inclusive, either open)."""

    by: Axis = "step"
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        if self.by not in AXES:
            raise ConfigError(f"unknown x axis {self.by!r}", f"use one of {', '.join(AXES)}")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ConfigError(
                f"the window starts ({self.start}) after it ends ({self.end})",
                "give start <= end",
            )

    @property
    def whole(self) -> bool:
        return self.start is None and self.end is None


@dataclasses.dataclass(frozen=True)
class Series:
    """What a chart draws of one key of one run."""

    run_id: str
    key: str
    total: int  # points the key has
    in_window: int  # points inside the window, before downsampling
    shown: History

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "key": self.key,
            "total": self.total,
            "in_window": self.in_window,
            "returned": len(self.shown),
        }


def cut(history: History, window: Window, started_at: float = 0.0) -> History:
    """The points of ``history`` inside ``window`` (steps are sorted; times need not be)."""
    if window.whole:
        return history
    if window.by == "step":
        lo = 0 if window.start is None else np.searchsorted(history.steps, window.start, "left")
        hi = (
            len(history)
            if window.end is None
            else np.searchsorted(history.steps, window.end, "right")
        )
        idx: Any = slice(int(lo), int(hi))
    else:
        xs = history.timestamps - (started_at if window.by == "relative" else 0.0)
        keep = np.ones(len(xs), dtype=bool)
        if window.start is not None:
            keep &= xs >= window.start
        if window.end is not None:
            keep &= xs <= window.end
        idx = keep
    return History(history.key, history.steps[idx], history.timestamps[idx], history.values[idx])


class _Cache:
    """A small LRU of downsampled series, keyed by the file's size and modification time so a
    live run's growing file is never served stale."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._items: OrderedDict[tuple[Any, ...], Series] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Series | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: Series) -> None:
        if len(value.shown) > CACHE_MAX_POINTS:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = _Cache(CACHE_ENTRIES)


def _version(run_dir: Any, key: str) -> tuple[int, int, int]:
    """What changes when the series could: its file's size and mtime, and the rewind marks."""
    folder = points.metrics_dir(run_dir)
    try:
        stat = os.stat(folder / key_filename(key))
        size, mtime = stat.st_size, stat.st_mtime_ns
    except FileNotFoundError:
        size, mtime = -1, 0
    try:
        rewound = os.stat(folder / points.REWINDS).st_mtime_ns
    except FileNotFoundError:
        rewound = 0
    return size, mtime, rewound


def series(
    backend: Any,
    run_id: str,
    key: str,
    points_wanted: int,
    window: Window = Window(),
    started_at: float = 0.0,
) -> Series:
    """One key of one (full-id) run inside ``window``, downsampled to ``points_wanted`` points
    (0 for every point). Raises NotFoundError when the run has no such key."""
    run_dir = backend.run_dir(run_id)
    version = _version(run_dir, key)
    cache_key = (str(run_dir), key, version, points_wanted, window, started_at)
    found = CACHE.get(cache_key)
    if found is not None:
        return found
    full = backend.history(run_id, key)
    inside = cut(full, window, started_at)
    shown = downsample(inside, points_wanted) if points_wanted else inside
    made = Series(run_id, key, len(full), len(inside), shown)
    CACHE.put(cache_key, made)
    return made


def many(
    backend: Any,
    runs: Sequence[tuple[str, float]],
    keys: Sequence[str],
    points_wanted: int,
    window: Window = Window(),
) -> list[Series]:
    """Every key of ``keys`` that each run of ``runs`` (``(full id, started_at)`` pairs) has,
    run by run; read on a few threads (numpy and file reads let go of the GIL)."""
    jobs = [(run_id, start, key) for run_id, start in runs for key in keys]

    def one(job: tuple[str, float, str]) -> Series | None:
        run_id, start, key = job
        try:
            return series(backend, run_id, key, points_wanted, window, start)
        except NotFoundError:  # this run never logged the key
            return None

    if len(jobs) < 4:
        found = [one(job) for job in jobs]
    else:
        with ThreadPoolExecutor(READERS) as pool:
            found = list(pool.map(one, jobs))
    return [s for s in found if s is not None]


def started(backend: Any, run_ids: Sequence[str]) -> list[tuple[str, float]]:
    """``(full id, started_at)`` of each run (ids or unique prefixes), each once, in order;
    one query for the ids given in full. Raises NotFoundError for an unknown one."""
    import sqlalchemy as sa

    from daybreak.store.schema import runs

    wanted = list(dict.fromkeys(run_ids))
    query = sa.select(runs.c.id, runs.c.started_at).where(runs.c.id.in_(wanted))
    with backend.db.read() as conn:
        exact = {row.id: float(row.started_at) for row in conn.execute(query)}
    out: dict[str, float] = {}
    for run_id in wanted:
        if run_id not in exact:
            run_id = backend.resolve(run_id)
            exact[run_id] = backend.get_run(run_id).started_at
        out[run_id] = exact[run_id]
    return list(out.items())


def encode_binary(found: Sequence[Series]) -> bytes:
    """Series as bytes a browser reads without parsing numbers: a little-endian uint32 length,
    a JSON header (one entry per series, padded to 8 bytes), then per series its steps,
    timestamps and values as float64 arrays (NaN and ±Infinity as they are)."""
    import json

    header = json.dumps([s.to_dict() for s in found], separators=(",", ":")).encode()
    header += b" " * (-(len(header) + 4) % 8)
    parts = [len(header).to_bytes(4, "little"), header]
    for s in found:
        parts.append(s.shown.steps.astype("<f8").tobytes())
        parts.append(s.shown.timestamps.astype("<f8", copy=False).tobytes())
        parts.append(s.shown.values.astype("<f8", copy=False).tobytes())
    return b"".join(parts)
