"""The Daily Log's clock inside ``daybreak up``: at the scheduled local time it builds the log
and delivers it; every tick it retries deliveries still pending."""

from __future__ import annotations

import logging
import threading
from typing import Any

from daybreak.config import Settings
from daybreak.dailylog import deliver, service

log = logging.getLogger("daybreak.dailylog")


class DailyLogScheduler(threading.Thread):
    """Builds and sends the Daily Log on schedule; an error in one tick is logged and the
    loop goes on (the next tick tries again)."""

    def __init__(
        self, settings: Settings, every: float = 30.0, policy: deliver.Policy | None = None
    ) -> None:
        super().__init__(name="daybreak-dailylog", daemon=True)
        self.settings = settings
        self.every = every
        self.policy = policy or deliver.Policy()
        self.built: list[int] = []  # ids of the logs this scheduler built
        self.errors: list[str] = []  # what went wrong, newest last (the last 100)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.tick()
            if self._stop_event.wait(self.every):
                break

    def tick(self, now: float | None = None) -> dict[str, Any] | None:
        """One pass: build and queue the log if one is due, then send what is pending.
        Returns the log built, if any. Never raises."""
        built = None
        try:
            due = service.scheduled_due(self.settings, now)
            if due is not None:
                built = service.build(self.settings, until=due, now=now)
                deliver.queue(self.settings, built["id"])
                self.built.append(built["id"])
        except Exception as exc:
            self._failed("building the Daily Log", exc)
        try:
            deliver.send_pending(
                self.settings, self.policy, sleep=self._stop_event.wait, stop=self._stop_event
            )
        except Exception as exc:
            self._failed("delivering the Daily Log", exc)
        return built

    def _failed(self, what: str, exc: Exception) -> None:
        message = f"{what} failed: {exc}"
        if not self.errors or self.errors[-1] != message:  # the same trouble is logged once
            log.error("daybreak: %s", message, exc_info=not _expected(exc))
        self.errors = [*self.errors[-99:], message]

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)


def _expected(exc: Exception) -> bool:
    from daybreak.errors import DaybreakError

    return isinstance(exc, DaybreakError)
