"""Server-side live appends: points on disk at once, indexed in groups, rebuilt after a crash."""

from __future__ import annotations

import time

import numpy as np

from daybreak.config import Settings
from daybreak.store.engine import get_database
from daybreak.tracking import service
from daybreak.tracking.live import LiveAppender
from daybreak.tracking.points import read_records, records_from
from daybreak.tracking.records import RunRecord


def _run(settings: Settings, run_id: str, **fields: object) -> None:
    now = time.time()
    record = RunRecord(id=run_id, project="live", name=run_id, started_at=now, last_heartbeat=now)
    for name, value in fields.items():
        setattr(record, name, value)
    service.create_run(get_database(settings.db_url), record)


def _points(start: int, count: int) -> dict[str, np.ndarray]:
    steps = range(start, start + count)
    return {"loss": records_from(steps, [time.time()] * count, [float(s) for s in steps])}


def test_points_are_on_disk_at_once_and_indexed_on_flush(settings: Settings) -> None:
    _run(settings, "r1")
    db = get_database(settings.db_url)
    live = LiveAppender(db, lambda rid: settings.runs_dir / rid, interval=3600)
    live.append("r1", _points(0, 3))
    live.append("r1", _points(3, 2))
    assert read_records(settings.runs_dir / "r1", "loss")["step"].tolist() == [0, 1, 2, 3, 4]
    live.flush("r1")
    stats = service.metric_index(db, "r1")["loss"]
    assert (stats.count, stats.last, stats.last_step, stats.min, stats.max) == (5, 4.0, 4, 0.0, 4.0)
    live.append("r1", _points(5, 1))
    live.close()
    assert service.metric_index(db, "r1")["loss"].count == 6


def test_a_restarted_server_rebuilds_the_index_from_the_files(settings: Settings) -> None:
    _run(settings, "r2")
    db = get_database(settings.db_url)
    first = LiveAppender(db, lambda rid: settings.runs_dir / rid, interval=3600)
    first.append("r2", _points(0, 4))
    first.flush("r2")
    first.append("r2", _points(4, 3))  # written, never indexed: the server dies here
    assert service.metric_index(db, "r2")["loss"].count == 4
    second = LiveAppender(db, lambda rid: settings.runs_dir / rid, interval=3600)
    second.append("r2", _points(7, 1))
    second.flush()
    stats = service.metric_index(db, "r2")["loss"]
    assert (stats.count, stats.last_step) == (8, 7)
    second.append("r2", _points(8, 2))
    second.flush()
    assert service.metric_index(db, "r2")["loss"].count == 10  # merged, not rebuilt again


def test_the_background_thread_indexes_without_being_asked(settings: Settings) -> None:
    _run(settings, "r3")
    db = get_database(settings.db_url)
    live = LiveAppender(db, lambda rid: settings.runs_dir / rid, interval=0.05)
    live.append("r3", _points(0, 2))
    deadline = time.monotonic() + 10
    while "loss" not in service.metric_index(db, "r3") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.metric_index(db, "r3")["loss"].count == 2
    live.close()


def test_runs_without_heartbeats_get_an_hour_of_silence(settings: Settings) -> None:
    db = get_database(settings.db_url)
    now = time.time()
    _run(settings, "quiet", last_heartbeat=now - 600)
    _run(settings, "silent", last_heartbeat=now - 4000)
    _run(settings, "sdk", last_heartbeat=now - 600, host="elsewhere", pid=1)
    crashed = service.mark_stale_runs(db, now, stale_after=30)
    assert sorted(crashed) == ["sdk", "silent"]
