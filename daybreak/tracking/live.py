"""Server-side appends for clients that send a point or two per request (the MLflow protocol).

Each request's points are written to the run's metric files at once, so a killed server loses
nothing the OS already has; every ``interval`` a background thread fsyncs what was written and
merges the new points into the metric index with the run's heartbeat, one transaction per run.
That is group commit: one fsync and one transaction per run and interval instead of per point.
Reads that need the index (a run's latest metrics) call :meth:`LiveAppender.flush` first.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from daybreak.store.engine import Database
from daybreak.tracking import service
from daybreak.tracking.points import PointFiles, list_keys, read_records
from daybreak.tracking.records import KeyStats

log = logging.getLogger(__name__)
MAX_OPEN_RUNS = 128


class _OpenRun:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.files = PointFiles(run_dir)
        self.stats: dict[str, KeyStats] = {}
        self.written = False
        self.reindex = False


class LiveAppender:
    """Per-process: open point files of recently written runs and their unindexed stats."""

    def __init__(
        self, db: Database, run_dir_of: Callable[[str], Path], interval: float = 0.5
    ) -> None:
        self.db = db
        self.run_dir_of = run_dir_of
        self.interval = interval
        self._runs: collections.OrderedDict[str, _OpenRun] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def append(self, run_id: str, batch: dict[str, np.ndarray]) -> None:
        """Write ``batch`` (records per key) to the run's files now; index it soon."""
        with self._lock:
            run = self._open(run_id)
            for key, records in batch.items():
                if not len(records):
                    continue
                run.files.append(key, records)
                new = KeyStats.of(records)
                old = run.stats.get(key)
                run.stats[key] = new if old is None else old.merge(new)
            run.written = True
            self._start()

    def flush(self, run_id: str | None = None) -> None:
        """Sync and index what was appended (to one run, or to all) before returning."""
        with self._flush_lock:
            with self._lock:
                ids = [run_id] if run_id is not None else list(self._runs)
                work = [(rid, *self._take(rid)) for rid in ids if rid in self._runs]
            failure: Exception | None = None
            for rid, sync, stats, reindex in work:
                try:
                    self._commit(rid, sync, stats, reindex)
                except Exception as exc:  # the other runs still get indexed
                    failure = failure or exc
            if failure is not None:
                raise failure

    def forget(self, run_id: str) -> None:
        """Close a run's files (it finished or was deleted), indexing what it had first."""
        with contextlib.suppress(Exception):
            self.flush(run_id)
        with self._lock:
            run = self._runs.pop(run_id, None)
            if run is not None:
                run.files.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()
        with self._lock:
            for run in self._runs.values():
                run.files.close()
            self._runs.clear()

    # -- inside -------------------------------------------------------------------------------
    def _open(self, run_id: str) -> _OpenRun:
        run = self._runs.get(run_id)
        if run is not None:
            self._runs.move_to_end(run_id)
            return run
        if len(self._runs) >= MAX_OPEN_RUNS:
            old_id, old = next(iter(self._runs.items()))
            if not old.written:
                del self._runs[old_id]
                old.files.close()
        run = _OpenRun(self.run_dir_of(run_id))
        # After a restart, points written before the server died may be missing from the
        # index: the first flush of this process rebuilds the run's index from its files.
        run.reindex = True
        self._runs[run_id] = run
        return run

    def _take(self, run_id: str) -> tuple[Callable[[], None], dict[str, KeyStats], bool]:
        run = self._runs[run_id]
        stats, run.stats = run.stats, {}
        reindex = run.reindex and run.written
        if reindex:  # the files hold everything so far: rebuild from them, under the lock
            run.reindex = False
            stats = stats_from_files(run.run_dir)
        run.written = False
        return run.files.detach_sync(), stats, reindex

    def _commit(
        self, run_id: str, sync: Callable[[], None], stats: dict[str, KeyStats], reindex: bool
    ) -> None:
        try:
            sync()
            if reindex:
                service.replace_key_stats(self.db, run_id, stats, time.time())
            elif stats:
                service.index_metrics(self.db, run_id, stats, time.time())
        except Exception:
            self._restore(run_id, stats, reindex)
            raise

    def _restore(self, run_id: str, stats: dict[str, KeyStats], reindex: bool) -> None:
        """Put back what could not be indexed (the database is away): the next round retries."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return
            if reindex:  # rebuilt from the files again next round, newer points included
                run.reindex = True
            else:
                for key, old in stats.items():
                    newer = run.stats.get(key)
                    run.stats[key] = old if newer is None else old.merge(newer)
            run.written = True

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="daybreak-live", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception as exc:  # retried next round; say so once per kind
                log.warning("daybreak: could not index live points yet (%s); retrying", exc)


def stats_from_files(run_dir: Path) -> dict[str, KeyStats]:
    """The metric index of a run rebuilt from its files."""
    out = {}
    for key in list_keys(run_dir):
        records = read_records(run_dir, key)
        if len(records):
            out[key] = KeyStats.of(records)
    return out
