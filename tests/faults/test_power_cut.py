"""A training process killed (SIGKILL) at random moments while it writes, and metric files
with a torn last record or a half record of garbage at the end: the store reads cleanly up to
the last whole record, the monitor marks the run crashed, and the run resumes with every step
exactly once."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

import daybreak
from daybreak.config import get_settings
from daybreak.stack import HeartbeatMonitor
from daybreak.tracking import points
from daybreak.tracking.readers import LocalBackend
from daybreak.tracking.values import key_filename
from tests.faults.helpers import Script, check_whole, wait_until

TRIALS = 4
RESUMED = 200

WRITER = """
import time, daybreak
run = daybreak.init(project="faults", name="power-cut", system_metrics=False)
print("ID", run.id, flush=True)
i = 0
while True:
    run.log({"loss": float(i) * 0.5, "t": time.time()}, step=i)
    i += 1
    if i % 10 == 0:
        time.sleep(0.001)
"""

RESUME = """
import sys, daybreak
run = daybreak.init(resume=sys.argv[1], system_metrics=False)
print("FROM", run.step, flush=True)
for _ in range(int(sys.argv[2])):
    run.log({"loss": float(run.step) * 0.5, "t": 0.0})
run.finish()
"""


def half_loss(steps: np.ndarray) -> np.ndarray:
    return steps.astype(np.float64) * 0.5


def test_writers_killed_at_random_moments_keep_every_whole_record(home, tmp_path):
    settings = get_settings()
    writers = [Script(tmp_path / f"trial-{n}", "train", WRITER) for n in range(TRIALS)]
    run_ids = [w.run_id() for w in writers]
    backend = LocalBackend(settings)
    # A run is registered by a background thread a moment after init(): a process killed
    # before that leaves points on disk but no run in the database (see docs/faults.md).
    wait_until(lambda: len(backend.list_runs()) == TRIALS, 30, "every run registered")
    for run_id in run_ids:
        run_dir = settings.runs_dir / run_id
        wait_until(lambda d=run_dir: len(points.read_records(d, "t")) > 100, 30, "points written")
    began, killed_at = time.time(), {}
    for writer, run_id, moment in zip(
        writers, run_ids, sorted(random.uniform(0.0, 1.5) for _ in writers), strict=True
    ):
        time.sleep(max(0.0, began + moment - time.time()))
        killed_at[run_id] = time.time()
        writer.kill()

    monitor = HeartbeatMonitor(settings, every=0.1)  # as `daybreak up` runs it
    monitor.start()
    try:
        wait_until(lambda: set(run_ids) <= set(monitor.crashed), 10, "killed runs marked crashed")
    finally:
        monitor.stop()

    whole: dict[str, tuple[int, int]] = {}
    for run_id in run_ids:
        run_dir = settings.runs_dir / run_id
        loss = points.read_records(run_dir, "loss")
        stamps = points.read_records(run_dir, "t")["value"]
        assert len(loss) > 100, "the writer was killed before it wrote anything"
        assert stamps.max() > killed_at[run_id] - 1.5, "points older than the kill were lost"
        view = daybreak.get_run(run_id)
        assert view.status == "crashed"
        check_whole(view.history("loss"), len(loss), half_loss)

        whole[run_id] = tear(run_dir)  # what a power cut in the middle of a write leaves
        check_whole(view.history("loss"), whole[run_id][0], half_loss)
        assert len(view.history("t")) == whole[run_id][1] == len(stamps) - 1

    resumes = [
        Script(tmp_path / f"resume-{n}", "resume", RESUME, (run_id, str(RESUMED)))
        for n, run_id in enumerate(run_ids)
    ]
    for resume, run_id in zip(resumes, run_ids, strict=True):
        resume.finish()
        losses, stamps = whole[run_id]
        assert resume.lines[0].split() == ["FROM", str(losses)]
        view = daybreak.get_run(run_id)
        assert view.status == "finished" and view.record.attempts == 2
        check_whole(view.history("loss"), losses + RESUMED, half_loss)
        raw = points.read_records(settings.runs_dir / run_id, "loss")
        assert (raw["value"] == half_loss(raw["step"])).all(), "records after the tear misaligned"
        steps = view.history("t").steps.tolist()
        assert steps == [*range(stamps), *range(losses, losses + RESUMED)]


def tear(run_dir: Path) -> tuple[int, int]:
    """Append half a record of garbage to ``loss`` and cut the last ``t`` record in half;
    returns how many whole records each is left with."""
    folder = points.metrics_dir(run_dir)
    counts = []
    for key in ("loss", "t"):
        size = (folder / key_filename(key)).stat().st_size
        assert size % points.RECORD.itemsize == 0, "the writer itself left a torn record"
        counts.append(size // points.RECORD.itemsize)
    with open(folder / key_filename("loss"), "ab") as handle:
        handle.write(b"\xff" * 11)
    with open(folder / key_filename("t"), "r+b") as handle:
        handle.truncate(counts[1] * points.RECORD.itemsize - 7)
    return counts[0], counts[1] - 1
