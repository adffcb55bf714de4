"""The disk under the runs and the blob store fills up while a run trains: the writer says so
clearly, the training goes on, what was written before stays intact and readable, a checkpoint
is refused with StorageFullError, and once space is freed everything held back is written."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import daybreak
from daybreak.config import get_settings
from daybreak.tracking import points
from tests.faults.helpers import Script, check_whole, unavailable

PHASE = 1000  # steps logged in each of the three phases: before, while and after full

TRAIN = """
import sys, time, daybreak
from daybreak.errors import StorageFullError
run = daybreak.init(project="faults", name="disk-full", system_metrics=False)
print("ID", run.id, flush=True)

def train(phase):
    for _ in range(PHASE):
        step = run.step
        run.log({"loss": 1.0 / (step + 1), "i": float(step)})
        if step % 250 == 0:
            print("at step", step, "." * 3000, flush=True)  # pages of output on a full disk
    print("FLUSHED", run.flush(timeout=10), flush=True)
    try:
        saved = run.save_checkpoint({"step": run.step - 1, "phase": phase})
        print("CHECKPOINT", saved.step, flush=True)
    except StorageFullError as exc:
        print("CHECKPOINT REFUSED", exc, flush=True)

for phase in ("before", "full", "freed"):
    if phase != "before":
        assert sys.stdin.readline().strip() == phase
    train(phase)
    print("PHASE", phase, flush=True)
run.finish()
print("DONE", flush=True)
""".replace("PHASE)", f"{PHASE})")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB filesystem (tmpfs), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        # A loop-mounted image needs the same privilege (CAP_SYS_ADMIN) as tmpfs, and
        # RLIMIT_FSIZE fails writes with EFBIG, not ENOSPC: without mount there is no full disk.
        unavailable(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the disk is full."""
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(chunk)
    with pytest.raises(OSError) as caught, open(path.with_suffix(".more"), "wb") as more:
        more.write(chunk * 4)
        more.flush()
        os.fsync(more.fileno())
    assert caught.value.errno == errno.ENOSPC


def test_a_full_disk_is_reported_and_nothing_written_is_lost(
    home, tmp_path, monkeypatch, small_disk
):
    (small_disk / "runs").mkdir()
    (home / "runs").symlink_to(small_disk / "runs")
    monkeypatch.setenv("DAYBREAK_BLOBS", str(small_disk / "blobs"))
    settings = get_settings()
    train = Script(tmp_path / "train", "train", TRAIN, stdin=True)
    try:
        run_id = train.run_id()
        train.wait_for_line("PHASE before")
        run_dir = settings.runs_dir / run_id
        assert len(points.read_records(run_dir, "loss")) == PHASE
        before = {key: points.read_records(run_dir, key).copy() for key in ("loss", "i")}

        fill(small_disk / "filler")
        train.send("full")
        assert train.wait_for_line("FLUSHED") == "FLUSHED False"  # not written, and it says so
        refused = train.wait_for_line("CHECKPOINT")
        assert refused.startswith("CHECKPOINT REFUSED no space left"), refused
        assert not list((small_disk / "blobs").rglob(".partial-*")), "a half-written blob stayed"
        train.wait_for_line("PHASE full")
        assert train.process.poll() is None, "the training was stopped by the full disk"
        assert "No space left on device" in train.stderr
        assert "is full: free some space; until then training goes on" in train.stderr
        view = daybreak.get_run(run_id)  # what was written before is intact and readable
        for key, records in before.items():
            np.testing.assert_array_equal(points.read_records(run_dir, key)[:PHASE], records)
        check_whole(view.history("loss"), len(points.read_records(run_dir, "loss")), loss_of)

        for filler in small_disk.glob("filler*"):
            filler.unlink()
        train.send("freed")
        assert train.wait_for_line("CHECKPOINT") == f"CHECKPOINT {3 * PHASE - 1}"
        train.finish()
    finally:
        train.close()

    view = daybreak.get_run(run_id)
    assert view.status == "finished"
    check_whole(view.history("loss"), 3 * PHASE, loss_of)
    check_whole(view.history("i"), 3 * PHASE, lambda s: s.astype(np.float64))
    assert view.metrics()["loss"].count == 3 * PHASE
    assert [c["step"] for c in view.checkpoints()] == [PHASE - 1, 3 * PHASE - 1]
    logs = view.logs()
    assert [line.split()[2] for line in logs.splitlines() if line.startswith("at step")] == [
        str(s) for s in range(0, 3 * PHASE, 250)
    ]


def loss_of(steps: np.ndarray) -> np.ndarray:
    return 1.0 / (steps + 1)
