"""The local executor: one process group per job attempt on this machine.

GPUs are found through NVML and handed out one job per GPU via ``CUDA_VISIBLE_DEVICES``; jobs
that want no GPU run in CPU slots (as many as the machine has cores, or ``job_slots``) with the
GPUs hidden. Each attempt runs under ``launch.py`` in a new session, so cancel and timeout stop
the whole process group: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from daybreak.config import Settings
from daybreak.jobs.service import JobRecord

LAUNCHER = Path(__file__).with_name("launch.py")
GRACE_SECONDS = 10.0


def detect_gpus() -> list[int]:
    """The GPU indices this process may use: NVML's count, narrowed by CUDA_VISIBLE_DEVICES."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [int(i) for i in visible.split(",") if i.strip().isdigit()]
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return list(range(pynvml.nvmlDeviceGetCount()))
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML, no driver, no GPU: a CPU machine
        return []


@dataclasses.dataclass
class Attempt:
    job: JobRecord
    pid: int
    started: float  # the process's create time, to tell it from a later process with its pid
    devices: list[int]
    cpu_slots: int
    folder: Path
    popen: Any = None  # None for an attempt re-attached after an agent restart
    stopping: str | None = None  # "cancelled", "requeued" or "timeout" once we asked it to stop
    kill_at: float | None = None
    pidfd: int | None = None  # readable once the process has exited (Linux pidfd)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class LocalExecutor:
    def __init__(
        self, settings: Settings, slots: int | None = None, gpus: list[int] | None = None
    ) -> None:
        self.settings = settings
        self.gpus = detect_gpus() if gpus is None else gpus
        self.slots = slots or settings.job_slots or (os.cpu_count() or 1)
        self.attempts: dict[str, Attempt] = {}
        self.root = settings.home / "jobs"

    # capacity
    def _free_gpus(self) -> list[int]:
        used = {d for a in self.attempts.values() for d in a.devices}
        return [g for g in self.gpus if g not in used]

    def _free_slots(self) -> int:
        return self.slots - sum(a.cpu_slots for a in self.attempts.values())

    @staticmethod
    def cpu_slots_of(job: JobRecord) -> int:
        return 0 if job.gpus else max(1, math.ceil(job.spec.resources.cpus))

    def fits(self, job: JobRecord) -> bool:
        if job.gpus:
            return len(self._free_gpus()) >= job.gpus
        return self._free_slots() >= self.cpu_slots_of(job)

    def can_ever_fit(self, job: JobRecord) -> str | None:
        """None, or why this machine can never run the job."""
        if job.gpus > len(self.gpus):
            return f"needs {job.gpus} GPU(s); this machine has {len(self.gpus)}"
        if not job.gpus and self.cpu_slots_of(job) > self.slots:
            return f"needs {self.cpu_slots_of(job)} CPU slots; this machine has {self.slots}"
        return None

    @property
    def busy(self) -> int:
        return len(self.attempts)

    # running
    def start(self, job: JobRecord) -> Attempt:
        folder = self.root / job.id
        folder.mkdir(parents=True, exist_ok=True)
        workdir = self._code(job, folder)
        devices = self._free_gpus()[: job.gpus] if job.gpus else []
        (folder / "config.json").write_text(json.dumps(job.spec.config))
        env = self._env(job, folder, devices, workdir)
        entry = job.spec.entry
        if job.code_uri and entry.kind == "file":  # the script inside the frozen code
            entry = dataclasses.replace(entry, target=str(folder / "code" / entry.target))
        plan = {"argv": entry.argv(sys.executable), "cwd": str(workdir), "env": env}
        (folder / f"launch-{job.attempt}.json").write_text(json.dumps(plan))
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

    def _code(self, job: JobRecord, folder: Path) -> Path:
        """The job's working folder: its frozen code, unpacked once per job."""
        if not job.code_uri:
            return Path.cwd() if job.workdir == "." else Path(job.workdir)
        code = folder / "code"
        if not (code / ".daybreak-unpacked").exists():
            from daybreak.blobs import BlobStore
            from daybreak.jobs.snapshot import extract

            extract(BlobStore(self.settings.blobs_url), job.code_uri, code)
            (code / ".daybreak-unpacked").write_text(job.code_uri)
        return code / job.workdir

    def _env(
        self, job: JobRecord, folder: Path, devices: list[int], workdir: Path
    ) -> dict[str, str]:
        settings = self.settings
        code_root = str(folder / "code") if job.code_uri else str(workdir)
        env = {
            "DAYBREAK_HOME": str(settings.home),
            "DAYBREAK_DB": settings.db_url,
            "DAYBREAK_BLOBS": settings.blobs_url,
            "DAYBREAK_JOB_ID": job.id,
            "DAYBREAK_RUN_ID": job.run_id,
            "DAYBREAK_ATTEMPT": str(job.attempt),
            "DAYBREAK_PROJECT": job.project,
            "DAYBREAK_RUN_NAME": job.name,
            "DAYBREAK_JOB_TAGS": ",".join(job.spec.tags),
            "DAYBREAK_DATASETS": ",".join(job.spec.datasets),
            "DAYBREAK_JOB_CONFIG": str(folder / "config.json"),
            "CUDA_VISIBLE_DEVICES": ",".join(str(d) for d in devices),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (code_root, os.environ.get("PYTHONPATH", "")) if p
            ),
            **job.spec.env,
        }
        if settings.url:
            env["DAYBREAK_URL"] = settings.url
        return env

    def adopt(self, job: JobRecord) -> Attempt | None:
        """Re-attach a job a previous agent started, if its process is still the same one."""
        if job.pid is None or job.process_started is None:
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

    def log_tail(self, job: JobRecord, size: int = 8000) -> str:
        path = self.root / job.id / f"attempt-{job.attempt}.log"
        try:
            with path.open("rb") as handle:
                handle.seek(max(0, path.stat().st_size - size))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
