"""The append-only metric store: one file of fixed 24-byte records per metric key.

A record is ``(step int64, timestamp float64, value float64)``, little-endian. Appends are
plain ``write`` calls, so a killed process loses only what it had not yet handed to the OS;
a torn record at the end of a file (a crash mid-write) is ignored on read. Reading one metric
is one ``numpy.fromfile``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from daybreak.tracking.values import key_filename

RECORD = np.dtype([("step", "<i8"), ("ts", "<f8"), ("value", "<f8")])
SUFFIX = ".points"


@dataclasses.dataclass(frozen=True)
class History:
    """One metric's points, ordered by step: numpy arrays of equal length."""

    key: str
    steps: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def from_records(cls, key: str, records: np.ndarray) -> History:
        return cls(key, records["step"].copy(), records["ts"].copy(), records["value"].copy())

    def to_records(self) -> np.ndarray:
        out = np.empty(len(self.steps), dtype=RECORD)
        out["step"], out["ts"], out["value"] = self.steps, self.timestamps, self.values
        return out


def filename_key(name: str) -> str:
    return urllib.parse.unquote(name[: -len(SUFFIX)])


def metrics_dir(run_dir: Path) -> Path:
    return run_dir / "metrics"


def list_keys(run_dir: Path) -> list[str]:
    folder = metrics_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(filename_key(n) for n in os.listdir(folder) if n.endswith(SUFFIX))


def read_records(run_dir: Path, key: str) -> np.ndarray:
    """Raw records of ``key`` in write order (a torn trailing record is dropped)."""
    path = metrics_dir(run_dir) / key_filename(key)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return np.empty(0, dtype=RECORD)
    whole = len(raw) - len(raw) % RECORD.itemsize
    return np.frombuffer(raw[:whole], dtype=RECORD)


def by_step(records: np.ndarray) -> np.ndarray:
    """Order records by step; where a step was written twice (a resumed run), the later wins."""
    steps = records["step"]
    if len(steps) < 2 or bool(np.all(steps[1:] > steps[:-1])):
        return records
    reversed_steps = steps[::-1]
    _, first_in_reversed = np.unique(reversed_steps, return_index=True)
    keep = len(steps) - 1 - first_in_reversed
    return records[np.sort(keep)][np.argsort(steps[np.sort(keep)], kind="stable")]


def read_history(run_dir: Path, key: str) -> History:
    return History.from_records(
        key, by_step(drop_rewound(read_records(run_dir, key), rewinds(run_dir)))
    )


REWINDS = "rewinds.json"


def write_rewind(run_dir: Path, step: int, at: float) -> None:
    """Record that the run went back to ``step`` at time ``at`` (restarted from the checkpoint
    of that step): points logged before ``at`` for later steps belong to the abandoned path."""
    path = metrics_dir(run_dir) / REWINDS
    path.parent.mkdir(parents=True, exist_ok=True)
    marks = [*rewinds(run_dir), [int(step), float(at)]]
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(marks))
    os.replace(temporary, path)


def rewinds(run_dir: Path) -> list[list[float]]:
    try:
        return list(json.loads((metrics_dir(run_dir) / REWINDS).read_text()))
    except FileNotFoundError:
        return []


def drop_rewound(records: np.ndarray, marks: list[list[float]]) -> np.ndarray:
    """``records`` without the points an abandoned path logged (see :func:`write_rewind`)."""
    if not marks or not len(records):
        return records
    keep = np.ones(len(records), dtype=bool)
    for step, at in marks:
        keep &= ~((records["step"] > step) & (records["ts"] < at))
    return records if keep.all() else records[keep]


class PointFiles:
    """Open append handles for one run's metric files."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = metrics_dir(run_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fds: dict[str, int] = {}
        self._dirty: set[int] = set()
        self._created = False

    def append(self, key: str, records: np.ndarray) -> None:
        """Append whole records or nothing: a failed write (a full disk) is cut back off, so
        a retry cannot leave a torn record in the middle of the file."""
        fd = self._fds.get(key)
        if fd is None:
            path = self.folder / key_filename(key)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            _cut_torn_tail(fd)
            self._fds[key] = fd
            self._created = True
        view = memoryview(records.tobytes())
        size = os.fstat(fd).st_size
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            self._dirty.discard(fd)
            os.close(fd)
            del self._fds[key]
            raise
        self._dirty.add(fd)

    def sync(self) -> None:
        for fd in self._dirty:
            os.fsync(fd)
        if self._created:  # a new file's name must reach the disk too
            _fsync_dir(self.folder)
            self._created = False
        self._dirty.clear()

    def detach_sync(self) -> Callable[[], None]:
        """What :meth:`sync` would do, to run later without holding the caller's lock: the
        dirty files are duplicated, so closing or writing them meanwhile is safe."""
        fds = [os.dup(fd) for fd in self._dirty]
        created, folder = self._created, self.folder
        self._dirty.clear()
        self._created = False

        def sync() -> None:
            try:
                for fd in fds:
                    os.fsync(fd)
                if created:
                    _fsync_dir(folder)
            finally:
                for fd in fds:
                    os.close(fd)

        return sync

    def close(self) -> None:
        self.sync()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _cut_torn_tail(fd: int) -> None:
    """Drop a partial record a killed writer left at the end of a file (reads skip it), so
    that appends after a crash, by a resumed run or a restarted server, stay record-aligned."""
    size = os.fstat(fd).st_size
    torn = size % RECORD.itemsize
    if torn:
        os.ftruncate(fd, size - torn)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_batch(batch: dict[str, np.ndarray]) -> bytes:
    """Wire format for a batch of points: a JSON header line, then the records back to back."""
    header = json.dumps([[key, len(records)] for key, records in batch.items()])
    return header.encode() + b"\n" + b"".join(r.tobytes() for r in batch.values())


def decode_batch(body: bytes) -> dict[str, np.ndarray]:
    newline = body.index(b"\n")
    header = json.loads(body[:newline])
    out: dict[str, np.ndarray] = {}
    offset = newline + 1
    for key, count in header:
        size = int(count) * RECORD.itemsize
        chunk = body[offset : offset + size]
        if len(chunk) != size:
            raise ValueError(f"batch body is truncated in key {key!r}")
        out[str(key)] = np.frombuffer(chunk, dtype=RECORD)
        offset += size
    if offset != len(body):
        raise ValueError("batch body has trailing bytes")
    return out


def records_from(
    steps: Iterable[int], stamps: Iterable[float], values: Iterable[float]
) -> np.ndarray:
    steps_a = np.fromiter(steps, dtype="<i8")
    out = np.empty(len(steps_a), dtype=RECORD)
    out["step"] = steps_a
    out["ts"] = np.fromiter(stamps, dtype="<f8", count=len(steps_a))
    out["value"] = np.fromiter(values, dtype="<f8", count=len(steps_a))
    return out
