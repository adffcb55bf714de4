"""MLflow's REST store with metrics queued instead of sent one request at a time."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.tracking.rest_store import RestStore
from mlflow.utils.async_logging.run_operations import RunOperations
from mlflow.utils.validation import _validate_metric

from daybreak.mlflow_client.choose import authorization_of
from daybreak.mlflow_client.shipper import RefusedError, Shipper, metric_json


class BufferedRestStore(RestStore):
    """The first metric of a run (per credentials) goes straight through, so a wrong run id,
    token or role fails at once; after that metrics (``log_metric``, metric-only
    ``log_batch``) are checked as MLflow's server checks them and queued. Any other call sends
    the queue first, so reads see every metric logged before them and a refusal of a queued
    metric surfaces there."""

    def __init__(self, get_host_creds: Any, shipper: Shipper) -> None:
        super().__init__(get_host_creds)
        self.shipper = shipper
        self._answered: set[tuple[str, str]] = set()  # (run, authorization) logged in sync

    def log_metric(self, run_id: str, metric: Any) -> None:
        self.log_batch(run_id, [metric], [], [])

    def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
        authorization = authorization_of(self.get_host_creds()) or ""
        first = (run_id, authorization) not in self._answered
        if first or params or tags:  # params can conflict and tags be refused: answer now
            super().log_batch(run_id, metrics, params, tags)
            self._answered.add((run_id, authorization))
            return
        for metric in metrics:
            _check(metric)
        self.shipper.add(run_id, authorization, [metric_json(m) for m in metrics])

    def log_batch_async(self, run_id: str, metrics: Any, params: Any, tags: Any) -> Any:
        """Metrics only: queued here, no trip through MLflow's own async queue (a thread pool
        per batch and a 1 s wait at each flush); waiting on the answer sends the queue."""
        if params or tags:
            return super().log_batch_async(run_id, metrics, params, tags)
        answer = _SentWhenAsked(self.flush)
        try:
            self.log_batch(run_id, metrics, [], [])
        except MlflowException as exc:  # MLflow's async API raises on wait, not on the call
            answer.set_exception(exc)
        return RunOperations([answer])

    def flush(self) -> None:
        try:
            self.shipper.flush()
        except RefusedError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None

    def flush_async_logging(self) -> None:
        super().flush_async_logging()
        self.flush()

    def _call_endpoint(self, *args: Any, **kwargs: Any) -> Any:
        self.flush()
        return super()._call_endpoint(*args, **kwargs)


def _check(metric: Any) -> None:
    """MLflow's server-side check, raised as the REST client would raise the server's answer."""
    try:
        _validate_metric(metric.key, metric.value, metric.timestamp, metric.step)
    except MlflowException as exc:
        raise RestException({"error_code": exc.error_code, "message": exc.message}) from None


class _SentWhenAsked(Future[None]):
    """What MLflow's ``RunOperations.wait`` gets: asking for the result sends the queue."""

    def __init__(self, send: Callable[[], None]) -> None:
        super().__init__()
        self._send = send

    def result(self, timeout: float | None = None) -> None:
        if self.done():  # it failed when logged
            return super().result(timeout)
        self._send()
        return None
