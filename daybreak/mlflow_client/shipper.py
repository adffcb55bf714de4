"""Metrics queued by the MLflow client, sent to the Daybreak server in batches from a thread.

Batches go through the SDK's ``Sender``: when the server cannot be reached they wait in the
spool (``$DAYBREAK_HOME/spool/mlflow-RUN_ID``) and are retried with backoff while the process
lives; ``daybreak sync`` sends what a process left there. Batches the server refuses (4xx) are
kept in the spool's ``rejected`` folder and raised at the next call that flushes.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from daybreak.config import Settings, get_settings
from daybreak.errors import ConfigError
from daybreak.tracking.http import HttpClient
from daybreak.tracking.remote import Op, Sender, Spool

BATCH = 1000  # MLflow's most metrics in one log-batch
GATHER_S = 0.1  # how long the first queued metric waits for company
EXIT_TIMEOUT_S = 30.0
LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"

_live: weakref.WeakSet[Shipper] = weakref.WeakSet()


class RefusedError(Exception):
    """The server refused metrics sent in the background; the batches are kept in the spool."""


def metric_json(metric: Any) -> dict[str, Any]:
    """An ``mlflow.entities.Metric`` as the log-batch body carries it."""
    value = float(metric.value)
    out: dict[str, Any] = {
        "key": metric.key,
        "value": value if math.isfinite(value) else _nonfinite(value),
        "timestamp": int(metric.timestamp),
        "step": int(metric.step or 0),
    }
    for extra in ("model_id", "dataset_name", "dataset_digest"):
        if getattr(metric, extra, None):
            out[extra] = getattr(metric, extra)
    return out


def _nonfinite(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


class Shipper:
    def __init__(self, host: str) -> None:
        self._host = host
        self.spool_root = _spool_root()
        self._start()
        _live.add(self)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._waiting: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (run, authorization)
        self._count = 0
        self._asked = 0  # flushes asked for
        self._done = 0  # flushes the thread has answered
        self._shipping = False
        self._client = HttpClient(self._host, timeout=30.0)
        self._senders: dict[str, Sender] = {}
        self._behind: dict[str, str] = {}  # run -> authorization, ops still in its spool
        self._refused: list[str] = []
        self.batches = 0  # log-batch requests made of queued metrics so far
        thread = threading.Thread(target=self._loop, name="daybreak-mlflow", daemon=True)
        thread.start()

    def _same_process(self) -> None:
        if os.getpid() != self._pid:  # a forked child: the parent ships what it had queued
            self._start()

    def add(self, run_id: str, authorization: str, metrics: Iterable[dict[str, Any]]) -> None:
        """Queue metrics, sent later with the credentials that were current when logged."""
        self._same_process()
        batch = list(metrics)
        with self._cond:
            before = self._count
            self._waiting.setdefault((run_id, authorization), []).extend(batch)
            self._count += len(batch)
            if before == 0 or before < BATCH <= self._count:
                self._cond.notify()

    def flush(self, timeout: float | None = None) -> None:
        """Return once everything queued before reached the server or the spool."""
        self._same_process()
        with self._cond:
            if self._count or self._shipping or self._behind:
                self._asked += 1
                ticket = self._asked
                self._cond.notify()
                if not self._cond.wait_for(lambda: self._done >= ticket, timeout):
                    raise TimeoutError(f"metrics still queued for {self._host} after {timeout} s")
            refused, self._refused = self._refused, []
        if refused:
            raise RefusedError(
                f"the Daybreak server at {self._host} refused {len(refused)} metric batch(es) "
                f"sent in the background (kept under {self.spool_root}/mlflow-*/rejected): "
                f"{refused[0]}"
            )

    def spooled(self) -> int:
        """Batches waiting in this process's spools for the server to come back."""
        with self._cond:
            return sum(len(self._senders[run].spool.files()) for run in self._behind)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._count or self._asked > self._done or self._behind)
                self._cond.wait_for(
                    lambda: self._count >= BATCH or self._asked > self._done, GATHER_S
                )
                taken, self._waiting, self._count = self._waiting, {}, 0
                if self._asked > self._done:  # someone waits: try the server now
                    for run_id in self._behind:
                        self._senders[run_id].retry_now()
                ticket = self._asked
                self._shipping = True
            try:
                self._ship(taken)
            except Exception as exc:  # the thread must outlive a full disk; say why, go on
                with self._cond:
                    self._refused.append(f"could not send or spool metrics: {exc!r}")
            finally:
                with self._cond:
                    self._shipping = False
                    self._done = ticket
                    self._cond.notify_all()

    def _ship(self, taken: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        for (run_id, authorization), metrics in taken.items():
            sender = self._sender(run_id)
            for start in range(0, len(metrics), BATCH):
                body = {"run_id": run_id, "metrics": metrics[start : start + BATCH]}
                sender.pending.append(Op("POST", LOG_BATCH, json.dumps(body).encode()))
                self.batches += 1
            self._pump(run_id, authorization)
        with self._cond:
            behind = sorted(self._behind.items())
        for run_id, authorization in behind:
            self._pump(run_id, authorization)

    def _pump(self, run_id: str, authorization: str) -> None:
        sender = self._senders[run_id]
        self._client.authorization = authorization
        sent = sender.pump()
        with self._cond:
            if sent:
                self._behind.pop(run_id, None)
            else:  # what waits in the spool goes out later with the credentials it was logged with
                self._behind[run_id] = authorization
            self._refused.extend(sender.refused)
        sender.refused.clear()

    def _sender(self, run_id: str) -> Sender:
        if run_id not in self._senders:
            spool = Spool(self.spool_root / f"mlflow-{run_id}")
            self._senders[run_id] = Sender(self._client, spool)
        return self._senders[run_id]


def _spool_root() -> Path:
    try:
        return get_settings().spool_dir
    except ConfigError:
        return Settings().spool_dir


def flush_all(timeout: float | None = None) -> None:
    for shipper in list(_live):
        shipper.flush(timeout)


@atexit.register
def _flush_at_exit() -> None:
    for shipper in list(_live):
        try:
            shipper.flush(EXIT_TIMEOUT_S)
        except (RefusedError, TimeoutError) as exc:
            print(f"daybreak: {exc}", file=sys.stderr)
        left = shipper.spooled()
        if left:
            print(
                f"daybreak: {left} metric batch(es) wait in {shipper.spool_root} for the server;"
                " send them with `DAYBREAK_URL=<server> daybreak sync`",
                file=sys.stderr,
            )
