"""The background writer: batches what the loop logged and hands it to a sink.

Two threads per run, so files never wait on the database:

- the writer turns queued entries into per-key record arrays every ``flush_interval``
  (0.5 s), writes them and syncs them to disk every ``fsync_interval``;
- the indexer registers the run, merges per-key stats into the metric index and beats the
  heart every ``index_interval``, and records the run's end.

Failures never reach the training loop: they are reported once and retried.
"""

from __future__ import annotations

import collections
import errno
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
CHUNK = 50_000  # log calls turned into one write


class _Reporter:
    """Says once per kind of failure what went wrong and what happens now."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self._reported: set[str] = set()
        self.failure: Exception | None = None  # what the last failed guard caught

    def guard(self, what: str, action: Any) -> bool:
        try:
            action()
        except Exception as exc:  # the training loop must never see a logging failure
            self.failure = exc
            self.warn(what, exc)
            return False
        self._reported.discard(what)
        return True

    def warn(self, what: str, exc: BaseException) -> None:
        if what in self._reported:
            return
        self._reported.add(what)
        stream = getattr(sys, "__stderr__", None) or sys.stderr
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        advice = "training goes on and Daybreak keeps retrying"
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            advice = (
                f"the disk under {self.settings.home} is full: free some space; until then "
                "training goes on and points are kept in memory"
            )
        message = f"daybreak: could not {what} for run {self.run_id}: {detail}; {advice}"
        print(message, file=stream, flush=True)

    def gave_up(self, what: str, after: float) -> None:
        stream = getattr(sys, "__stderr__", None) or sys.stderr
        print(
            f"daybreak: gave up trying to {what} for run {self.run_id} after {after:g} s "
            "(its points are on disk)",
            file=stream,
            flush=True,
        )


class Writer(threading.Thread):
    """The file side; owns the indexer. The training thread only touches ``entries``,
    ``output``, ``flush`` and ``stop``."""

    def __init__(self, sink: Sink, settings: Settings, record: RunRecord, resumed: bool) -> None:
        super().__init__(name=f"daybreak-writer-{record.id}", daemon=True)
        self.sink = sink
        self.settings = settings
        self.entries: collections.deque[Entry] = collections.deque()
        self.output: collections.deque[str] = collections.deque()
        self.points_written = 0
        self.reporter = _Reporter(settings, record.id)
        self.indexer = Indexer(sink, settings, record, resumed, self.reporter)
        self.registered = self.indexer.registered
        self._wake = threading.Event()
        self._stop_event = threading.Event()
        self._backlog: list[dict[str, np.ndarray]] = []
        self.held_back = False  # the last drain could not write everything (a full disk)

    def start(self) -> None:
        self.indexer.start()
        super().start()

    # -- called from the training thread -------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything logged so far is written, synced and indexed; False when it
        could not be (a timeout, or points held in memory because the disk is full)."""
        ticket = self.indexer.ask_for_flush()
        self._wake.set()
        return self.indexer.wait_for_flush(ticket, timeout) and not self.held_back

    def stop(
        self,
        status: str,
        ended_at: float,
        error: str | None,
        summary: dict[str, Any],
        timeout: float,
    ) -> bool:
        deadline = time.monotonic() + timeout
        self._stop_event.set()
        self._wake.set()
        self.join(timeout)
        self.indexer.stop((status, ended_at, error, summary), max(0.1, deadline - time.monotonic()))
        return not self.is_alive() and not self.indexer.is_alive()

    # -- the thread ----------------------------------------------------------------------
    def run(self) -> None:
        last_sync = time.monotonic()
        while True:
            self._wake.wait(self.settings.flush_interval)
            self._wake.clear()
            stopping = self._stop_event.is_set()
            ticket = self.indexer.flush_ticket()
            self.reporter.guard("write metrics", self._drain)
            now = time.monotonic()
            if stopping or ticket or now - last_sync >= self.settings.fsync_interval:
                self.reporter.guard("sync to disk", self.sink.sync)
                last_sync = now
            if ticket:
                self.indexer.files_flushed(ticket)
            if stopping:
                return

    def _drain(self) -> None:
        """Write what was queued when the drain began; ``held_back`` says whether some of it
        could not be written (it is kept in memory and retried)."""
        self.held_back = True
        try:
            self._drain_output()
        finally:  # points are written even when the output could not be, and vice versa
            self._drain_points()
        self.held_back = False

    def _drain_points(self) -> None:
        """In chunks, so a large backlog reaches the disk piece by piece instead of in one
        long batch."""
        remaining = len(self.entries)
        while True:
            count = min(remaining, CHUNK)
            remaining -= count
            self._write_batch(self._take_batch(count))
            if remaining <= 0:
                return

    def _write_batch(self, batch: dict[str, np.ndarray]) -> None:
        if batch:
            self._backlog.append(batch)
            if len(self._backlog) > MAX_BACKLOG_BATCHES:
                dropped = self._backlog.pop(0)
                self.reporter.warn(
                    "keep unwritten points",
                    MemoryError(f"dropped {len(dropped)} keys of the oldest batch"),
                )
        while self._backlog:
            pending = self._backlog[0]
            for key in list(pending):  # key by key, so a failure never writes a key twice
                records = pending[key]
                self.sink.write_points({key: records})
                del pending[key]
                self.indexer.add_stats(key, KeyStats.of(records))
                self.points_written += len(records)
            self._backlog.pop(0)

    def _drain_output(self) -> None:
        count = len(self.output)
        if count:
            text = "".join(self.output.popleft() for _ in range(count))
            try:
                self.sink.write_output(text)
            except Exception:
                self.output.appendleft(text)  # the sink wrote none of it: written next time
                raise

    def _take_batch(self, count: int) -> dict[str, np.ndarray]:
        """Turn ``count`` queued log calls into one record array per key.

        Calls are grouped by their set of keys (a loop logs the same dict shape again and
        again), so the per-point work happens in numpy, not in a Python loop."""
        if not count:
            return {}
        import numpy as np

        from daybreak.tracking.points import RECORD

        popleft = self.entries.popleft
        groups: dict[
            tuple[str, ...], tuple[list[int], list[int], list[float], list[tuple[Any, ...]]]
        ] = {}
        for seq in range(count):
            step, ts, values, deferred = popleft()
            if deferred:
                values = {
                    k: (v.resolve() if type(v) is DeferredValue else v) for k, v in values.items()
                }
            keys = tuple(values)
            group = groups.get(keys)
            if group is None:
                group = groups[keys] = ([], [], [], [])
            group[0].append(seq)
            group[1].append(step)
            group[2].append(ts)
            group[3].append(tuple(values.values()))
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for keys, (seqs, steps, stamps, rows) in groups.items():
            matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(keys))
            template = np.empty(len(rows), dtype=RECORD)
            template["step"] = steps
            template["ts"] = stamps
            order = np.array(seqs)
            for column, key in enumerate(keys):
                records = template.copy()
                records["value"] = matrix[:, column]
                parts.setdefault(key, []).append((order, records))
        return {key: _in_log_order(pieces) for key, pieces in parts.items()}


def _in_log_order(pieces: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """One key's records from several groups, back in the order they were logged."""
    if len(pieces) == 1:
        return pieces[0][1]
    import numpy as np

    order = np.concatenate([seqs for seqs, _ in pieces])
    records = np.concatenate([recs for _, recs in pieces])
    return records[np.argsort(order, kind="stable")]


class Indexer(threading.Thread):
    """The database side: registration, index merges, heartbeats, the run's end."""

    def __init__(
        self, sink: Sink, settings: Settings, record: RunRecord, resumed: bool, reporter: _Reporter
    ) -> None:
        super().__init__(name=f"daybreak-indexer-{record.id}", daemon=True)
        self.sink = sink
        self.settings = settings
        self.record = record
        self.resumed = resumed
        self.reporter = reporter
        self.registered = threading.Event()
        self._stats: dict[str, KeyStats] = {}
        self._stats_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop_event = threading.Event()
        self._final: tuple[str, float, str | None, dict[str, Any]] | None = None
        self._flush = threading.Condition()
        self._asked = 0  # flush tickets handed out
        self._written = 0  # tickets whose points are on disk
        self._done = 0  # tickets whose points are also indexed

    # -- flush handshake -----------------------------------------------------------------
    def ask_for_flush(self) -> int:
        with self._flush:
            self._asked += 1
            return self._asked

    def flush_ticket(self) -> int:
        with self._flush:
            return self._asked if self._asked > self._written else 0

    def files_flushed(self, ticket: int) -> None:
        with self._flush:
            self._written = max(self._written, ticket)
        self._wake.set()

    def wait_for_flush(self, ticket: int, timeout: float) -> bool:
        with self._flush:
            return self._flush.wait_for(
                lambda: self._done >= ticket or not self.is_alive(), timeout
            )

    def _mark_done(self, ticket: int) -> None:
        with self._flush:
            self._done = max(self._done, ticket)
            self._flush.notify_all()

    # -- stats from the writer ---------------------------------------------------------------
    def add_stats(self, key: str, stats: KeyStats) -> None:
        with self._stats_lock:
            known = self._stats.get(key)
            self._stats[key] = known.merge(stats) if known else stats

    def _has_stats(self) -> bool:
        with self._stats_lock:
            return bool(self._stats)

    def _take_stats(self) -> dict[str, KeyStats]:
        with self._stats_lock:
            stats, self._stats = self._stats, {}
            return stats

    def _put_back(self, stats: dict[str, KeyStats]) -> None:
        with self._stats_lock:
            for key, newer in self._stats.items():
                stats[key] = stats[key].merge(newer) if key in stats else newer
            self._stats = stats

    def stop(self, final: tuple[str, float, str | None, dict[str, Any]], timeout: float) -> None:
        self._final = final
        self._stop_event.set()
        self._wake.set()
        self.join(timeout)

    # -- the thread ----------------------------------------------------------------------
    def run(self) -> None:
        self._open()
        last_index = time.monotonic()
        while True:
            self._wake.wait(self.settings.index_interval)
            self._wake.clear()
            stopping = self._stop_event.is_set()
            with self._flush:
                ticket = self._written if self._written > self._done else 0
            if not self.registered.is_set():
                self._open()
            now = time.monotonic()
            since = now - last_index
            due = since >= self.settings.heartbeat_interval or (
                since >= self.settings.index_interval and self._has_stats()
            )
            if self.registered.is_set() and (stopping or ticket or due):
                self.reporter.guard("update the metric index", self._index)
                last_index = now
            if ticket:
                self._mark_done(ticket)
            if stopping:
                break
        self._close()

    def _open(self) -> None:
        if not self.resumed and not self.record.environment:
            from daybreak.tracking import environment

            self.record.git = environment.git_state()
            self.record.environment = environment.environment()
            self.record.host = environment.host()
        if self.reporter.guard(
            "register the run", lambda: self.sink.open(self.record, self.resumed)
        ):
            self.registered.set()

    def _index(self) -> None:
        stats = self._take_stats()
        try:
            self.sink.index(stats, time.time())
        except Exception:
            self._put_back(stats)
            raise

    def _close(self) -> None:
        if not self.registered.is_set():
            self._open()  # a run that ends before it was registered is still recorded
        # The database may be away for a moment (a restart, a failover): the last index and
        # the end of a registered run are retried for ``remote_finish_grace`` seconds, as in
        # remote mode, instead of leaving the run "running" until it is marked crashed.
        deadline = time.monotonic() + self.settings.remote_finish_grace
        if self.registered.is_set():
            while self._has_stats() and not self.reporter.guard(
                "update the metric index", self._index
            ):
                if not self._retry_after(deadline, "update the metric index"):
                    break
        if self._final is not None and self.registered.is_set():
            status, ended_at, error, summary = self._final
            while not self.reporter.guard(
                "record the run's end", lambda: self.sink.finish(status, ended_at, error, summary)
            ):
                if not self._retry_after(deadline, "record the run's end"):
                    break
        self.reporter.guard("close files", self.sink.close)
        with self._flush:
            self._done = self._asked
            self._flush.notify_all()

    def _retry_after(self, deadline: float, what: str) -> bool:
        """Pause before trying to ``what`` again; False when the failure will not pass (it is
        not an outage of the database or the disk) or the grace period is over."""
        from daybreak.errors import StoreError

        if not isinstance(self.reporter.failure, StoreError | OSError):
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            self.reporter.gave_up(what, self.settings.remote_finish_grace)
            return False
        time.sleep(min(0.5, left))
        return True
