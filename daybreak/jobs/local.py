"""The local executor: one process group per job attempt on this machine.

GPUs are found through NVML and handed out one job per GPU via ``CUDA_VISIBLE_DEVICES``; jobs
that want no GPU run in CPU slots (as many as the machine has cores, or ``job_slots``) with the
GPUs hidden. Each attempt runs under ``launch.py`` in a new session, so cancel and timeout stop
the whole process group: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil

from daybreak.config import Settings
from daybreak.jobs.executor import Attempt, Executor
from daybreak.jobs.service import JobRecord

LAUNCHER = Path(__file__).with_name("launch.py")
GRACE_SECONDS = 10.0


def detect_gpus() -> list[int]:
    """The GPU indices this process may use: NVML's count, narrowed by CUDA_VISIBLE_DEVICES."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [int(i) for i in visible.split(",") if (i.strip().isascii() and i.strip().isdigit())]
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return list(range(pynvml.nvmlDeviceGetCount()))
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML, no driver, no GPU: a CPU machine
        return []


class LocalExecutor(Executor):
    def __init__(
        self, settings: Settings, slots: int | None = None, gpus: list[int] | None = None
    ) -> None:
        super().__init__(
            settings,
            detect_gpus() if gpus is None else gpus,
            slots or settings.job_slots or (os.cpu_count() or 1),
        )

    @property
    def worker(self) -> str:
        return f"local@{socket.gethostname()}"

    def start(self, job: JobRecord) -> Attempt:
        devices = self._free_gpus()[: job.gpus] if job.gpus else []
        folder, workdir, argv, env = self.prepare(job, devices)
        plan = {"argv": argv, "cwd": str(workdir), "env": env}
        (folder / f"launch-{job.attempt}.json").write_text(json.dumps(plan))
        (folder / f"exit-{job.attempt}.json").unlink(missing_ok=True)
        popen = psutil.Popen(
            [sys.executable, str(LAUNCHER), str(folder), str(job.attempt)],
            start_new_session=True,  # its own process group: stopping it stops everything it started
            stdin=None,
            stdout=open(os.devnull, "wb"),  # noqa: SIM115 - the child keeps it
            stderr=open(folder / f"launcher-{job.attempt}.log", "ab"),  # noqa: SIM115
            close_fds=True,
        )
        attempt = Attempt(
            job, popen.pid, popen.create_time(), devices, self.cpu_slots_of(job), folder, popen
        )
        self.attempts[job.id] = attempt
        return attempt

    def adopt(self, job: JobRecord) -> Attempt | None:
        """Re-attach a job a previous agent started, if its process is still the same one."""
        if job.pid is None:
            return self._adopt_unrecorded(job)
        if job.process_started is None:
            return None
        try:
            process = psutil.Process(job.pid)
            if abs(process.create_time() - job.process_started) > 0.01:
                return None
        except psutil.Error:
            return None
        devices = list(job.devices or [])
        attempt = Attempt(
            job, job.pid, job.process_started, devices, self.cpu_slots_of(job), self.root / job.id
        )
        self.attempts[job.id] = attempt
        return attempt

    def _adopt_unrecorded(self, job: JobRecord) -> Attempt | None:
        """An agent killed between starting an attempt's launcher and recording its pid left
        the job running with no pid: find the launcher by its command line, so the job is
        re-attached instead of started a second time."""
        folder = self.root / job.id
        wanted = [str(LAUNCHER), str(folder), str(job.attempt)]
        for process in psutil.process_iter(["cmdline", "create_time", "status"]):
            info = process.info
            if (info["cmdline"] or [])[-3:] != wanted or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            attempt = Attempt(
                job,
                process.pid,
                info["create_time"],
                _devices_of(folder, job.attempt),
                self.cpu_slots_of(job),
                folder,
            )
            self.attempts[job.id] = attempt
            return attempt
        return None

    def exit_code(self, job: JobRecord) -> int | None:
        """The attempt's exit code as its launcher recorded it (None: not recorded)."""
        path = self.root / job.id / f"exit-{job.attempt}.json"
        try:
            return int(json.loads(path.read_text())["code"])
        except (OSError, ValueError, KeyError):
            return None

    def poll(self) -> list[tuple[Attempt, int | None]]:
        """Attempts whose process has ended, with their exit code (None: it vanished)."""
        done = []
        for job_id, attempt in list(self.attempts.items()):
            if self._alive(attempt):
                if attempt.kill_at is not None and time.time() >= attempt.kill_at:
                    self._signal(attempt, signal.SIGKILL)
                    attempt.kill_at = None
                continue
            del self.attempts[job_id]
            attempt.close()
            done.append((attempt, self.exit_code(attempt.job)))
        return done

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout``, waking as soon as a running attempt's process exits.
        False when there is nothing to wait on (the caller sleeps instead)."""
        import select

        handles = []
        for attempt in self.attempts.values():
            if attempt.pidfd is None:
                try:
                    attempt.pidfd = os.pidfd_open(attempt.pid)
                except (OSError, AttributeError):  # gone already, or no pidfd on this system
                    continue
            handles.append(attempt.pidfd)
        if not handles:
            return False
        select.select(handles, [], [], timeout)
        return True

    def _alive(self, attempt: Attempt) -> bool:
        if attempt.popen is not None:
            return attempt.popen.poll() is None
        try:
            process = psutil.Process(attempt.pid)
            return (
                abs(process.create_time() - attempt.started) <= 0.01
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    def stop(self, job_id: str, why: str, grace: float = GRACE_SECONDS) -> None:
        """Ask the attempt's whole process group to stop (SIGTERM), SIGKILL after ``grace``."""
        attempt = self.attempts.get(job_id)
        if attempt is None or attempt.stopping:
            return
        attempt.stopping = why
        attempt.kill_at = time.time() + grace
        self._signal(attempt, signal.SIGTERM)

    @staticmethod
    def _signal(attempt: Attempt, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(attempt.pid, signum)  # the launcher leads its own group


def _devices_of(folder: Path, attempt: int) -> list[int]:
    """The GPUs an attempt was given, from the plan its launcher read."""
    try:
        plan = json.loads((folder / f"launch-{attempt}.json").read_text())
        visible = str(plan["env"].get("CUDA_VISIBLE_DEVICES", ""))
    except (OSError, ValueError, KeyError, AttributeError):
        return []
    return [int(d) for d in visible.split(",") if d.strip().isdigit()]
