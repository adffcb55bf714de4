"""``daybreak import mlflow``: runs made with the real MLflow client in a real SQLite tracking
store (and an ``mlruns`` folder) come back with params, tags, status, times and every metric
point; bad sources are refused quickly and clearly with nothing left behind."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import daybreak
from daybreak.cli.main import main
from daybreak.config import Settings
from daybreak.errors import (
    ConfigError,
    DaybreakError,
    ImportFormatError,
    NotFoundError,
    RemoteError,
)
from daybreak.importers import mlflow as importer
from daybreak.importers.common import stable_id
from daybreak.tracking import service
from daybreak.tracking.readers import LocalBackend
from tests.conftest import free_port
from tests.importers.mlflow_runs import LONG, T0, client, populate, uri

pytest.importorskip("mlflow")


def by_name(settings: Settings, result: importer.ImportResult) -> dict[str, daybreak.RunView]:
    return {
        r.name: daybreak.get_run(r.id, home=settings.home, db=settings.db) for r in result.imported
    }


def test_runs_come_back_with_params_tags_status_and_full_history(
    settings: Settings, mlflow_db: Path
) -> None:
    ids = populate(client(mlflow_db))

    result = importer.import_mlflow(settings, uri(mlflow_db))

    # a RUNNING run is imported running; as nothing beats its heart here, Daybreak's next
    # look at the store marks it crashed (as it would any run whose process went away)
    live = service.get_run(LocalBackend(settings).db, stable_id("mlflow", ids["live"]))
    assert (live.status, live.ended_at) == ("running", None)
    runs = by_name(settings, result)
    assert sorted(runs) == sorted(ids)
    resnet = runs["resnet"].record
    assert resnet.id == stable_id("mlflow", ids["resnet"])
    assert resnet.project == "vision"
    assert resnet.status == "finished"
    assert resnet.config == {
        "arch": "resnet50",
        "batch": 32,
        "lr": 0.001,
        "pretrained": True,
        "wd": "1e-4",  # not how Python writes 0.0001: kept as the string it was
    }
    assert resnet.tags == ["priority=high", "team=vision"]
    assert resnet.command == "train.py"
    assert resnet.git == {"commit": "9b1e0c2"}
    assert (resnet.started_at, resnet.ended_at) == (T0 / 1000, (T0 + 60_000) / 1000)
    imported = resnet.environment["imported"]
    assert imported["run_id"] == ids["resnet"]
    assert imported["experiment"] == "vision"
    assert imported["system_tags"]["mlflow.user"] == "ada"
    assert imported["system_tags"]["mlflow.runName"] == "resnet"

    loss = runs["resnet"].history("train/loss")
    assert len(loss) == LONG
    np.testing.assert_array_equal(loss.steps, np.arange(LONG))
    np.testing.assert_array_equal(loss.values, 1 / np.arange(1, LONG + 1))
    np.testing.assert_array_equal(loss.timestamps, (T0 + np.arange(LONG) * 10) / 1000)
    acc = runs["resnet"].history("val/acc")
    assert acc.steps.tolist() == [0, 100, 200, 300, 400]
    assert math.isnan(acc.values[2])
    assert acc.values[[0, 1, 3, 4]].tolist() == [0.0, 0.1, 0.3, 0.4]
    assert runs["resnet"].history("_.val/top1").values.tolist() == [0.5]
    assert result.renamed == {".val/top1 ": "_.val/top1"}

    statuses = {name: runs[name].record.status for name in ("broken", "killed", "live")}
    assert statuses == {"broken": "failed", "killed": "stopped", "live": "crashed"}
    assert runs["broken"].record.ended_at == (T0 + 5000) / 1000

    bert = runs["bert"]
    assert bert.record.project == "team-nlp"  # a project name cannot hold '/'
    history = bert.history("loss")  # logged without a step: renumbered in time order
    assert history.steps.tolist() == [0, 1, 2, 3]
    assert history.values.tolist() == [4.0, 3.0, 2.0, 1.0]
    assert any("renumbered" in w and "bert" in w for w in result.warnings)
    assert any("team-nlp" in w for w in result.warnings)
    fold = runs["bert-fold1"].record.environment["imported"]
    assert fold["parent"] == bert.record.id
    assert result.points == LONG + 5 + 1 + 3 + 4


def test_experiments_can_be_chosen_and_put_into_one_project(
    settings: Settings, mlflow_db: Path
) -> None:
    populate(client(mlflow_db))
    vision_id = client(mlflow_db).get_experiment_by_name("vision").experiment_id

    result = importer.import_mlflow(settings, uri(mlflow_db), [vision_id], project="archive")
    assert sorted(r.name for r in result.imported) == ["broken", "killed", "live", "resnet"]
    assert {r.project for r in result.imported} == {"archive"}

    result = importer.import_mlflow(settings, uri(mlflow_db), ["team/nlp"])
    assert sorted(r.name for r in result.imported) == ["bert", "bert-fold1"]

    with pytest.raises(NotFoundError, match="no MLflow experiment 'nope'") as caught:
        importer.import_mlflow(settings, uri(mlflow_db), ["nope"])
    assert "'vision'" in (caught.value.hint or "")
    with pytest.raises(ConfigError, match="project"):
        importer.import_mlflow(settings, uri(mlflow_db), project="a/b")


def test_a_second_import_skips_runs_already_imported(
    settings: Settings, mlflow_db: Path, state
) -> None:
    ids = populate(client(mlflow_db))
    first = importer.import_mlflow(settings, uri(mlflow_db))
    before = state()
    assert len(before[0]) == len(ids)

    mlflow = client(mlflow_db)
    new = mlflow.create_run(mlflow.get_experiment_by_name("vision").experiment_id, run_name="new")
    again = importer.import_mlflow(settings, uri(mlflow_db))
    assert [r.name for r in again.imported] == ["new"]
    assert sorted(s.id for s in again.skipped) == sorted(r.id for r in first.imported)
    assert all("already imported as run" in s.reason for s in again.skipped)
    assert state()[0] == sorted([*before[0], stable_id("mlflow", new.info.run_id)])


def test_missing_or_foreign_sources_are_refused_and_left_alone(
    settings: Settings, tmp_path: Path, state
) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(NotFoundError, match="no MLflow database"):
        importer.import_mlflow(settings, uri(missing))
    assert not missing.exists()  # MLflow would have created an empty database

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ImportFormatError, match="not a readable SQLite database"):
        importer.import_mlflow(settings, uri(garbage))

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
    with pytest.raises(ImportFormatError, match="not an MLflow tracking database"):
        importer.import_mlflow(settings, uri(other))
    with sqlite3.connect(other) as conn:  # MLflow did not create its tables in it
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    assert tables == ["things"]

    with pytest.raises(NotFoundError, match="no MLflow folder"):
        importer.import_mlflow(settings, str(tmp_path / "mlruns"))
    assert state() == ([], [], [])


def test_an_unreachable_server_fails_fast(settings: Settings) -> None:
    started = time.monotonic()
    with pytest.raises(RemoteError, match="cannot reach the MLflow server") as caught:
        importer.import_mlflow(settings, f"http://user:secret@127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 5
    assert "secret" not in caught.value.message


def test_a_failure_midway_leaves_nothing_behind(
    settings: Settings, mlflow_db: Path, state, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(client(mlflow_db))
    plan = importer.plan(settings, uri(mlflow_db))
    calls = []
    real = plan.client.get_metric_history

    def flaky(run_id: str, key: str) -> Any:
        calls.append(key)
        if len(calls) == 4:
            raise ConnectionError("connection reset by peer")
        return real(run_id, key)

    monkeypatch.setattr(plan.client, "get_metric_history", flaky)
    with pytest.raises(DaybreakError, match="connection reset by peer"):
        importer.import_plan(settings, plan)
    assert state() == ([], [], [])


def test_an_mlruns_folder_imports_too(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    folder = tmp_path / "mlruns"
    mlflow = MlflowClient(tracking_uri=str(folder))
    run = mlflow.create_run(mlflow.create_experiment("old"), run_name="legacy", start_time=T0)
    for i in range(30):
        mlflow.log_metric(run.info.run_id, "loss", i / 2, timestamp=T0 + i, step=i)
    mlflow.log_param(run.info.run_id, "seed", "7")
    mlflow.set_terminated(run.info.run_id, "FINISHED")

    result = importer.import_mlflow(settings, str(folder))
    (legacy,) = by_name(settings, result).values()
    assert legacy.record.project == "old"
    assert legacy.record.config == {"seed": 7}
    assert legacy.history("loss").values.tolist() == [i / 2 for i in range(30)]


def test_cli_json_summary_and_errors(
    settings: Settings, mlflow_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    populate(client(mlflow_db))
    with pytest.raises(SystemExit) as done:
        main(["import", "mlflow", uri(mlflow_db), "-e", "team/nlp", "--json"])
    assert done.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted((r["name"], r["project"], r["points"]) for r in summary["imported"]) == [
        ("bert", "team-nlp", 4),
        ("bert-fold1", "team-nlp", 0),
    ]
    assert summary["points"] == 4 and summary["skipped"] == []

    with pytest.raises(SystemExit) as done:
        main(["import", "mlflow", uri(mlflow_db), "-e", "team/nlp"])
    assert done.value.code == 0
    assert "2 skipped" in capsys.readouterr().out

    with pytest.raises(SystemExit) as done:
        main(["import", "mlflow", f"http://127.0.0.1:{free_port()}"])
    assert done.value.code == 1
    assert "cannot reach the MLflow server" in capsys.readouterr().err


def test_without_mlflow_installed_the_error_says_what_to_install(
    settings: Settings, mlflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(ConfigError, match="needs the mlflow package") as caught:
        importer.import_mlflow(settings, uri(mlflow_db))
    assert caught.value.hint == "pip install mlflow"
