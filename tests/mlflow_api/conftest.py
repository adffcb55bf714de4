"""The real ``mlflow`` client pointed at a real Daybreak server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

mlflow = pytest.importorskip(
    "mlflow", reason="the MLflow tests need the mlflow package (dev extra)"
)


@pytest.fixture
def mlflow_uri(
    server: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The fluent API and MlflowClient() both log into this test's Daybreak server, through
    Daybreak's buffered store (the default with Daybreak installed) or, with
    ``indirect`` param "stock", through MLflow's own REST store (a client without Daybreak)."""
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from daybreak.mlflow_client.store import BufferedRestStore

    mode = getattr(request, "param", "buffered")
    monkeypatch.setenv("DAYBREAK_MLFLOW_BUFFER", "1" if mode == "buffered" else "0")
    tracking_utils._tracking_store_registry._get_store_with_resolved_uri.cache_clear()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    mlflow.set_tracking_uri(server)
    expected = BufferedRestStore if mode == "buffered" else RestStore
    assert type(tracking_utils._get_store()) is expected
    yield server
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
