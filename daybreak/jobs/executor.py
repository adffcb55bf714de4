"""What every executor shares: capacity (GPUs and CPU slots), the attempts it runs, and each
job's folder, frozen code and environment."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from daybreak.config import Settings
from daybreak.jobs.service import JobRecord


@dataclasses.dataclass
class Attempt:
    job: JobRecord
    pid: int
    started: float  # the process's create time, to tell it from a later process with its pid
    devices: list[int]
    cpu_slots: int
    folder: Path
    popen: Any = None  # None for an attempt re-attached after an agent restart
    handle: str | None = None  # the executor's own id for it (a Ray submission id)
    stopping: str | None = None  # "cancelled", "requeued" or "timeout" once we asked it to stop
    kill_at: float | None = None
    pidfd: int | None = None  # readable once the process has exited (Linux pidfd)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class Executor:
    """Capacity and job preparation; subclasses start, watch and stop the processes."""

    name = "local"
    interval = 0.2  # seconds between the agent's ticks

    def __init__(self, settings: Settings, gpus: list[int], slots: int) -> None:
        self.settings = settings
        self.gpus = gpus
        self.slots = slots
        self.attempts: dict[str, Attempt] = {}
        self.root = settings.home / "jobs"

    @property
    def worker(self) -> str:
        """The name jobs claimed by this executor's agent carry (``local@HOST``)."""
        raise NotImplementedError

    def start(self, job: JobRecord) -> Attempt:
        raise NotImplementedError

    def adopt(self, job: JobRecord) -> Attempt | None:
        """Re-attach an attempt an earlier agent started, if it still runs."""
        raise NotImplementedError

    def exit_code(self, job: JobRecord) -> int | None:
        """How an attempt no longer running ended (None: unknown)."""
        raise NotImplementedError

    def poll(self) -> list[tuple[Attempt, int | None]]:
        """Attempts that have ended, with their exit codes (None: it vanished)."""
        raise NotImplementedError

    def wait(self, timeout: float) -> bool:
        """Sleep until something may have changed; False when it cannot (the caller sleeps)."""
        return False

    def stop(self, job_id: str, why: str) -> None:
        """Stop an attempt; ``why`` is cancelled, requeued or timeout."""
        raise NotImplementedError

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

    def shortfall(self, job: JobRecord, gpus: int, slots: int) -> str | None:
        """None, or why capacity of ``gpus`` GPUs and ``slots`` CPU slots can never run the job."""
        if job.gpus > gpus:
            return f"needs {job.gpus} GPU(s); {self.where} has {gpus}"
        if not job.gpus and self.cpu_slots_of(job) > slots:
            return f"needs {self.cpu_slots_of(job)} CPU slots; {self.where} has {slots}"
        return None

    def can_ever_fit(self, job: JobRecord) -> str | None:
        """None, or why this executor can never run the job."""
        return self.shortfall(job, len(self.gpus), self.slots)

    @property
    def where(self) -> str:
        return "this machine"

    def prepare(
        self, job: JobRecord, devices: list[int]
    ) -> tuple[Path, Path, list[str], dict[str, str]]:
        """The job's folder, working folder, command and environment for this attempt."""
        folder = self.root / job.id
        folder.mkdir(parents=True, exist_ok=True)
        workdir = self._code(job, folder)
        (folder / "config.json").write_text(json.dumps(job.spec.config))
        entry = job.spec.entry
        if job.code_uri and entry.kind == "file":  # the script inside the frozen code
            entry = dataclasses.replace(entry, target=str(folder / "code" / entry.target))
        return folder, workdir, entry.argv(self.python), self._env(job, folder, devices, workdir)

    @property
    def python(self) -> str:
        import sys

        return sys.executable

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

    def log_tail(self, job: JobRecord, size: int = 8000) -> str:
        path = self.root / job.id / f"attempt-{job.attempt}.log"
        try:
            with path.open("rb") as handle:
                handle.seek(max(0, path.stat().st_size - size))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
