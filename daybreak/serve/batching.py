"""Dynamic batching: requests that arrive within ``wait`` of the first one (up to ``max_rows``
rows) run as one batch on one session; one batch forms while others run, up to one per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Any

from daybreak.serve.runner import Ran, Runner


@dataclasses.dataclass
class _Request:
    feeds: dict[str, Any]
    rows: int
    arrived: float
    done: asyncio.Future[Ran]


class Batcher:
    """Collects requests for one :class:`Runner` and splits the batch's outputs back."""

    def __init__(self, runner: Runner, max_rows: int, wait_s: float) -> None:
        self.runner = runner
        self.max_rows = max_rows
        self.wait_s = wait_s
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._held: _Request | None = None
        self._slots = asyncio.Semaphore(runner.workers)
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def run(self, feeds: dict[str, Any], rows: int) -> Ran:
        if self._task is None:
            self._task = asyncio.create_task(self._collect(), name="daybreak-serve-batcher")
        done: asyncio.Future[Ran] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(feeds, rows, time.perf_counter(), done))
        return await done

    async def _collect(self) -> None:
        while True:
            first = self._held or await self._queue.get()
            self._held = None
            await self._slots.acquire()
            batch = await self._gather(first)
            task = asyncio.create_task(self._dispatch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _gather(self, first: _Request) -> list[_Request]:
        batch, rows = [first], first.rows
        deadline = first.arrived + self.wait_s
        while rows < self.max_rows:
            try:
                request = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    request = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
            if rows + request.rows > self.max_rows:
                self._held = request
                break
            batch.append(request)
            rows += request.rows
        return batch

    async def _dispatch(self, batch: list[_Request]) -> None:
        import numpy as np

        try:
            names = list(batch[0].feeds)
            feeds = {n: np.concatenate([r.feeds[n] for r in batch]) for n in names}
            ran = await self.runner.run(feeds, sum(r.rows for r in batch))
        except Exception as exc:  # every request of the batch gets the error
            for request in batch:
                if not request.done.done():
                    request.done.set_exception(exc)
            return
        finally:
            self._slots.release()
        start = 0
        for request in batch:
            end = start + request.rows
            waited = time.perf_counter() - request.arrived - ran.run_s
            part = Ran([o[start:end] for o in ran.outputs], max(0.0, waited), ran.run_s, ran.rows)
            if not request.done.done():
                request.done.set_result(part)
            start = end

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
