"""The demo's fallback without the mlflow package: the client's REST calls, sent by hand."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

import daybreak
from daybreak.demo_mlflow import STEPS, _over_the_wire


def test_the_wire_calls_make_the_same_run_as_the_client(mlflow_uri: str, home: Path) -> None:
    run_id = _over_the_wire(mlflow_uri)
    view = daybreak.get_run(run_id)
    assert (view.project, view.name, view.record.status) == ("demo", "mlflow-script", "finished")
    assert len(view.history("train/loss")) == STEPS
    back = MlflowClient().get_run(run_id)
    assert back.data.tags["team"] == "hands" and back.data.params["lr"] == "0.003"
    assert _over_the_wire(mlflow_uri) != run_id  # the experiment exists now: found, not made
