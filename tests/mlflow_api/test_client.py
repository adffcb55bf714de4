"""Unchanged ``mlflow.log_*`` calls log into Daybreak, and read back through both APIs."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import daybreak

# Each test runs through Daybreak's buffered store and through MLflow's stock REST store.
pytestmark = pytest.mark.parametrize("mlflow_uri", ["buffered", "stock"], indirect=True)


def test_fluent_script_logs_into_daybreak(mlflow_uri: str, tmp_path: Path) -> None:
    mlflow.set_experiment("pose-mlflow")
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"batch_size": 32, "optimizer": "adam"})
        mlflow.set_tags({"team": "pose", "stage": "try-3"})
        for step in range(120):
            mlflow.log_metric("train/loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"val/acc": 0.75, "val/pck": 0.5}, step=119)
        (tmp_path / "notes.txt").write_text("it works")
        mlflow.log_artifact(str(tmp_path / "notes.txt"), artifact_path="reports")
        folder = tmp_path / "plots"
        (folder / "inner").mkdir(parents=True)
        (folder / "a.csv").write_text("1,2\n")
        (folder / "inner" / "b.csv").write_text("3,4\n")
        mlflow.log_artifacts(str(folder), artifact_path="plots")
    run_id = run.info.run_id

    seen = daybreak.get_run(run_id)
    assert seen.project == "pose-mlflow"
    assert seen.name == "baseline"
    assert seen.record.status == "finished"
    assert seen.config == {"lr": "0.01", "batch_size": "32", "optimizer": "adam"}
    loss = seen.history("train/loss")
    assert len(loss) == 120
    assert loss.steps.tolist() == list(range(120))
    assert loss.values[-1] == pytest.approx(1.0 / 120)

    client = MlflowClient()
    back = client.get_run(run_id)
    assert back.info.status == "FINISHED"
    assert back.info.run_name == "baseline"
    assert back.data.params == {"lr": "0.01", "batch_size": "32", "optimizer": "adam"}
    assert back.data.tags["team"] == "pose"
    assert back.data.metrics == {
        "train/loss": pytest.approx(1.0 / 120),
        "val/acc": 0.75,
        "val/pck": 0.5,
    }
    history = client.get_metric_history(run_id, "train/loss")
    assert [m.step for m in history] == list(range(120))
    assert [m.value for m in history] == pytest.approx([1.0 / (s + 1) for s in range(120)])

    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["plots", "reports"]
    assert sorted(a.path for a in client.list_artifacts(run_id, "plots")) == [
        "plots/a.csv",
        "plots/inner",
    ]
    got = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "dl"))
    assert (Path(got) / "reports" / "notes.txt").read_text() == "it works"
    assert (Path(got) / "plots" / "inner" / "b.csv").read_text() == "3,4\n"


def test_experiments_create_find_rename_delete_restore(mlflow_uri: str) -> None:
    client = MlflowClient()
    exp_id = client.create_experiment("faces", tags={"owner": "ada"})
    assert client.get_experiment(exp_id).name == "faces"
    assert client.get_experiment_by_name("faces").tags == {"owner": "ada"}
    assert client.get_experiment_by_name("nothing-here") is None
    with pytest.raises(MlflowException, match="RESOURCE_ALREADY_EXISTS"):
        client.create_experiment("faces")
    client.set_experiment_tag(exp_id, "category", "face")
    client.rename_experiment(exp_id, "faces-v2")
    found = client.search_experiments(filter_string="name LIKE 'faces%'")
    assert [(e.name, e.tags["category"]) for e in found] == [("faces-v2", "face")]
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert "faces-v2" not in [e.name for e in client.search_experiments()]
    with pytest.raises(MlflowException, match="deleted"):
        client.create_run(exp_id)
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    with pytest.raises(MlflowException, match="'/'"):
        client.create_experiment("/Users/ada/faces")


def test_default_experiment_is_zero(mlflow_uri: str) -> None:
    client = MlflowClient()
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "x", 1.0)
    assert client.get_experiment("0").name == "Default"
    assert daybreak.get_run(run.info.run_id).project == "Default"


def test_batches_params_tags_and_refusals(mlflow_uri: str) -> None:
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient()
    exp_id = client.create_experiment("batches")
    run_id = client.create_run(exp_id, run_name="b").info.run_id
    metrics = [Metric("m", float(i), 1_700_000_000_000 + i, i) for i in range(2500)]
    client.log_batch(run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "v")])
    assert len(client.get_metric_history(run_id, "m")) == 2500  # the client split it in three
    client.log_param(run_id, "p", "1")  # the same value again is fine
    with pytest.raises(MlflowException, match=r"INVALID_PARAMETER_VALUE.*already"):
        client.log_param(run_id, "p", "2")
    with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
        client.log_metric(run_id, "../escape", 1.0)
    client.log_metric(run_id, "odd", math.nan, step=1)
    client.log_metric(run_id, "odd", math.inf, step=2)
    odd = client.get_metric_history(run_id, "odd")
    assert math.isnan(odd[0].value) and odd[1].value == math.inf
    client.set_tag(run_id, "mlflow.runName", "renamed")
    client.delete_tag(run_id, "t")
    back = client.get_run(run_id)
    assert back.info.run_name == "renamed" and "t" not in back.data.tags
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_run("no-such-run")
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.log_metric("no-such-run", "x", 1.0)
    client.delete_run(run_id)
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_run(run_id)


def test_search_runs_filters_orders_and_pages(mlflow_uri: str) -> None:
    client = MlflowClient()
    exp_id = client.create_experiment("search")
    for i, (opt, team) in enumerate([("adam", "pose"), ("sgd", "pose"), ("adam", "face")] * 2):
        run_id = client.create_run(exp_id, run_name=f"r{i}", tags={"team": team}).info.run_id
        client.log_param(run_id, "opt", opt)
        client.log_metric(run_id, "acc", i / 10)
        if i < 4:
            client.set_terminated(run_id)

    def names(filter_string: str = "", order_by: list[str] | None = None) -> list[str]:
        runs = client.search_runs([exp_id], filter_string, order_by=order_by or ["metrics.acc"])
        return [r.info.run_name for r in runs]

    assert names("metrics.acc > 0.25") == ["r3", "r4", "r5"]
    assert names("params.opt = 'adam' and tags.team = 'pose'") == ["r0", "r3"]
    assert names("tags.team LIKE 'fa%'") == ["r2", "r5"]
    assert names("attributes.status = 'RUNNING'") == ["r4", "r5"]
    assert names("params.opt IN ('sgd')", ["metrics.acc DESC"]) == ["r4", "r1"]
    assert names("attributes.run_name = 'r1'") == ["r1"]
    page = client.search_runs([exp_id], order_by=["metrics.acc DESC"], max_results=4)
    assert [r.info.run_name for r in page] == ["r5", "r4", "r3", "r2"]
    rest = client.search_runs([exp_id], order_by=["metrics.acc DESC"], page_token=page.token)
    assert [r.info.run_name for r in rest] == ["r1", "r0"] and rest.token is None
    frame = mlflow.search_runs(experiment_names=["search"])
    assert len(frame) == 6 and "metrics.acc" in frame.columns
    for bad in (
        "metrics.acc > 'high'",
        "metrics.acc > 1 or params.x = 'y'",
        "acc ~ 3",
        "params.x =",
    ):
        with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
            client.search_runs([exp_id], bad)


def test_a_daybreak_run_reads_through_mlflow(mlflow_uri: str, home: Path) -> None:
    run = daybreak.init(
        project="native",
        name="sdk-run",
        config={"model": {"width": 32}, "lr": 0.1},
        tags=["nightly"],
        system_metrics=False,
        capture_output=False,
    )
    for step in range(5):
        run.log({"loss": 5.0 - step}, step=step)
    run.finish()
    client = MlflowClient()
    back = client.get_run(run.id)
    assert back.data.params == {"model.width": "32", "lr": "0.1"}
    assert back.data.metrics == {"loss": 1.0}
    assert back.data.tags["daybreak.tags"] == "nightly"
    assert back.info.experiment_id == client.get_experiment_by_name("native").experiment_id
    assert [m.value for m in client.get_metric_history(run.id, "loss")] == [5, 4, 3, 2, 1]


def test_unknown_endpoints_and_bad_bodies_get_mlflow_errors(mlflow_uri: str) -> None:
    import httpx

    missing = httpx.post(f"{mlflow_uri}/api/2.0/mlflow/registered-models/create", json={})
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    bad = httpx.post(f"{mlflow_uri}/api/2.0/mlflow/runs/log-metric", json={"run_id": "x"})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "key" in bad.json()["message"]
    junk = httpx.post(
        f"{mlflow_uri}/api/2.0/mlflow/runs/log-batch",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert junk.status_code == 400 and junk.json()["error_code"] == "INVALID_PARAMETER_VALUE"
