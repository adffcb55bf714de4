"""The queue with a real agent and real processes: run, retry, resume, cancel, timeout,
frozen code, restart of the agent, priorities and GPUs that do not exist."""

from __future__ import annotations

import json
import os
import time

import psutil
import pytest

import daybreak
from daybreak.jobs import service, spec
from tests.jobs.conftest import script, wait_for

TRAIN = """
import os, sys, daybreak
run = daybreak.init(project="ignored", system_metrics=False)
cfg = daybreak.jobs.job_config()
print("config", cfg, flush=True)
for step in range(cfg.get("steps", 3)):
    run.log({"loss": cfg.get("lr", 1.0) / (step + 1)}, step=step)
run.summary["lr"] = cfg.get("lr")
run.finish()
"""


def submit(settings, path, **options):
    sweep = options.pop("sweep", None)
    return service.submit(settings, spec.build(str(path), **options), sweep)


def test_a_sweep_runs_each_point_into_its_own_run_with_its_config(settings, project, start_agent):
    path = script(project, "train.py", TRAIN)
    jobs = submit(
        settings,
        path,
        config={"steps": 4},
        project="nightly",
        tags=["sweep"],
        sweep={"lr": [0.5, 2.0]},
    )
    assert [j.name for j in jobs] == ["train[lr=0.5]", "train[lr=2.0]"]
    assert jobs[0].sweep_id and jobs[0].sweep_id == jobs[1].sweep_id
    start_agent()
    for job in jobs:
        done = wait_for(settings, job.id, service.DONE)
        assert done.status == "succeeded", done.reason
        run = daybreak.get_run(job.run_id)
        assert run.record.project == "nightly" and run.record.name == job.name
        assert "sweep" in run.record.tags
        assert run.record.config["lr"] == job.spec.config["lr"]
        assert run.history("loss").values[0] == job.spec.config["lr"]
        assert len(run.history("loss")) == 4
    log = (settings.home / "jobs" / jobs[1].id / "attempt-1.log").read_text()
    assert "'lr': 2.0" in log


def test_the_code_is_frozen_at_submit(settings, project, start_agent):
    path = script(project, "train.py", 'print("version one")\n')
    script(project, "helper.py", "VALUE = 1\n")
    job = submit(settings, path)[0]
    path.write_text('print("version two")\n')  # edited after submitting
    start_agent()
    done = wait_for(settings, job.id, service.DONE)
    assert done.status == "succeeded"
    log = (settings.home / "jobs" / job.id / "attempt-1.log").read_text()
    assert "version one" in log and "version two" not in log
    assert (settings.home / "jobs" / job.id / "code" / "helper.py").is_file()


def test_a_failing_job_is_retried_then_failed_with_its_log_tail(settings, project, start_agent):
    path = script(project, "broken.py", "import not_a_module_anywhere\n")
    job = submit(settings, path, retries=1)[0]
    start_agent()
    done = wait_for(settings, job.id, ("failed",))
    assert done.attempt == 2 and done.exit_code == 1
    assert "ModuleNotFoundError" in (done.error or "")
    kinds = [e["kind"] for e in service.events(settings, job.id)]
    assert kinds.count("started") == 2 and "retry" in kinds


RESUMABLE = """
import os, sys, daybreak
run = daybreak.init(project="p", system_metrics=False)
latest = run.latest_checkpoint()
start = latest.load()["step"] + 1 if latest else 0
for step in range(start, 20):
    run.log({"loss": float(step)}, step=step)
    if step % 5 == 4:
        run.save_checkpoint({"step": step}, step=step, keep=1)
    if step == 12 and os.environ["DAYBREAK_ATTEMPT"] == "1":
        run.flush()
        os.kill(os.getpid(), 9)  # killed mid-run, after the checkpoint at step 9
run.finish()
"""


def test_a_killed_job_resumes_its_run_from_the_last_checkpoint(settings, project, start_agent):
    job = submit(settings, script(project, "resume.py", RESUMABLE), retries=2)[0]
    start_agent()
    done = wait_for(settings, job.id, service.DONE)
    assert done.status == "succeeded" and done.attempt == 2
    run = daybreak.get_run(job.run_id)
    history = run.history("loss")
    assert list(history.steps) == list(range(20))  # steps 10-12 written twice, kept once
    assert list(history.values) == [float(s) for s in range(20)]
    assert run.record.attempts == 2 and run.record.status == "finished"
    starts = [e for e in service.events(settings, job.id) if e["kind"] == "started"]
    assert [e["attempt"] for e in starts] == [1, 2]


SLEEPER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open("child.tmp", "w").write(str(child.pid))
os.replace("child.tmp", "child.pid")
print("sleeping", flush=True)
time.sleep(600)
"""


def test_cancel_stops_the_whole_process_group(settings, project, start_agent):
    job = submit(settings, script(project, "sleep.py", SLEEPER))[0]
    start_agent()
    running = wait_for(settings, job.id, ("running",))
    child_file = settings.home / "jobs" / job.id / "code" / "child.pid"
    deadline = time.time() + 30
    while not child_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    child = psutil.Process(int(child_file.read_text()))
    running = service.get(settings, job.id)  # "running" is set at claim time, the pid just after
    assert running.pid and child.is_running()
    service.cancel(settings, job.id)
    done = wait_for(settings, job.id, ("cancelled",))
    assert done.reason == "cancelled"
    child.wait(10)  # raises if the grandchild survived
    assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE
    with pytest.raises(service.JobStateError, match="already cancelled"):
        service.cancel(settings, job.id)
    assert service.retry(settings, job.id).status == "queued"


def test_requeue_stops_the_job_and_runs_it_again_without_using_the_budget(
    settings, project, start_agent
):
    body = (
        "import os, time\n"
        "print('attempt', os.environ['DAYBREAK_ATTEMPT'], flush=True)\n"
        "time.sleep(600 if os.environ['DAYBREAK_ATTEMPT'] == '1' else 0)\n"
    )
    job = submit(settings, script(project, "preempted.py", body), retries=0)[0]
    start_agent()
    wait_for(settings, job.id, ("running",))
    while service.get(settings, job.id).pid is None:
        time.sleep(0.05)
    service.requeue(settings, job.id)
    done = wait_for(settings, job.id, service.DONE)
    assert done.status == "succeeded" and done.attempt == 2 and done.max_retries == 1
    kinds = [e["kind"] for e in service.events(settings, job.id)]
    assert kinds.count("started") == 2 and "requeued" in kinds and "retry" not in kinds
    with pytest.raises(service.JobStateError, match="only running jobs"):
        service.requeue(settings, job.id)


def test_timeout_fails_the_job_without_retrying(settings, project, start_agent):
    job = submit(
        settings, script(project, "slow.py", "import time; time.sleep(600)\n"), timeout="1s"
    )[0]
    start_agent()
    done = wait_for(settings, job.id, ("failed",))
    assert done.reason and "timed out after 1 s" in done.reason and done.attempt == 1


def test_an_agent_restart_reattaches_and_nothing_runs_twice(settings, project, start_agent):
    body = "import time\nprint('start', flush=True)\ntime.sleep(2.5)\nprint('end', flush=True)\n"
    job = submit(settings, script(project, "steady.py", body))[0]
    first = start_agent()
    running = wait_for(settings, job.id, ("running",))
    deadline = time.time() + 20
    while service.get(settings, job.id).pid is None and time.time() < deadline:
        time.sleep(0.05)
    first.stop()  # the agent goes away; the job keeps running
    assert psutil.pid_exists(service.get(settings, job.id).pid)
    start_agent()
    done = wait_for(settings, job.id, service.DONE)
    assert done.status == "succeeded" and done.attempt == 1 and running.attempt == 1
    kinds = [e["kind"] for e in service.events(settings, job.id)]
    assert kinds.count("started") == 1 and kinds.count("claimed") == 1
    assert (settings.home / "jobs" / job.id / "attempt-1.log").read_text().count("start") == 1


def test_a_job_that_finished_while_no_agent_ran_gets_its_exit_code(settings, project, start_agent):
    job = submit(
        settings,
        script(project, "quick.py", "import time; time.sleep(1); raise SystemExit(3)\n"),
        retries=0,
    )[0]
    first = start_agent()
    wait_for(settings, job.id, ("running",))
    while service.get(settings, job.id).pid is None:
        time.sleep(0.05)
    first.stop()
    time.sleep(2)  # it exits meanwhile
    start_agent()
    done = wait_for(settings, job.id, service.DONE)
    assert done.status == "failed" and done.exit_code == 3


def test_priority_first_and_slots_never_idle(settings, project, start_agent):
    path = script(project, "nap.py", "import time; time.sleep(0.3)\n")
    low = submit(settings, path, name="low", priority=0)
    high = submit(settings, path, name="high", priority=5)
    start_agent(slots=1)
    for job in low + high:
        wait_for(settings, job.id, ("succeeded",))
    starts = {j.name: service.get(settings, j.id).started_at for j in low + high}
    assert starts["high"] < starts["low"]


def test_a_job_that_can_never_fit_says_so(settings, project, start_agent):
    path = script(project, "gpu.py", "print('never')\n")
    big = submit(settings, path, gpus=4)[0]
    small = submit(settings, path, name="small")[0]
    start_agent(gpus=[0])
    done = wait_for(settings, big.id, ("failed",))
    assert "needs 4 GPU(s); this machine has 1" in (done.reason or "")
    assert wait_for(settings, small.id, service.DONE).status == "succeeded"


def test_gpu_jobs_get_their_own_devices(settings, project, start_agent):
    path = script(
        project,
        "dev.py",
        "import os, time; print('devices=' + os.environ['CUDA_VISIBLE_DEVICES']); time.sleep(0.5)\n",
    )
    jobs = [submit(settings, path, gpus=1)[0] for _ in range(3)] + submit(
        settings, path, name="cpu"
    )
    start_agent(gpus=[0, 1])
    seen = []
    for job in jobs:
        wait_for(settings, job.id, ("succeeded",))
        text = (settings.home / "jobs" / job.id / "attempt-1.log").read_text()
        seen.append(text.strip().split("devices=")[1])
    assert sorted(seen[:3]) in (["0", "0", "1"], ["0", "1", "1"]) and seen[3] == ""
    devices = [service.get(settings, j.id).devices for j in jobs[:3]]
    assert all(len(d) == 1 for d in devices)


def test_bad_specs_queue_nothing(settings, project):
    script(project, "ok.py", "print(1)\n")
    with pytest.raises(spec.SpecError, match="does not exist"):
        spec.build("missing.py")
    with pytest.raises(spec.SpecError, match="resources do not parse"):
        spec.build("ok.py", gpus="two")
    with pytest.raises(spec.SpecError, match="memory"):
        spec.build("ok.py", memory="lots")
    with pytest.raises(spec.SpecError, match="timeout"):
        spec.build("ok.py", timeout="soon")
    with pytest.raises(spec.SpecError, match="dataset 'pose@3'"):
        service.submit(settings, spec.build("ok.py", datasets=["pose@3"]))
    with pytest.raises(spec.SpecError, match="unknown executor"):
        service.submit(settings, spec.build("ok.py", executor="slurm"))
    (project / "job.yaml").write_text("entry: ok.py\ngpu: 1\n")
    with pytest.raises(spec.SpecError, match=r"unknown key.*gpu"):
        spec.from_yaml(project / "job.yaml")
    (project / "nojob.yaml").write_text("gpus: 1\n")
    with pytest.raises(spec.SpecError, match="no entry point"):
        spec.from_yaml(project / "nojob.yaml")
    assert service.list_jobs(settings) == []


def test_yaml_spec_and_sweep(settings, project):
    script(project, "ok.py", "print(1)\n")
    (project / "cfg.yaml").write_text("optim:\n  lr: 0.1\nbatch: 8\n")
    (project / "job.yaml").write_text(
        "entry: ok.py\nargs: [--fast]\nconfig: cfg.yaml\ngpus: 1\nmemory: 2G\ntimeout: 30m\n"
        "retries: 0\npriority: 3\ntags: [a]\nsweep:\n  optim.lr: [0.1, 0.01]\n"
    )
    job, grid = spec.from_yaml(project / "job.yaml")
    assert job.resources.gpus == 1 and job.resources.memory_mb == 2048 and job.timeout == 1800
    assert job.entry.args == ("--fast",)
    queued = service.submit(settings, job, grid)
    assert [j.spec.config["optim"]["lr"] for j in queued] == [0.1, 0.01]
    assert all(j.spec.config["batch"] == 8 and j.priority == 3 for j in queued)
    assert json.loads(json.dumps(queued[0].to_dict()))["command"].endswith("ok.py --fast")
    assert spec.parse_sweep(["lr=1e-3,3e-4", "flag=true"]) == {
        "lr": [0.001, 0.0003],
        "flag": [True],
    }
    assert os.path.isabs(job.entry.target)


def test_the_python_api_submits_like_the_cli(settings, project):
    from daybreak.jobs import submit as queue

    path = script(project, "api.py", "print(1)\n")
    jobs = queue(str(path), sweep={"lr": [1, 2]}, config={"batch": 4}, gpus=1, priority=7)
    assert [j.spec.config for j in jobs] == [{"batch": 4, "lr": 1}, {"batch": 4, "lr": 2}]
    assert all(j.gpus == 1 and j.priority == 7 and j.executor == "local" for j in jobs)
    with pytest.raises(spec.SpecError):
        queue("missing.py")
