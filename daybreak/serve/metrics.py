"""Prometheus metrics of one server, in its own registry (several apps in one process do not
mix their counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
UNKNOWN = "-"  # the model label of requests for models that are not served
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.requests = Counter(
            "daybreak_serve_requests",
            "Prediction requests by model and HTTP status.",
            ["model", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "daybreak_serve_request_seconds",
            "Prediction request latency, from the request to the response body.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue = Histogram(
            "daybreak_serve_queue_seconds",
            "Time a request waited for a free session (or for its batch to form).",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch = Histogram(
            "daybreak_serve_batch_size",
            "Rows per ONNX Runtime run.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.ready = Gauge(
            "daybreak_serve_model_ready",
            "1 when the model is loaded and answering.",
            ["model"],
            registry=self.registry,
        )

    def request(self, model: str, status: int, seconds: float) -> None:
        self._child(self.requests, model, str(status)).inc()
        if model != UNKNOWN:
            self._child(self.latency, model).observe(seconds)

    def queued(self, model: str, seconds: float) -> None:
        self._child(self.queue, model).observe(seconds)

    def batch_of(self, model: str) -> Callable[[int], None]:
        """What a model's runner calls with the rows of each run."""
        observe: Callable[[int], None] = self.batch.labels(model).observe
        return observe

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once (the lookup costs more than the count)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def text(self) -> bytes:
        return generate_latest(self.registry)
