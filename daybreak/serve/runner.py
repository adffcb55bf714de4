"""ONNX Runtime sessions run off the event loop: ``workers`` sessions of ``threads`` intra-op
threads each, each session owned by one thread. A request goes to the session that became
free last (its weights and buffers are still in the core's cache: at low load one session on
one core answers everything, about 20% faster than taking turns), else waits in a backlog
that the first session to finish takes from.

ONNX Runtime releases the GIL while it runs, so the sessions run in parallel with each other
and with the event loop that reads and answers requests. The hand-off is a queue put one way
and ``call_soon_threadsafe`` back: cheaper than ``run_in_executor``'s two chained futures.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daybreak.convert import runtime
from daybreak.serve.errors import BadInputError

GPU = "CUDAExecutionProvider"


@dataclasses.dataclass
class Ran:
    """A session's outputs and where the time went."""

    outputs: list[Any]
    queue_s: float
    run_s: float
    rows: int


@dataclasses.dataclass
class _Job:
    feeds: dict[str, Any]
    rows: int
    queued: float
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Ran]


class Runner:
    """A pool of identical sessions of one ONNX file."""

    def __init__(
        self,
        path: Path,
        workers: int,
        threads: int,
        providers: tuple[str, ...],
        on_run: Callable[[int], None] | None = None,
    ) -> None:
        self.on_run = on_run
        self.sessions = [runtime.session(path, threads, providers) for _ in range(workers)]
        self.workers = workers
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Job | None]] = []  # a stack: last free on top
        self._backlog: collections.deque[_Job] = collections.deque()
        first = self.sessions[0]
        self.input_names = [i.name for i in first.get_inputs()]
        self.output_names = [o.name for o in first.get_outputs()]
        self.providers: list[str] = list(first.get_providers())
        self._inboxes = [queue.SimpleQueue[_Job | None]() for _ in self.sessions]
        for n, (session, inbox) in enumerate(zip(self.sessions, self._inboxes, strict=True)):
            threading.Thread(
                target=self._work, args=(session, inbox), name=f"daybreak-serve-{n}", daemon=True
            ).start()

    @property
    def gpu(self) -> bool:
        return GPU in self.providers

    def batchable(self) -> bool:
        """Whether requests can be stacked: every input and output has the same free first
        axis and fixed other axes."""
        first = self.sessions[0]
        tensors = [*first.get_inputs(), *first.get_outputs()]
        return len({str(t.shape[0]) if t.shape else "" for t in tensors}) == 1 and all(
            t.shape
            and not isinstance(t.shape[0], int)
            and all(isinstance(d, int) for d in t.shape[1:])
            for t in tensors
        )

    async def run(self, feeds: dict[str, Any], rows: int) -> Ran:
        """Run ``feeds`` on the next free session without blocking the event loop."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Ran] = loop.create_future()
        self._submit(_Job(feeds, rows, time.perf_counter(), loop, done))
        ran = await done
        if self.on_run is not None:
            self.on_run(rows)
        return ran

    def _submit(self, job: _Job) -> None:
        with self._lock:
            if not self._idle:
                self._backlog.append(job)
                return
            inbox = self._idle.pop()
        inbox.put(job)

    def _next(self, inbox: queue.SimpleQueue[_Job | None]) -> _Job | None:
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            self._idle.append(inbox)
        return inbox.get()

    def _work(self, session: Any, inbox: queue.SimpleQueue[_Job | None]) -> None:
        while (job := self._next(inbox)) is not None:
            _answer(job, *self._run(session, job))

    @staticmethod
    def _run(session: Any, job: _Job) -> tuple[Ran | None, Exception | None]:
        started = time.perf_counter()
        try:
            outputs = session.run(None, job.feeds)
        except Exception as exc:  # ONNX Runtime raises its own untyped errors on bad inputs
            return None, BadInputError(
                f"ONNX Runtime refused the input: {str(exc).splitlines()[0][:300]}",
                "check the input against the model's signature (GET /v1/models)",
            )
        return Ran(outputs, started - job.queued, time.perf_counter() - started, job.rows), None

    def close(self) -> None:
        """Stop the session threads once what was queued has run."""
        for inbox in self._inboxes:
            inbox.put(None)


def _answer(job: _Job, ran: Ran | None, error: Exception | None = None) -> None:
    with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits any more
        job.loop.call_soon_threadsafe(_settle, job.done, ran, error)


def _settle(done: asyncio.Future[Ran], ran: Ran | None, error: Exception | None) -> None:
    if done.done():  # the request was cancelled (its client went away)
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(ran)  # type: ignore[arg-type]
