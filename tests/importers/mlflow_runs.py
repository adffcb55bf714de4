"""MLflow runs made with the real MLflow client, shared by the MLflow importer's tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

T0 = 1_790_000_000_000  # ms, as MLflow keeps time
LONG = 2_500


def client(db: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{db}")


def populate(mlflow: Any) -> dict[str, str]:
    """Two experiments, runs in each MLflow status; returns run name -> MLflow run id."""
    from mlflow.entities import Metric, Param

    ids: dict[str, str] = {}
    vision = mlflow.create_experiment("vision")
    tags = {
        "team": "vision",
        "priority": "high",
        "mlflow.source.name": "train.py",
        "mlflow.source.git.commit": "9b1e0c2",
        "mlflow.user": "ada",
    }
    run = mlflow.create_run(vision, run_name="resnet", start_time=T0, tags=tags)
    ids["resnet"] = rid = run.info.run_id
    params = {"lr": "0.001", "batch": "32", "arch": "resnet50", "pretrained": "True", "wd": "1e-4"}
    mlflow.log_batch(rid, params=[Param(k, v) for k, v in params.items()])
    loss = [Metric("train/loss", 1 / (i + 1), T0 + i * 10, i) for i in range(LONG)]
    for start in range(0, LONG, 1000):
        mlflow.log_batch(rid, metrics=loss[start : start + 1000])
    acc = [
        Metric("val/acc", math.nan if i == 2 else i / 10, T0 + i * 1000, i * 100) for i in range(5)
    ]
    mlflow.log_batch(rid, metrics=[*acc, Metric(".val/top1 ", 0.5, T0, 0)])
    mlflow.set_terminated(rid, "FINISHED", end_time=T0 + 60_000)
    for name, status in (("broken", "FAILED"), ("killed", "KILLED"), ("live", None)):
        run = mlflow.create_run(vision, run_name=name, start_time=T0 + 1000)
        ids[name] = run.info.run_id
        mlflow.log_metric(run.info.run_id, "loss", 1.0, timestamp=T0 + 2000, step=0)
        if status:
            mlflow.set_terminated(run.info.run_id, status, end_time=T0 + 5000)
    nlp = mlflow.create_experiment("team/nlp")
    run = mlflow.create_run(nlp, run_name="bert", start_time=T0)
    ids["bert"] = run.info.run_id
    for i in range(4):  # no step given: MLflow logs them all at step 0
        mlflow.log_metric(run.info.run_id, "loss", 4.0 - i, timestamp=T0 + i * 100)
    child = mlflow.create_run(
        nlp, run_name="bert-fold1", start_time=T0, tags={"mlflow.parentRunId": run.info.run_id}
    )
    ids["bert-fold1"] = child.info.run_id
    mlflow.set_terminated(child.info.run_id, "FINISHED", end_time=T0 + 10)
    mlflow.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 1000)
    return ids


def uri(db: Path) -> str:
    return f"sqlite:///{db}"
