"""The real ``mlflow`` client pointed at a real Daybreak server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

mlflow = pytest.importorskip(
    "mlflow", reason="the MLflow tests need the mlflow package (dev extra)"
)


@pytest.fixture
def mlflow_uri(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fluent API and MlflowClient() both log into this test's Daybreak server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    mlflow.set_tracking_uri(server)
    yield server
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
