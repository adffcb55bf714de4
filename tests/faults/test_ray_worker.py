"""A Ray worker dies mid-job on a real local Ray cluster: the job supervisor actor running a
checkpointing training script is killed (SIGKILL). The job is retried, the next attempt
starts from the last checkpoint (not from step 0), and the run's history has every step
exactly once, the steps after the checkpoint from the attempt that resumed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import psutil
import pytest

import daybreak
from daybreak.jobs import service, spec
from daybreak.tracking import points
from tests.faults.helpers import wait_until
from tests.jobs.test_ray import ray_address, ray_agent, ray_env  # noqa: F401 - fixtures

STEPS = 40

TRAIN = f"""
import os, time, daybreak
run = daybreak.init(project="faults", system_metrics=False)
attempt = float(os.environ["DAYBREAK_ATTEMPT"])
latest = run.latest_checkpoint()
start = latest.load()["step"] + 1 if latest else 0
print("START", start, flush=True)
for step in range(start, {STEPS}):
    run.log({{"loss": 1.0 / (step + 1), "attempt": attempt}}, step=step)
    if step % 5 == 4:
        run.flush()
        run.save_checkpoint({{"step": step}}, step=step, keep=2)
    time.sleep(0.1)
run.finish()
"""


def training_process(job_id: str) -> psutil.Process | None:
    """The job's training script, wherever Ray started it."""
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "train.py" in " ".join(process.info["cmdline"] or []) and (
                process.environ().get("DAYBREAK_JOB_ID") == job_id
            ):
                return process
        except psutil.Error:
            continue
    return None


def supervisor_of(process: psutil.Process) -> psutil.Process:
    """The Ray worker process (the job's supervisor actor) the script runs under."""
    for parent in process.parents():
        if parent.name().startswith("ray::") or "JobSupervisor" in " ".join(parent.cmdline()):
            return parent
    raise AssertionError(f"no Ray worker above {process.cmdline()}")


def latest_step(run_id: str) -> int:
    """The step of the run's newest checkpoint (-1: none, or no run yet)."""
    try:
        steps = [c["step"] for c in daybreak.get_run(run_id).checkpoints()]
    except daybreak.DaybreakError:
        return -1
    return max(steps, default=-1)


@pytest.mark.usefixtures("ray_agent")
def test_a_killed_ray_worker_resumes_its_job_from_the_checkpoint(
    settings, tmp_path: Path, monkeypatch, request
):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN)
    monkeypatch.chdir(folder)
    address = request.getfixturevalue("ray_env")
    job = service.submit(settings, spec.build("train.py", executor=address, retries=2))[0]

    wait_until(lambda: latest_step(job.run_id) >= 9, 120, "a checkpoint at step 9", every=0.2)
    script = wait_until(lambda: training_process(job.id), 30, "the training process found")
    checkpoint = latest_step(job.run_id)
    run_dir = settings.runs_dir / job.run_id
    wait_until(
        lambda: points.read_records(run_dir, "loss")["step"].max() >= checkpoint + 2,
        30,
        "steps logged after the checkpoint",
    )
    worker = supervisor_of(script)
    os.kill(worker.pid, signal.SIGKILL)
    psutil.wait_procs([script], timeout=30)  # Ray takes the script down with its worker
    assert not script.is_running() or script.status() == psutil.STATUS_ZOMBIE
    checkpoint = latest_step(job.run_id)  # the last one the killed attempt saved
    assert checkpoint >= 9

    done = wait_until(
        lambda: (r := service.get(settings, job.id)).status in service.DONE and r,
        120,
        "the job done",
        every=0.2,
    )
    assert done.status == "succeeded" and done.attempt == 2, (done.reason, done.error)
    kinds = [e["kind"] for e in service.events(settings, job.id)]
    assert kinds.count("started") == 2 and kinds.count("retry") == 1, kinds
    log = (settings.home / "jobs" / job.id / "attempt-2.log").read_text()
    assert f"START {checkpoint + 1}\n" in log, log[-2000:]

    run = daybreak.get_run(job.run_id)
    assert run.status == "finished" and run.record.attempts == 2
    loss, attempt = run.history("loss"), run.history("attempt")
    assert loss.steps.tolist() == list(range(STEPS))  # no gap, no duplicate after the rewind
    np.testing.assert_array_equal(loss.values, 1.0 / (np.arange(STEPS) + 1))
    resumed = np.arange(STEPS) > checkpoint
    assert (attempt.values[~resumed] == 1).all() and (attempt.values[resumed] == 2).all()
    raw = points.read_records(run_dir, "attempt")
    first, second = raw[raw["value"] == 1], raw[raw["value"] == 2]
    assert second["step"].min() == checkpoint + 1, "the retry did not start at the checkpoint"
    assert first["ts"].max() < second["ts"].min(), "the two attempts ran at the same time"
