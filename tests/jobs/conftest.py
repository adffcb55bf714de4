"""Jobs tests: a project folder with scripts, and an agent running in a thread."""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daybreak.jobs import service
from daybreak.jobs.agent import Agent
from daybreak.jobs.local import LocalExecutor


@pytest.fixture
def project(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder (not a git repository) to submit from."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


class RunningAgent:
    def __init__(self, settings, slots: int = 2, gpus: list[int] | None = None) -> None:
        self.agent = Agent(settings, LocalExecutor(settings, slots=slots, gpus=gpus or []), 0.05)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.agent.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


@pytest.fixture
def start_agent(settings) -> Iterator[Callable[..., RunningAgent]]:
    started: list[RunningAgent] = []

    def start(slots: int = 2, gpus: list[int] | None = None) -> RunningAgent:
        agent = RunningAgent(settings, slots, gpus)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()
    for job in service.list_jobs(settings, status="running"):  # leave no process behind
        if job.pid:
            with contextlib.suppress(OSError):
                os.killpg(job.pid, signal.SIGKILL)


def wait_for(settings, job_id: str, statuses: tuple[str, ...], timeout: float = 60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = service.get(settings, job_id)
        if job.status in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {service.get(settings, job_id).status}")
