"""Failed sign-ins slow down the next ones: password guessing gets a few tries, then waits.

Two counters: one per name and client address (a person's typos lock only themselves, briefly)
and one per client address (guessing across many names from one place). Past the free
failures of a window, each further attempt waits ``BASE_WAIT_S`` doubled per extra failure,
up to ``MAX_WAIT_S``, counted from the last failure. Kept in the server's memory: a restart
forgets, which is fine for slowing guesses down.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 15 * 60
FREE_PER_NAME = 5
FREE_PER_ADDRESS = 20
BASE_WAIT_S = 30.0
MAX_WAIT_S = 15 * 60.0
MAX_KEYS = 10_000


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, name: str, address: str) -> float:
        """Seconds before this name may try again from this address; 0 when it may now."""
        now = self._clock()
        with self._lock:
            return max(
                self._wait(f"name:{address}:{name.lower()}", FREE_PER_NAME, now),
                self._wait(f"addr:{address}", FREE_PER_ADDRESS, now),
            )

    def failed(self, name: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._forget_old(now)
            for key in (f"name:{address}:{name.lower()}", f"addr:{address}"):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop(f"name:{address}:{name.lower()}", None)

    def _wait(self, key: str, free: int, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and now - times[0] > WINDOW_S:
            times.popleft()
        extra = len(times) - free
        if extra < 0:
            return 0.0
        wait = min(BASE_WAIT_S * 2**extra, MAX_WAIT_S)
        return max(0.0, times[-1] + wait - now)

    def _forget_old(self, now: float) -> None:
        stale = [k for k, t in self._failures.items() if not t or now - t[-1] > WINDOW_S]
        for key in stale:
            del self._failures[key]
        while len(self._failures) >= MAX_KEYS:  # a flood of addresses: drop the oldest
            del self._failures[next(iter(self._failures))]
