"""The agent is killed (SIGKILL) while jobs run, at random moments and in the window between
starting a job's process and recording it: a new agent settles everything, every job
succeeds exactly once, and no job ever runs twice."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import daybreak
from daybreak.config import Settings
from daybreak.jobs import service, spec
from tests.faults.helpers import kill_quietly, wait_until

JOB = """
import os, time, daybreak
marks = os.environ["MARKS"]
job = os.environ["DAYBREAK_JOB_ID"]
with open(os.path.join(marks, job + ".start"), "a") as f:
    f.write(f"{os.environ['DAYBREAK_ATTEMPT']} {time.time()}\\n")
run = daybreak.init(project="faults", system_metrics=False)
for step in range(15):
    run.log({"x": float(step)}, step=step)
    time.sleep(0.1)
run.finish()
with open(os.path.join(marks, job + ".end"), "a") as f:
    f.write(f"{os.environ['DAYBREAK_ATTEMPT']} {time.time()}\\n")
"""

# An agent that dies right after it started a job's process and before it recorded the pid.
DIES_BEFORE_RECORDING = """
import os, signal, threading
from daybreak.config import get_settings
from daybreak.jobs import agent, service
service.started = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
agent.run_agent(get_settings(), threading.Event(), 1)
"""


class AgentProcess:
    """An agent in its own process, killed like a machine's OOM killer would."""

    def __init__(self, folder: Path, code: str | None = None) -> None:
        command = [sys.executable, "-m", "daybreak.cli", "agent", "--slots", "3"]
        if code is not None:
            command = [sys.executable, "-c", code]
        self.log = open(folder / f"agent-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        kill_quietly(self.process)
        self.log.close()


@pytest.fixture
def jobs_folder(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "marks").mkdir()
    (folder / "job.py").write_text(JOB)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MARKS", str(folder / "marks"))
    return folder


def submit(settings: Settings, folder: Path, count: int) -> list[service.JobRecord]:
    build = spec.build(str(folder / "job.py"), env={"MARKS": str(folder / "marks")}, retries=2)
    return [service.submit(settings, build)[0] for _ in range(count)]


def running_with_pid(settings: Settings) -> int:
    return sum(1 for j in service.list_jobs(settings, status="running") if j.pid)


def check_each_ran_once(settings: Settings, folder: Path, jobs: list[service.JobRecord]) -> None:
    for job in jobs:
        done = wait_until(
            lambda j=job: (r := service.get(settings, j.id)).status in service.DONE and r,
            90,
            f"job {job.id} done",
            every=0.2,
        )
        assert done.status == "succeeded", (done.reason, done.error)
        starts = (folder / "marks" / f"{job.id}.start").read_text().splitlines()
        ends = (folder / "marks" / f"{job.id}.end").read_text().splitlines()
        assert len(starts) == 1 and len(ends) == 1, f"job {job.id} ran {len(starts)} times"
        kinds = [e["kind"] for e in service.events(settings, job.id)]
        assert kinds.count("exited") == 1 and kinds.count("started") <= len(starts), kinds
        run = daybreak.get_run(job.run_id)
        assert run.status == "finished" and run.record.attempts == 1
        assert run.history("x").steps.tolist() == list(range(15))


def test_an_agent_killed_at_random_moments_loses_no_job_and_runs_none_twice(
    settings, jobs_folder, agents
):
    jobs = submit(settings, jobs_folder, 6)
    agents.append(AgentProcess(jobs_folder))
    wait_until(lambda: running_with_pid(settings) >= 2, 30, "two jobs running")
    time.sleep(random.uniform(0.0, 0.5))
    agents[-1].kill()  # the jobs keep running in their own sessions
    time.sleep(0.3)
    agents.append(AgentProcess(jobs_folder))  # adopts them, runs the rest
    wait_until(lambda: len(list((jobs_folder / "marks").glob("*.end"))) >= 3, 60, "3 jobs done")
    time.sleep(random.uniform(0.0, 0.5))  # the next jobs are being claimed and started
    agents[-1].kill()
    agents.append(AgentProcess(jobs_folder))
    check_each_ran_once(settings, jobs_folder, jobs)


def test_an_agent_killed_before_it_recorded_a_started_job_does_not_start_it_again(
    settings, jobs_folder, agents
):
    jobs = submit(settings, jobs_folder, 2)
    agents.append(AgentProcess(jobs_folder, DIES_BEFORE_RECORDING))
    assert agents[-1].process.wait(30) == -signal.SIGKILL
    first = service.get(settings, jobs[0].id)
    assert first.status == "running" and first.pid is None  # started, but nobody knows its pid
    agents.append(AgentProcess(jobs_folder))
    check_each_ran_once(settings, jobs_folder, jobs)
    assert [e["kind"] for e in service.events(settings, first.id)].count("started") == 1


@pytest.fixture
def agents(settings: Settings) -> Iterator[list[AgentProcess]]:
    """Agents a test starts; at the end they and any job process still running are killed."""
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.kill()
    for job in service.list_jobs(settings, status="running"):
        if job.pid:
            with contextlib.suppress(OSError):
                os.killpg(job.pid, signal.SIGKILL)
