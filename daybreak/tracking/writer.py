"""The background writer: batches what the loop logged and hands it to a sink.

The caller only appends to a deque; this thread turns the entries into per-key record arrays
every ``flush_interval`` (0.2 s), writes them, syncs to disk every ``fsync_interval`` and
updates the metric index and heartbeat every ``index_interval``. Failures never reach the
training loop: they are reported once and retried.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from daybreak.config import Settings
from daybreak.tracking.records import KeyStats, RunRecord
from daybreak.tracking.sink import Sink
from daybreak.tracking.values import DeferredValue

Entry = tuple[int, float, dict[str, Any], bool]
if TYPE_CHECKING:
    import numpy as np

MAX_BACKLOG_BATCHES = 10_000


class Writer(threading.Thread):
    def __init__(self, sink: Sink, settings: Settings, record: RunRecord, resumed: bool) -> None:
        super().__init__(name=f"daybreak-writer-{record.id}", daemon=True)
        self.sink = sink
        self.settings = settings
        self.record = record
        self.resumed = resumed
        self.entries: collections.deque[Entry] = collections.deque()
        self.output: collections.deque[str] = collections.deque()
        self.registered = threading.Event()
        self.points_written = 0
        self._stop_event = threading.Event()
        self._flushed = threading.Condition()
        self._flush_requests = 0
        self._flushes_done = 0
        self._backlog: list[dict[str, np.ndarray]] = []
        self._stats: dict[str, KeyStats] = {}
        self._reported: set[str] = set()
        self._final: tuple[str, float, str | None, dict[str, Any]] | None = None
        self.finished = threading.Event()

    # -- called from the training thread -------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything logged so far is written and indexed."""
        with self._flushed:
            self._flush_requests += 1
            wanted = self._flush_requests
            return self._flushed.wait_for(
                lambda: self._flushes_done >= wanted or not self.is_alive(), timeout
            )

    def stop(
        self,
        status: str,
        ended_at: float,
        error: str | None,
        summary: dict[str, Any],
        timeout: float,
    ) -> bool:
        self._final = (status, ended_at, error, summary)
        self._stop_event.set()
        self.join(timeout)
        return not self.is_alive()

    # -- the thread ----------------------------------------------------------------------
    def run(self) -> None:
        last_sync = last_index = time.monotonic()
        self._open()
        while True:
            stopping = self._stop_event.wait(self.settings.flush_interval)
            with self._flushed:
                wanted = self._flush_requests
            self._guard("write metrics", self._drain)
            now = time.monotonic()
            forced = stopping or wanted > self._flushes_done
            if forced or now - last_sync >= self.settings.fsync_interval:
                self._guard("sync to disk", self.sink.sync)
                last_sync = now
            if not self.registered.is_set() and (
                forced or now - last_index >= self.settings.index_interval
            ):
                self._open()
            due = self._stats and now - last_index >= self.settings.index_interval
            if self.registered.is_set() and (
                forced or due or now - last_index >= self.settings.heartbeat_interval
            ):
                self._guard("update the metric index", self._index)
                last_index = now
            if forced:
                with self._flushed:
                    self._flushes_done = wanted
                    self._flushed.notify_all()
            if stopping:
                break
        self._close()

    def _open(self) -> None:
        if not self.resumed and not self.record.environment:
            from daybreak.tracking import environment

            self.record.git = environment.git_state()
            self.record.environment = environment.environment()
            self.record.host = environment.host()
        if self._guard("register the run", lambda: self.sink.open(self.record, self.resumed)):
            self.registered.set()

    def _close(self) -> None:
        if self._final is not None and self.registered.is_set():
            status, ended_at, error, summary = self._final
            self._guard(
                "record the run's end", lambda: self.sink.finish(status, ended_at, error, summary)
            )
        self._guard("close files", self.sink.close)
        self.finished.set()
        with self._flushed:
            self._flushes_done = self._flush_requests
            self._flushed.notify_all()

    def _guard(self, what: str, action: Any) -> bool:
        try:
            action()
        except Exception as exc:  # the training loop must never see a logging failure
            self._warn(what, exc)
            return False
        self._reported.discard(what)
        return True

    def _warn(self, what: str, exc: BaseException) -> None:
        if what in self._reported:
            return
        self._reported.add(what)
        stream = getattr(sys, "__stderr__", None) or sys.stderr
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(
            f"daybreak: could not {what} for run {self.record.id}: {detail}; "
            "training goes on and Daybreak keeps retrying",
            file=stream,
            flush=True,
        )

    def _drain(self) -> None:
        self._drain_output()
        batch = self._take_batch()
        if batch:
            self._backlog.append(batch)
            if len(self._backlog) > MAX_BACKLOG_BATCHES:
                self._backlog.pop(0)
        while self._backlog:
            self.sink.write_points(self._backlog[0])
            written = self._backlog.pop(0)
            for key, records in written.items():
                stats = KeyStats.of(records)
                known = self._stats.get(key)
                self._stats[key] = known.merge(stats) if known else stats
                self.points_written += len(records)

    def _drain_output(self) -> None:
        count = len(self.output)
        if count:
            text = "".join(self.output.popleft() for _ in range(count))
            self.sink.write_output(text)

    def _take_batch(self) -> dict[str, np.ndarray]:
        count = len(self.entries)
        if not count:
            return {}
        from daybreak.tracking.points import records_from

        popleft = self.entries.popleft
        columns: dict[str, tuple[list[int], list[float], list[Any]]] = {}
        for _ in range(count):
            step, ts, values, deferred = popleft()
            if deferred:
                values = {
                    k: (v.resolve() if type(v) is DeferredValue else v) for k, v in values.items()
                }
            for key, value in values.items():
                column = columns.get(key)
                if column is None:
                    column = columns[key] = ([], [], [])
                column[0].append(step)
                column[1].append(ts)
                column[2].append(value)
        return {key: records_from(*column) for key, column in columns.items()}

    def _index(self) -> None:
        stats, self._stats = self._stats, {}
        try:
            self.sink.index(stats, time.time())
        except Exception:
            for key, newer in self._stats.items():
                stats[key] = stats[key].merge(newer) if key in stats else newer
            self._stats = stats
            raise
