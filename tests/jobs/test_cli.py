"""``daybreak submit`` / ``daybreak jobs`` through the CLI, and the agent inside ``daybreak up``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from daybreak.cli.main import app
from daybreak.jobs import service
from tests.jobs.conftest import script, wait_for


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def test_submit_sweep_then_ls_show_logs_cancel_retry(settings, project, start_agent):
    script(project, "train.py", "import sys, time\nprint('args', sys.argv[1:])\ntime.sleep(0.2)\n")
    (project / "cfg.yaml").write_text("lr: 0.1\n")
    result = invoke(
        "submit",
        "train.py",
        "--config",
        "cfg.yaml",
        "--sweep",
        "lr=1e-3,3e-4",
        "--priority",
        "2",
        "--tag",
        "night",
        "--json",
        "--",
        "--fast",
    )
    assert result.exit_code == 0, result.output
    queued = json.loads(result.output)
    assert [j["spec"]["config"]["lr"] for j in queued] == [0.001, 0.0003]
    assert all(j["priority"] == 2 and j["spec"]["tags"] == ["night"] for j in queued)
    listed = json.loads(invoke("jobs", "ls", "--json").output)
    assert {j["id"] for j in listed} == {j["id"] for j in queued}
    start_agent()
    for job in queued:
        wait_for(settings, job["id"], ("succeeded",))
    shown = json.loads(invoke("jobs", "show", queued[0]["id"], "--json").output)
    assert [e["kind"] for e in shown["events"]] == ["submitted", "claimed", "started", "exited"]
    logs = invoke("jobs", "logs", queued[0]["id"])
    assert "args ['--fast']" in logs.output
    text = invoke("jobs", "show", queued[0]["id"]).output
    assert "train[lr=0.001]" in text  # a sweep name is not eaten as console markup
    refused = invoke("jobs", "cancel", queued[0]["id"])
    assert refused.exit_code != 0 and "already succeeded" in str(refused.exception)


def test_submit_refuses_bad_input_and_queues_nothing(settings, project):
    assert invoke("submit").exit_code != 0
    assert "does not exist" in str(invoke("submit", "nope.py").exception)
    script(project, "ok.py", "print(1)\n")
    assert "resources" in str(invoke("submit", "ok.py", "--gpus", "x").exception)
    assert "dataset" in str(invoke("submit", "ok.py", "--dataset", "nothing@1").exception)
    (project / "bad.yaml").write_text("entry: ok.py\nlearning_rate: 3\n")
    assert "unknown key" in str(invoke("submit", "--spec", "bad.yaml").exception)
    assert service.list_jobs(settings) == []


def test_the_stack_runs_an_agent(settings, project):
    from daybreak.stack import running_stack
    from tests.conftest import free_port

    path = script(project, "hello.py", "print('hello from the queue')\n")
    from daybreak.jobs import spec

    job = service.submit(settings, spec.build(str(path)))[0]
    with running_stack(settings, "127.0.0.1", free_port()) as stack:
        assert stack["agent"]
        done = wait_for(settings, job.id, service.DONE)
        second = running_stack(settings, "127.0.0.1", free_port())
        with second as other:
            assert not other["agent"]  # one agent per home: the second stack runs none
    assert done.status == "succeeded"


def test_cancel_retry_json(settings, project):
    script(project, "wait.py", "print(1)\n")
    (queued,) = json.loads(invoke("submit", "wait.py", "--json").output)
    cancelled = json.loads(invoke("jobs", "cancel", queued["id"], "--json").output)
    assert [j["status"] for j in cancelled] == ["cancelled"]
    retried = json.loads(invoke("jobs", "retry", queued["id"], "--json").output)
    assert [j["status"] for j in retried] == ["queued"]
