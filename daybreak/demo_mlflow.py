"""The demo's MLflow part: a teammate's unchanged MLflow script logs into Daybreak.

With the ``mlflow`` package installed the real client runs it (in a subprocess, with
``MLFLOW_TRACKING_URI`` set to the demo's server); without it, the demo sends the same REST
calls the client would send, and says so."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import httpx

STEPS = 60
SCRIPT = textwrap.dedent(
    f"""
    import math, mlflow
    mlflow.set_experiment("demo")
    with mlflow.start_run(run_name="mlflow-script") as run:
        mlflow.log_params({{"lr": 0.003, "model": "hand-keypoints-v0", "logged_with": "mlflow"}})
        mlflow.set_tag("team", "hands")
        for step in range({STEPS}):
            mlflow.log_metrics(
                {{"train/loss": 2.0 * math.exp(-step / 20), "val/pck": 1 - math.exp(-step / 25)}},
                step=step,
            )
        run_id = run.info.run_id
    from mlflow.tracking._tracking_service.utils import _get_store
    print("DAYBREAK_STORE", type(_get_store()).__name__)
    print("DAYBREAK_RUN_ID", run_id)  # the client prints its own lines too
    """
)


def log_mlflow_script(url: str, console: Any) -> str:
    """Run the script against ``url``; returns the run id it logged to."""
    try:
        import mlflow  # noqa: F401

        run_id, store = _with_client(url)
        how = "the real mlflow client" + (
            ", its metrics queued and sent in batches by Daybreak's plugin"
            if store == "BufferedRestStore"
            else ""
        )
    except ImportError:
        run_id = _over_the_wire(url)
        how = "the mlflow client's REST calls (pip install mlflow to use the client itself)"
    console.print(
        f"mlflow: an unchanged MLflow script logged {STEPS} steps into Daybreak through {how}: "
        f"{url}/runs/{run_id}"
    )
    return run_id


def _with_client(url: str) -> tuple[str, str]:
    """The run id and the name of the tracking store the client used."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode:
        raise RuntimeError(f"the MLflow script failed:\n{done.stderr[-2000:]}")
    said = dict(
        line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith("DAYBREAK_")
    )
    if "DAYBREAK_RUN_ID" not in said:
        raise RuntimeError(f"the MLflow script printed no run id:\n{done.stdout[-2000:]}")
    return said["DAYBREAK_RUN_ID"].strip(), said.get("DAYBREAK_STORE", "").strip()


def _over_the_wire(url: str) -> str:
    api = f"{url}/api/2.0/mlflow"
    with httpx.Client(timeout=30) as client:
        found = client.get(f"{api}/experiments/get-by-name", params={"experiment_name": "demo"})
        if found.status_code == 404:
            exp_id = client.post(f"{api}/experiments/create", json={"name": "demo"}).json()
            exp_id = exp_id["experiment_id"]
        else:
            exp_id = found.raise_for_status().json()["experiment"]["experiment_id"]
        now = int(time.time() * 1000)
        created = client.post(
            f"{api}/runs/create",
            json={"experiment_id": exp_id, "run_name": "mlflow-script", "start_time": now},
        )
        run_id = str(created.raise_for_status().json()["run"]["info"]["run_id"])
        params = [
            {"key": "lr", "value": "0.003"},
            {"key": "model", "value": "hand-keypoints-v0"},
            {"key": "logged_with", "value": "mlflow REST calls"},
        ]
        tags = [{"key": "team", "value": "hands"}]
        client.post(
            f"{api}/runs/log-batch", json={"run_id": run_id, "params": params, "tags": tags}
        ).raise_for_status()
        for step in range(STEPS):
            stamp = int(time.time() * 1000)
            metrics = [
                {"key": "train/loss", "value": 2.0 * math.exp(-step / 20), "timestamp": stamp,
                 "step": step},
                {"key": "val/pck", "value": 1 - math.exp(-step / 25), "timestamp": stamp,
                 "step": step},
            ]  # fmt: skip
            client.post(
                f"{api}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}
            ).raise_for_status()
        client.post(
            f"{api}/runs/update",
            json={"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)},
        ).raise_for_status()
    return run_id
