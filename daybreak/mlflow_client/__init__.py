"""The ``mlflow`` client's fast path into a Daybreak server (a tracking-store plugin).

With Daybreak installed next to ``mlflow``, an ``http(s)://`` tracking URI that answers as a
Daybreak server gets a store that queues metrics and sends them in batches from a thread, so
``mlflow.log_metric`` returns without a round trip; every other call first sends what is
queued, then goes over MLflow's own REST client. Any other server, or
``DAYBREAK_MLFLOW_BUFFER=0``, gets MLflow's stock store. This module is what MLflow's entry
point loads when it is imported, so it imports nothing heavy itself.
"""

from __future__ import annotations

from typing import Any


def tracking_store(store_uri: str, **_: Any) -> Any:
    """MLflow's ``mlflow.tracking_store`` entry point for the http and https schemes."""
    from daybreak.mlflow_client.choose import store_for

    return store_for(store_uri)


def flush(timeout: float | None = None) -> None:
    """Send every metric queued in this process; raises what the server refused."""
    from daybreak.mlflow_client.shipper import flush_all

    flush_all(timeout)
