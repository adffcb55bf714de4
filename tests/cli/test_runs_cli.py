"""``daybreak runs``: ls, show, compare, tail, export, import and delete on real runs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

import daybreak
from daybreak.cli.main import app
from daybreak.config import Settings
from daybreak.errors import ConfigError, ConflictError, ImportFormatError, NotFoundError
from daybreak.tracking.readers import LocalBackend


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["runs", *args], input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = cli(*args, input=input)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def process(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command line: ``python -m daybreak.cli runs ...`` (errors as the user sees them)."""
    command = [sys.executable, "-m", "daybreak.cli", "runs", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def make_run(
    name: str,
    project: str = "p",
    tags: tuple[str, ...] = (),
    status: str = "finished",
    steps: int = 10,
    **config: object,
) -> str:
    run = daybreak.init(
        project=project,
        name=name,
        config={"lr": 0.1, "model": {"depth": 3, "act": "relu"}, **config},
        tags=list(tags),
        system_metrics=False,
        capture_output=False,
    )
    for i in range(steps):
        run.log({"train/loss": 1.0 / (i + 1), "val/acc": i / 10}, step=i)
    run.log({"val/acc": math.nan}, step=steps)
    run.summary["best_acc"] = 0.9
    run.finish(status, "RuntimeError: out of memory" if status == "failed" else None)
    return run.id


@pytest.fixture
def runs(home: Path) -> dict[str, str]:
    first = make_run("first", tags=("baseline",))
    time.sleep(0.01)
    second = make_run("second", project="q", status="failed", steps=5, lr=0.3)
    return {"first": first, "second": second}


# -- ls -----------------------------------------------------------------------------------


def test_ls_table(runs: dict[str, str]) -> None:
    out = ok("ls").stdout
    for run_id in runs.values():
        assert run_id[:8] in out
    assert "finished" in out and "failed" in out
    assert "first" in out and "second" in out
    assert "train/loss=" in out


def test_ls_json_and_filters(runs: dict[str, str]) -> None:
    listed = as_json("ls")
    assert isinstance(listed, list)
    assert [r["id"] for r in listed] == [runs["second"], runs["first"]]  # newest first
    by_id = {r["id"]: r for r in listed}
    first = by_id[runs["first"]]
    assert first["config"] == {"lr": 0.1, "model": {"depth": 3, "act": "relu"}}
    assert (first["project"], first["name"], first["status"]) == ("p", "first", "finished")
    assert first["tags"] == ["baseline"] and first["summary"] == {"best_acc": 0.9}
    assert by_id[runs["second"]]["error"] == "RuntimeError: out of memory"
    assert [r["id"] for r in as_json("ls", "--project", "p")] == [runs["first"]]
    assert [r["id"] for r in as_json("ls", "--status", "failed")] == [runs["second"]]
    assert [r["id"] for r in as_json("ls", "--tag", "baseline")] == [runs["first"]]
    assert [r["id"] for r in as_json("ls", "--limit", "1")] == [runs["second"]]
    assert as_json("ls", "--project", "nope") == []


def test_ls_empty_and_bad_status(home: Path) -> None:
    assert "no runs" in ok("ls").stdout
    result = cli("ls", "--status", "great")
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)


# -- show ---------------------------------------------------------------------------------


def test_show_table(runs: dict[str, str]) -> None:
    out = ok("show", runs["second"][:6]).stdout
    assert runs["second"] in out
    assert "failed" in out and "second" in out
    assert "model.depth" in out and "0.3" in out
    assert "best_acc" in out
    assert "train/loss" in out and "val/acc" in out
    assert "RuntimeError: out of memory" in out


def test_show_json(runs: dict[str, str]) -> None:
    shown = as_json("show", runs["first"][:5])
    assert isinstance(shown, dict)
    assert shown["run"]["id"] == runs["first"]
    assert shown["run"]["config"]["model"] == {"depth": 3, "act": "relu"}
    assert shown["run"]["summary"] == {"best_acc": 0.9}
    loss = shown["metrics"]["train/loss"]
    assert (loss["count"], loss["last"], loss["min"], loss["max"]) == (10, 0.1, 0.1, 1.0)
    acc = shown["metrics"]["val/acc"]
    assert (acc["count"], acc["nonfinite"], acc["last"], acc["max"]) == (11, 1, "NaN", 0.9)
    assert shown["artifacts"] == [] and shown["notes"] == []


def test_show_lists_artifacts(home: Path, tmp_path: Path) -> None:
    run = daybreak.init(project="p", name="a", system_metrics=False, capture_output=False)
    (tmp_path / "weights.bin").write_bytes(b"x" * 2048)
    run.log_artifact(tmp_path / "weights.bin")
    run.finish()
    assert "weights.bin" in ok("show", run.id).stdout
    shown = as_json("show", run.id)
    assert [a["name"] for a in shown["artifacts"]] == ["weights.bin"]


# -- compare ------------------------------------------------------------------------------


def test_compare_table(runs: dict[str, str]) -> None:
    out = ok("compare", runs["first"], runs["second"]).stdout
    assert "lr" in out and "0.1" in out and "0.3" in out
    assert "model.depth" not in out  # the same in both: only with --all
    assert "train/loss" in out
    assert "model.depth" in ok("compare", runs["first"], runs["second"], "--all").stdout


def test_compare_json(runs: dict[str, str]) -> None:
    result = as_json("compare", runs["first"][:6], runs["second"][:6])
    assert isinstance(result, dict)
    assert [r["id"] for r in result["runs"]] == [runs["first"], runs["second"]]
    assert result["config"] == {"lr": [0.1, 0.3]}
    loss = result["metrics"]["train/loss"]
    assert [s["last"] for s in loss] == [0.1, 0.2]
    assert [s["min"] for s in loss] == [0.1, 0.2]
    assert [s["max"] for s in loss] == [1.0, 1.0]
    assert [s["count"] for s in loss] == [10, 5]
    every = as_json("compare", runs["first"], runs["second"], "--all", "--metric", "val/acc")
    assert every["config"]["model.act"] == ["relu", "relu"]
    assert list(every["metrics"]) == ["val/acc"]


def test_compare_needs_two_runs_and_known_metrics(runs: dict[str, str]) -> None:
    assert isinstance(cli("compare", runs["first"]).exception, ConfigError)
    result = cli("compare", runs["first"], runs["second"], "--metric", "nope")
    assert isinstance(result.exception, NotFoundError)
    assert "nope" in result.exception.message
    assert isinstance(cli("compare", runs["first"], "zzzz").exception, NotFoundError)


# -- tail ---------------------------------------------------------------------------------


def test_tail_prints_captured_output(home: Path) -> None:
    run = daybreak.init(project="p", name="talk", system_metrics=False, capture_output=True)
    for i in range(30):
        print(f"epoch {i} [bold]not markup[/bold]")
    run.log({"loss": 0.5}, step=0)
    run.finish()
    out = ok("tail", run.id).stdout
    assert out.splitlines() == [f"epoch {i} [bold]not markup[/bold]" for i in range(10, 30)]
    assert ok("tail", run.id, "-n", "3").stdout.splitlines()[0].startswith("epoch 27 ")
    shown = as_json("tail", run.id, "--lines", "2")
    assert shown["lines"] == [f"epoch {i} [bold]not markup[/bold]\n" for i in (28, 29)]
    metrics = ok("tail", run.id, "--metrics").stdout
    assert "loss" in metrics and "0.5" in metrics


LIVE_SCRIPT = """
import sys, time
import daybreak

run = daybreak.init(project="p", name="live", system_metrics=False, capture_output=True)
run.flush()
with open(sys.argv[1] + ".tmp", "w") as handle:
    handle.write(run.id)
import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
for i in range(8):
    print(f"line {i}", flush=True)
    run.log({"loss": 1.0 / (i + 1)}, step=i)
    time.sleep(0.4)
print("all done")
run.finish()
"""


def test_tail_follow_prints_new_output_until_the_run_ends(home: Path, tmp_path: Path) -> None:
    script, id_file = tmp_path / "live.py", tmp_path / "run-id"
    script.write_text(LIVE_SCRIPT)
    training = subprocess.Popen(
        [sys.executable, str(script), str(id_file)], stdout=subprocess.DEVNULL
    )
    watcher: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 30
        while not id_file.exists():
            assert time.monotonic() < deadline, "the training script did not start"
            assert training.poll() is None
            time.sleep(0.05)
        run_id = id_file.read_text()
        assert daybreak.get_run(run_id).status == "running"
        watch = [sys.executable, "-m", "daybreak.cli", "runs", "tail", run_id, "--metrics", "-f"]
        watcher = subprocess.Popen([*watch, "--interval", "0.1"], stdout=subprocess.PIPE, text=True)
        tail = process("tail", run_id, "--follow", "--interval", "0.1")
        assert training.wait(30) == 0
        watched, _ = watcher.communicate(timeout=30)
    finally:
        training.kill()
        if watcher is not None:
            watcher.kill()
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert lines == [f"line {i}" for i in range(8)] + ["all done"]
    assert daybreak.get_run(run_id).status == "finished"
    assert watcher is not None and watcher.returncode == 0
    assert "loss" in watched and "0.125" in watched  # the final values: 1 / 8 at step 7


def test_tail_follow_of_an_ended_run_returns_at_once(runs: dict[str, str]) -> None:
    assert ok("tail", runs["first"], "-f").stdout == ""
    assert isinstance(cli("tail", runs["first"], "-f", "--json").exception, ConfigError)


# -- bad ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["show"], ["tail"], ["delete", "--yes"], ["export"]])
def test_unknown_run_is_a_clear_error(home: Path, command: list[str]) -> None:
    result = cli(*command, "nosuchrun")
    assert result.exit_code != 0
    assert isinstance(result.exception, NotFoundError)
    assert "no run with id 'nosuchrun'" in result.exception.message


def test_unknown_run_on_the_command_line(home: Path) -> None:
    done = process("show", "nosuchrun")
    assert done.returncode == 1
    assert "error: no run with id 'nosuchrun'" in done.stderr
    assert "hint:" in done.stderr
    assert done.stdout == ""


# -- export / import ------------------------------------------------------------------------


def test_export_to_stdout_is_jsonl(runs: dict[str, str]) -> None:
    lines = ok("export", runs["first"][:6]).stdout.splitlines()
    head = json.loads(lines[0])["run"]
    assert head["id"] == runs["first"] and head["status"] == "finished"
    points = [json.loads(line) for line in lines[1:]]
    assert len(points) == 10 + 11
    assert {p["key"] for p in points} == {"train/loss", "val/acc"}
    assert any(isinstance(p["value"], float) and math.isnan(p["value"]) for p in points)


def test_export_import_round_trip(runs: dict[str, str], settings: Settings, tmp_path: Path) -> None:
    before = {
        run_id: {k: daybreak.get_run(run_id).history(k) for k in ("train/loss", "val/acc")}
        for run_id in runs.values()
    }
    records = {run_id: daybreak.get_run(run_id).record for run_id in runs.values()}
    path = tmp_path / "all.jsonl"
    ok("export", *runs.values(), "-o", str(path))
    assert path.read_text().count('{"run"') == 2
    LocalBackend(settings).delete_runs(list(runs.values()))
    assert as_json("ls") == []

    out = ok("import", str(path)).stdout
    assert "imported 2 run(s)" in out
    for run_id, histories in before.items():
        view = daybreak.get_run(run_id)
        for field in (
            "project",
            "name",
            "config",
            "tags",
            "status",
            "summary",
            "error",
            "started_at",
            "ended_at",
        ):
            assert getattr(view.record, field) == getattr(records[run_id], field)
        for key, history in histories.items():
            again = view.history(key)
            np.testing.assert_array_equal(again.steps, history.steps)
            np.testing.assert_array_equal(again.timestamps, history.timestamps)
            np.testing.assert_array_equal(again.values, history.values)

    result = cli("import", str(path))
    assert result.exit_code != 0 and isinstance(result.exception, ConflictError)
    copied = ok("import", str(path), "--new-ids", "--project", "copies").stdout
    assert "imported 2 run(s)" in copied
    assert len(as_json("ls", "--project", "copies")) == 2


def test_export_a_whole_project_and_import_from_stdin(
    runs: dict[str, str], settings: Settings
) -> None:
    text = ok("export", "--project", "q").stdout
    assert text.count('{"run"') == 1
    LocalBackend(settings).delete_runs([runs["second"]])
    ok("import", "-", input=text)
    assert daybreak.get_run(runs["second"]).status == "failed"
    assert isinstance(cli("export", "--project", "nope").exception, NotFoundError)
    assert isinstance(cli("export").exception, ConfigError)


def test_corrupt_import_names_the_line_and_leaves_nothing(
    runs: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    good = ok("export", runs["first"]).stdout.splitlines()
    LocalBackend(settings).delete_runs(list(runs.values()))
    path = tmp_path / "broken.jsonl"
    path.write_text(
        "\n".join(
            [*good[:5], '{"key": "train/loss", "step": 7, "ts": 1.0, "value": "high"}', *good[5:]]
        )
    )
    done = process("import", str(path))
    assert done.returncode != 0
    message = " ".join(done.stderr.split())  # rich wraps long lines
    assert "error: line 6 has a non-numeric value 'high'" in message
    assert "nothing was imported" in message
    assert as_json("ls") == []
    assert not settings.runs_dir.exists() or list(settings.runs_dir.iterdir()) == []

    path.write_text('{"key": "train/loss", "step": 7, "ts": 1.0, "value": 1}\n')
    result = cli("import", str(path))
    assert isinstance(result.exception, ImportFormatError)
    assert "line 1" in result.exception.message
    assert isinstance(cli("import", str(tmp_path / "missing.jsonl")).exception, NotFoundError)


# -- delete -------------------------------------------------------------------------------


def test_delete_asks_then_removes_rows_points_and_blobs(
    home: Path, settings: Settings, tmp_path: Path
) -> None:
    run = daybreak.init(project="p", name="doomed", system_metrics=False, capture_output=False)
    run.log({"loss": 1.0}, step=0)
    (tmp_path / "model.bin").write_bytes(b"weights")
    artifact = run.log_artifact(tmp_path / "model.bin")
    run.finish()
    keep = make_run("keep")
    store = LocalBackend(settings)
    blob = store.local_blob(artifact["uri"])
    assert blob.exists() and store.run_dir(run.id).exists()

    refused = cli("delete", run.id, input="n\n")
    assert refused.exit_code != 0
    assert store.run_dir(run.id).exists() and daybreak.get_run(run.id).status == "finished"

    out = ok("delete", run.id[:6], input="y\n").stdout
    assert "deleted 1 run(s)" in out
    assert not store.run_dir(run.id).exists()
    assert not blob.exists()
    with pytest.raises(NotFoundError):
        daybreak.get_run(run.id)
    assert [r["id"] for r in as_json("ls")] == [keep]

    ok("delete", keep, "--yes")
    assert as_json("ls") == []


def test_delete_refuses_a_running_run_without_force(home: Path, settings: Settings) -> None:
    run = daybreak.init(project="p", name="busy", system_metrics=False, capture_output=False)
    run.log({"loss": 1.0}, step=0)
    run.flush()
    try:
        result = cli("delete", run.id, "--yes")
        assert isinstance(result.exception, ConflictError)
        assert daybreak.get_run(run.id).status == "running"
    finally:
        run.finish()
    ok("delete", run.id, "--yes", "--force")
    assert as_json("ls") == []
