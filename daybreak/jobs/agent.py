"""The agent: runs queued jobs on this machine, inside ``daybreak up`` or as ``daybreak agent``.

Each tick it stops what was cancelled, requeued or timed out, records attempts that ended
(retrying within the budget), fails jobs no live agent can ever fit, and starts queued jobs
while they fit. On start it re-attaches the jobs a previous agent on this machine left running
(same pid and process start time) and settles the rest, so no job is forgotten or run twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import IO

from daybreak.config import Settings
from daybreak.errors import ConfigError
from daybreak.jobs import service
from daybreak.jobs.executor import Executor
from daybreak.jobs.local import LocalExecutor

log = logging.getLogger("daybreak.agent")
HEARTBEAT_SECONDS = 5.0


class AgentLock:
    """One agent per Daybreak home on a machine (an flock on ``$DAYBREAK_HOME/agent.lock``)."""

    def __init__(self, home: Path, executor: str = "local") -> None:
        suffix = (
            "" if executor == "local" else "-" + hashlib.sha1(executor.encode()).hexdigest()[:10]
        )
        self.path = home / f"agent{suffix}.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise ConfigError(
                f"another agent already runs for {self.path.parent}",
                "one `daybreak agent` (or `daybreak up`) per machine and home is enough",
            ) from exc
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Agent:
    def __init__(
        self,
        settings: Settings,
        executor: Executor | None = None,
        interval: float | None = None,
    ) -> None:
        self.settings = settings
        self.executor = executor or LocalExecutor(settings)
        self.interval = interval or self.executor.interval
        self.worker = self.executor.worker
        self.agent_id = f"{self.worker}:{socket.gethostname()}:{os.getpid()}"
        self._last_heartbeat = 0.0
        self._unschedulable_checked = 0.0

    def start(self) -> None:
        service.register_agent(
            self.settings,
            self.agent_id,
            socket.gethostname(),
            os.getpid(),
            self.executor.name,
            len(self.executor.gpus),
            self.executor.slots,
        )
        self._last_heartbeat = time.time()
        self.reattach()

    def reattach(self) -> None:
        """Settle the jobs an earlier agent on this machine left running."""
        for job in service.running_on(self.settings, self.worker):
            if job.id in self.executor.attempts:
                continue
            attempt = self.executor.adopt(job)
            if attempt is not None:
                if attempt.pid and job.pid is None:  # started, but its pid was never recorded
                    service.started(
                        self.settings, job, attempt.pid, attempt.started, attempt.devices
                    )
                log.info("re-attached job %s (pid %s)", job.id, attempt.pid or job.pid)
                continue
            code = self.executor.exit_code(job)
            if code is not None:
                service.finished(self.settings, job, code, "exited", "ended while no agent ran")
            else:
                why = "the process was gone when the agent started" if job.pid else "never started"
                service.finished(self.settings, job, None, "lost", why)

    def tick(self) -> None:
        now = time.time()
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            service.agent_heartbeat(self.settings, self.agent_id)
            self._last_heartbeat = now
        self._handle_requests(now)
        for attempt, code in self.executor.poll():
            job = attempt.job
            if attempt.stopping in ("cancelled", "requeued"):
                service.finished(self.settings, job, code, attempt.stopping)
            elif attempt.stopping == "timeout":
                detail = f"timed out after {job.spec.timeout:g} s"
                service.finished(
                    self.settings, job, code, "timeout", detail, self.executor.log_tail(job)
                )
            elif code is None:
                service.finished(
                    self.settings,
                    job,
                    None,
                    "lost",
                    "the process vanished",
                    self.executor.log_tail(job),
                )
            else:
                service.finished(
                    self.settings, job, code, "exited", "", self.executor.log_tail(job)
                )
        if now - self._unschedulable_checked >= 2.0:
            self._fail_unschedulable()
            self._unschedulable_checked = now
        self._start_queued()

    def _handle_requests(self, now: float) -> None:
        if not self.executor.attempts:
            return
        for job in service.running_on(self.settings, self.worker):
            attempt = self.executor.attempts.get(job.id)
            if attempt is None:
                continue
            if job.cancel_requested:
                requeue = job.reason == "requeue" or (job.reason or "").startswith(service.RESTART)
                self.executor.stop(job.id, "requeued" if requeue else "cancelled")
            elif job.spec.timeout and job.started_at and now - job.started_at > job.spec.timeout:
                self.executor.stop(job.id, "timeout")

    def _start_queued(self) -> None:
        while True:
            job = service.claim(self.settings, self.worker, self.executor.fits, self.executor.name)
            if job is None:
                return
            try:
                attempt = self.executor.start(job)
            except Exception as exc:  # the code could not be unpacked, the folder not written
                log.exception("job %s could not start", job.id)
                service.finished(self.settings, job, None, "lost", f"could not start: {exc}")
                continue
            service.started(
                self.settings, job, attempt.pid, attempt.started, attempt.devices, attempt.handle
            )

    def _fail_unschedulable(self) -> None:
        waiting = service.queued(self.settings, self.executor.name)
        if not waiting:
            return
        agents = [
            a for a in service.live_agents(self.settings) if a["executor"] == self.executor.name
        ]
        most_gpus = max((a["gpus"] for a in agents), default=len(self.executor.gpus))
        most_slots = max((a["slots"] for a in agents), default=self.executor.slots)
        for job in waiting:  # no live agent of this executor is big enough: say why here
            if self.executor.shortfall(job, most_gpus, most_slots) and (
                why := self.executor.can_ever_fit(job)
            ):
                service.fail_unschedulable(self.settings, job, f"can never run: {why}")

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set; running jobs are left running (a restarted agent
        re-attaches them)."""
        self.start()
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # one bad tick (a locked database) must not end the agent
                    log.exception("agent tick failed")
                if not self.executor.wait(self.interval):  # wakes when a job ends
                    stop.wait(self.interval)
        finally:
            service.remove_agent(self.settings, self.agent_id)


def make_executor(
    settings: Settings, executor: str = "local", slots: int | None = None
) -> Executor:
    if executor == "local":
        return LocalExecutor(settings, slots=slots)
    if executor.startswith("ray://"):
        from daybreak.jobs.ray import RayExecutor

        return RayExecutor(settings, executor)
    raise ConfigError(f"unknown executor {executor!r}", "use local or ray://HOST:PORT")


def run_agent(
    settings: Settings, stop: threading.Event, slots: int | None = None, executor: str = "local"
) -> None:
    """The agent in this process, holding the machine's agent lock for that executor."""
    lock = AgentLock(settings.home, executor)
    lock.acquire()
    try:
        Agent(settings, make_executor(settings, executor, slots)).run(stop)
    finally:
        lock.release()


class AgentThread:
    """An agent inside ``daybreak up``: a background thread, when no other agent runs here."""

    def __init__(self, settings: Settings, executor: str = "local") -> None:
        self.settings = settings
        self.executor = executor
        self.lock = AgentLock(settings.home, executor)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> bool:
        """False (and nothing started) when another agent holds this home."""
        try:
            self.lock.acquire()
        except ConfigError:
            return False
        try:
            agent = Agent(self.settings, make_executor(self.settings, self.executor))
        except Exception:
            self.lock.release()
            raise
        self.thread = threading.Thread(
            target=agent.run, args=(self.stop_event,), name="daybreak-agent", daemon=True
        )
        self.thread.start()
        return True

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(10)
        self.lock.release()
