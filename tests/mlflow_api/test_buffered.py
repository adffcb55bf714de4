"""Daybreak's tracking-store plugin for the mlflow client: which store a URI gets, queued
metrics read back whole, refusals surfacing, and nothing lost while the server is away."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.rest_store import RestStore
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service import utils as tracking_utils

import daybreak
from daybreak import mlflow_client
from daybreak.config import Settings
from daybreak.mlflow_client.choose import store_for
from daybreak.mlflow_client.store import BufferedRestStore
from daybreak.stack import ServerThread
from tests.conftest import free_port


@pytest.fixture
def not_daybreak() -> Iterator[str]:
    """Some other server on 127.0.0.1 (like MLflow's): it answers 404 at /api/health."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_only_a_daybreak_server_gets_the_buffered_store(
    server: str, not_daybreak: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    builder = tracking_utils._tracking_store_registry.get_store_builder(server)
    assert builder is mlflow_client.tracking_store  # the entry point took over http(s)
    assert type(store_for(server)) is BufferedRestStore
    assert type(store_for(not_daybreak)) is RestStore
    assert type(store_for(f"http://127.0.0.1:{free_port()}")) is RestStore  # nobody there
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")  # only MLflow's client does that
    assert type(store_for(server)) is RestStore
    monkeypatch.delenv("MLFLOW_TRACKING_INSECURE_TLS")
    monkeypatch.setenv("DAYBREAK_MLFLOW_BUFFER", "0")
    assert type(store_for(server)) is RestStore
    monkeypatch.setenv("DAYBREAK_MLFLOW_BUFFER", "maybe")
    assert type(store_for(server)) is BufferedRestStore
    assert "DAYBREAK_MLFLOW_BUFFER='maybe' is not 0 or 1" in capsys.readouterr().err


def test_queued_metrics_are_batched_and_read_back_whole(mlflow_uri: str, home: Path) -> None:
    store = tracking_utils._get_store()
    mlflow.set_experiment("queued")
    with mlflow.start_run() as run:
        for step in range(3000):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"a": 1.0, "b": float("nan")}, step=3000)
        history = MlflowClient().get_metric_history(run.info.run_id, "loss")  # sends the queue
        assert [m.step for m in history] == list(range(3000))
    assert store.shipper.batches <= 300, "queued metrics go out many to a request"
    view = daybreak.get_run(run.info.run_id)
    assert view.record.status == "finished"
    assert view.history("loss").values.tolist() == pytest.approx([1 / (s + 1) for s in range(3000)])
    assert len(view.history("b")) == 1


def test_a_bad_metric_fails_at_once_and_a_refused_batch_at_the_next_call(
    mlflow_uri: str, home: Path
) -> None:
    client = MlflowClient()
    exp_id = client.create_experiment("refused")
    run_id = client.create_run(exp_id).info.run_id
    client.log_metric(run_id, "loss", 0.5)  # the run's first metric answers in sync
    with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
        client.log_metric(run_id, "../escape", 1.0)  # checked before it is queued
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.log_metric("no-such-run", "loss", 1.0)  # a new run's first metric: in sync
    gone = httpx.post(f"{mlflow_uri}/api/2.0/mlflow/runs/delete", json={"run_id": run_id})
    assert gone.status_code == 200
    client.log_metric(run_id, "loss", 0.4)  # queued: the run is gone by the time it is sent
    with pytest.raises(MlflowException, match=r"refused 1 metric batch.*RESOURCE_DOES_NOT_EXIST"):
        client.get_experiment(exp_id)
    kept = list((home / "spool" / f"mlflow-{run_id}" / "rejected").glob("*.op"))
    assert len(kept) == 1 and b'"value": 0.4' in kept[0].read_bytes()
    client.get_experiment(exp_id)  # said once


def test_metrics_logged_while_the_server_is_away_arrive_when_it_is_back(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracking_utils._tracking_store_registry._get_store_with_resolved_uri.cache_clear()
    server = ServerThread(settings, "127.0.0.1", port).start()
    client = MlflowClient(url)
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "loss", 0.0, step=0)
    server.stop()
    for step in range(1, 400):
        client.log_metric(run_id, "loss", float(step), step=step)  # training goes on
    mlflow_client.flush()  # the server is away: the queue goes to the spool
    assert list((settings.spool_dir / f"mlflow-{run_id}").glob("*.op"))
    server = ServerThread(settings, "127.0.0.1", port).start()
    try:
        history = client.get_metric_history(run_id, "loss")  # sends the spool first
        assert [m.value for m in history] == [float(s) for s in range(400)]
        assert not list((settings.spool_dir / f"mlflow-{run_id}").glob("*.op"))
    finally:
        server.stop()


def test_a_script_ending_while_the_server_is_away_leaves_its_metrics_for_sync(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from mlflow.tracking import MlflowClient
            client = MlflowClient()
            run_id = client.create_run("0").info.run_id
            client.log_metric(run_id, "loss", 0.0, step=0)
            print(run_id, flush=True)
            sys.stdin.readline()  # the server goes away here
            for step in range(1, 1500):
                client.log_metric(run_id, "loss", float(step), step=step)
            print("trained", flush=True)
            """
        )
    )
    server = ServerThread(settings, "127.0.0.1", port).start()
    env = {
        **__import__("os").environ,
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "DAYBREAK_HOME": str(tmp_path / "client-home"),
    }
    trainer = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert trainer.stdout is not None and trainer.stdin is not None
    run_id = trainer.stdout.readline().strip()
    server.stop()
    out, err = trainer.communicate("go\n", timeout=120)
    assert trainer.returncode == 0, err
    assert "trained" in out and "daybreak sync" in err
    assert list((tmp_path / "client-home" / "spool" / f"mlflow-{run_id}").glob("*.op"))

    server = ServerThread(settings, "127.0.0.1", port).start()
    try:
        sync = subprocess.run(
            [sys.executable, "-m", "daybreak.cli", "sync"],
            env={**env, "DAYBREAK_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sync.returncode == 0, sync.stderr
        monkeypatch.setenv("DAYBREAK_URL", url)
        history = daybreak.get_run(run_id).history("loss")
        assert history.values.tolist() == [float(s) for s in range(1500)]
    finally:
        server.stop()


def test_async_logging_queues_here_and_waiting_sends(mlflow_uri: str) -> None:
    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "loss", 0.0, step=0)
    answers = [
        client.log_metric(run_id, "loss", float(step), step=step, synchronous=False)
        for step in range(1, 500)
    ]
    bad = client.log_metric(run_id, "../escape", 1.0, synchronous=False)  # raises on wait
    answers[-1].wait()  # sends the queue: the server has every point now
    raw = httpx.get(
        f"{mlflow_uri}/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run_id, "metric_key": "loss", "max_results": 1000},
    )
    assert [m["value"] for m in raw.json()["metrics"]] == [float(s) for s in range(500)]
    with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
        bad.wait()
