"""The Ray executor against a real Ray head on 127.0.0.1: run, logs, retry, resume, cancel,
re-attach, and jobs that can never fit, exactly as with the local executor."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import daybreak
from daybreak.jobs import service, spec
from daybreak.jobs.agent import Agent
from tests.conftest import free_port
from tests.jobs.conftest import script, wait_for
from tests.jobs.test_queue import RESUMABLE, TRAIN

pytest.importorskip("ray", reason="the Ray executor needs `pip install 'daybreak[ray]'`")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A Ray head of our own (its own ports and temp dir), stopped by killing its processes."""
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    dashboard = free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "DAYBREAK_TEST_RAY": temp,  # every process of this cluster inherits it: how we stop them
    }
    command = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--head",
        f"--port={free_port()}",
        f"--dashboard-port={dashboard}",
        "--dashboard-host=127.0.0.1",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--num-gpus=0",
        "--disable-usage-stats",
        f"--temp-dir={temp}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--ray-client-server-port={free_port()}",
    ]
    started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield f"ray://127.0.0.1:{dashboard}"
    finally:
        ours: set[psutil.Process] = set()
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get("DAYBREAK_TEST_RAY") == temp:
                    ours.add(process)
                    ours.update(process.children(recursive=True))  # renamed agents lose the env
        for process in ours:
            with contextlib.suppress(psutil.Error):
                process.kill()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def ray_env(monkeypatch, ray_address):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    return ray_address


@pytest.fixture
def ray_agent(settings, ray_env) -> Iterator[Agent]:
    from daybreak.jobs.ray import RayExecutor

    agent = Agent(settings, RayExecutor(settings, ray_env), 0.2)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    yield agent
    stop.set()
    thread.join(10)


def submit(settings, path, address, **options):
    return service.submit(settings, spec.build(str(path), executor=address, **options))[0]


def test_a_job_runs_on_ray_into_its_run_with_its_config_and_logs(
    settings, project, ray_env, ray_agent
):
    job = submit(
        settings, script(project, "train.py", TRAIN), ray_env, config={"lr": 0.25, "steps": 4}
    )
    done = wait_for(settings, job.id, service.DONE, timeout=120)
    assert done.status == "succeeded", (done.reason, done.error)
    run = daybreak.get_run(job.run_id)
    assert run.record.config["lr"] == 0.25 and len(run.history("loss")) == 4
    log = (settings.home / "jobs" / job.id / "attempt-1.log").read_text()
    assert "'lr': 0.25" in log
    events = [e["kind"] for e in service.events(settings, job.id)]
    assert events == ["submitted", "claimed", "started", "exited"]


def test_failures_retry_and_a_killed_attempt_resumes_on_ray(settings, project, ray_env, ray_agent):
    broken = submit(
        settings, script(project, "broken.py", "raise SystemExit(7)\n"), ray_env, retries=1
    )
    resumable = submit(settings, script(project, "resume.py", RESUMABLE), ray_env, retries=2)
    failed = wait_for(settings, broken.id, service.DONE, timeout=120)
    assert failed.status == "failed" and failed.attempt == 2 and failed.exit_code == 7
    done = wait_for(settings, resumable.id, service.DONE, timeout=120)
    assert done.status == "succeeded" and done.attempt == 2, (done.reason, done.error)
    history = daybreak.get_run(resumable.run_id).history("loss")
    assert list(history.steps) == list(range(20))
    assert daybreak.get_run(resumable.run_id).record.attempts == 2


def test_cancel_requeue_and_never_fitting_jobs_on_ray(settings, project, ray_env, ray_agent):
    sleeper = submit(
        settings,
        script(project, "sleep.py", "import time; print('up', flush=True); time.sleep(600)\n"),
        ray_env,
    )
    wait_for(settings, sleeper.id, ("running",), timeout=60)
    time.sleep(2)
    service.cancel(settings, sleeper.id)
    assert wait_for(settings, sleeper.id, service.DONE, timeout=60).status == "cancelled"
    body = (
        "import os, time\n"
        "print('attempt', os.environ['DAYBREAK_ATTEMPT'], flush=True)\n"
        "time.sleep(600 if os.environ['DAYBREAK_ATTEMPT'] == '1' else 0)\n"
    )
    preempted = submit(settings, script(project, "preempted.py", body), ray_env, retries=0)
    wait_for(settings, preempted.id, ("running",), timeout=60)
    time.sleep(2)
    service.requeue(settings, preempted.id)
    again = wait_for(settings, preempted.id, service.DONE, timeout=120)
    assert again.status == "succeeded" and again.attempt == 2, (again.reason, again.error)
    big = submit(settings, script(project, "gpu.py", "print(1)\n"), ray_env, gpus=2)
    failed = wait_for(settings, big.id, ("failed",), timeout=30)
    assert f"needs 2 GPU(s); the Ray cluster at {ray_env} has 0" in (failed.reason or "")


def test_a_restarted_ray_agent_reattaches(settings, project, ray_env):
    from daybreak.jobs.ray import RayExecutor

    job = submit(
        settings,
        script(project, "steady.py", "import time; time.sleep(4); print('done', flush=True)\n"),
        ray_env,
    )
    first = Agent(settings, RayExecutor(settings, ray_env), 0.2)
    stop = threading.Event()
    thread = threading.Thread(target=first.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(settings, job.id, ("running",), timeout=60)
    time.sleep(1)
    stop.set()
    thread.join(10)
    second = Agent(settings, RayExecutor(settings, ray_env), 0.2)
    stop = threading.Event()
    thread = threading.Thread(target=second.run, args=(stop,), daemon=True)
    thread.start()
    try:
        done = wait_for(settings, job.id, service.DONE, timeout=120)
    finally:
        stop.set()
        thread.join(10)
    assert done.status == "succeeded" and done.attempt == 1
    assert [e["kind"] for e in service.events(settings, job.id)].count("started") == 1


def test_an_address_that_does_not_answer_is_refused_at_submit(settings, project):
    path = script(project, "ok.py", "print(1)\n")
    with pytest.raises(spec.SpecError, match="does not answer"):
        submit(settings, path, f"ray://127.0.0.1:{free_port()}")
    with pytest.raises(spec.SpecError, match="not a Ray address"):
        submit(settings, path, "ray://nowhere")
    assert service.list_jobs(settings) == []
