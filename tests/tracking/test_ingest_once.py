"""A batch a server wrote but died before marking is applied once when the client resends it."""

from __future__ import annotations

import time

import pytest

from daybreak.config import Settings
from daybreak.tracking import service
from daybreak.tracking.points import encode_batch, read_records, records_from
from daybreak.tracking.readers import LocalBackend
from daybreak.tracking.records import RunRecord
from daybreak.web import ingest


def _batch(start: int, count: int) -> bytes:
    steps = range(start, start + count)
    records = records_from(steps, [time.time()] * count, [float(s) for s in steps])
    return encode_batch({"loss": records, "acc": records})


@pytest.fixture
def store(settings: Settings) -> LocalBackend:
    backend = LocalBackend(settings)
    now = time.time()
    service.create_run(
        backend.db, RunRecord(id="r1", project="p", name="r1", started_at=now, last_heartbeat=now)
    )
    return backend


def test_a_batch_written_but_not_marked_lands_once(
    store: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest._append_points(store, "r1", _batch(0, 5), 0)

    def killed(*args: object) -> None:
        raise RuntimeError("the server died here")

    with monkeypatch.context() as patch:
        patch.setattr(ingest, "_mark", killed)
        with pytest.raises(RuntimeError):
            ingest._append_points(store, "r1", _batch(5, 5), 1)
    run_dir = store.run_dir("r1")
    assert len(read_records(run_dir, "loss")) == 10  # written, not marked
    ingest._append_points(store, "r1", _batch(5, 5), 1)  # the client sends it again
    ingest._append_points(store, "r1", _batch(5, 5), 1)  # and once more: already applied
    for key in ("loss", "acc"):
        assert read_records(run_dir, key)["step"].tolist() == list(range(10))
        assert service.metric_index(store.db, "r1")[key].count == 10


def test_a_note_left_after_the_mark_undoes_nothing(store: LocalBackend) -> None:
    ingest._append_points(store, "r1", _batch(0, 5), 0)
    run_dir = store.run_dir("r1")
    # died after marking seq 0 but before removing its note
    (run_dir / ".ingest-points.pending").write_text(
        '{"seq": 0, "sizes": {"metrics/loss.points": 0}}'
    )
    ingest._append_points(store, "r1", _batch(5, 5), 1)
    assert read_records(run_dir, "loss")["step"].tolist() == list(range(10))
    assert not (run_dir / ".ingest-points.pending").exists()
