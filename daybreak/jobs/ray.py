"""The Ray executor: the same jobs on an existing Ray cluster, through Ray's job API.

``--executor ray://HOST:PORT`` names the cluster's dashboard (the job API). A Ray agent
(``daybreak agent --executor ray://HOST:PORT``) claims that executor's jobs from the queue and
submits each attempt as a Ray job with the job's GPUs, CPUs and memory as entrypoint resources,
its frozen code as the working directory and the same environment the local executor gives.
Its submission id is ``daybreak-JOB-ATTEMPT``, so a restarted agent finds its attempts again.
Capacity comes from the cluster's live nodes; Ray places the jobs. Status, logs, cancel and
retries go through the same queue as with ``local``.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
import urllib.request
from typing import Any

from daybreak.config import Settings
from daybreak.errors import ConfigError
from daybreak.jobs.executor import Attempt, Executor
from daybreak.jobs.service import JobRecord
from daybreak.jobs.spec import SpecError

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def dashboard_url(address: str) -> str:
    if not address.startswith("ray://") or ":" not in address.removeprefix("ray://"):
        raise SpecError(
            f"{address!r} is not a Ray address", "write it as ray://HOST:PORT (the dashboard port)"
        )
    return "http://" + address.removeprefix("ray://").rstrip("/")


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def check_address(address: str) -> None:
    """Refuse an address whose job API does not answer."""
    url = dashboard_url(address)
    try:
        _get(f"{url}/api/version")
    except (OSError, ValueError) as exc:
        raise SpecError(
            f"the Ray cluster at {address} does not answer ({exc})",
            "start it with `ray start --head --dashboard-port=PORT`, or check the address",
        ) from exc


def cluster_capacity(url: str) -> tuple[int, int]:
    """(GPUs, CPUs) over the cluster's live nodes."""
    nodes = _get(f"{url}/nodes?view=summary")["data"]["summary"]
    gpus = cpus = 0.0
    for node in nodes:
        raylet = node.get("raylet", {})
        if raylet.get("state", "ALIVE") == "ALIVE":
            total = raylet.get("resourcesTotal", {})
            gpus += total.get("GPU", 0.0)
            cpus += total.get("CPU", 0.0)
    return int(gpus), int(cpus)


class RayExecutor(Executor):
    interval = 0.5

    def __init__(self, settings: Settings, address: str) -> None:
        self.name = address
        self.url = dashboard_url(address)
        try:
            from ray.job_submission import JobSubmissionClient
        except ModuleNotFoundError as exc:
            raise ConfigError("the Ray executor needs Ray", "pip install 'daybreak[ray]'") from exc
        check_address(address)
        self.client = JobSubmissionClient(self.url)
        gpus, cpus = cluster_capacity(self.url)
        super().__init__(settings, list(range(gpus)), max(1, cpus))
        self._capacity_at = time.time()

    @property
    def worker(self) -> str:
        return f"ray@{self.url.removeprefix('http://')}"

    @property
    def where(self) -> str:
        return f"the Ray cluster at {self.name}"

    @property
    def python(self) -> str:
        return "python"  # the nodes' own interpreter: Ray runs entry points with its PATH

    def fits(self, job: JobRecord) -> bool:
        if time.time() - self._capacity_at > 30:  # nodes come and go
            gpus, cpus = cluster_capacity(self.url)
            self.gpus, self.slots, self._capacity_at = list(range(gpus)), max(1, cpus), time.time()
        return super().fits(job)

    @staticmethod
    def submission_id(job: JobRecord) -> str:
        return f"daybreak-{job.id}-{job.attempt}"

    def start(self, job: JobRecord) -> Attempt:
        devices = self._free_gpus()[: job.gpus] if job.gpus else []
        folder, _, argv, env = self.prepare(job, devices)
        env.pop("CUDA_VISIBLE_DEVICES")  # Ray sets it for the GPUs it grants
        env.pop("DAYBREAK_JOB_CONFIG")  # a path on this machine: the config travels inline
        env["DAYBREAK_JOB_CONFIG_JSON"] = json.dumps(job.spec.config)
        runtime_env: dict[str, Any] = {"env_vars": env}
        entrypoint = shlex.join(argv)
        if job.code_uri:  # Ray uploads the frozen code and starts in it
            code = str(folder / "code")
            runtime_env["working_dir"] = code
            env["PYTHONPATH"] = env["PYTHONPATH"].replace(code, ".")
            words = [
                '"$root"/' + shlex.quote(a.removeprefix(code + "/"))
                if a.startswith(code + "/")
                else shlex.quote(a)
                for a in argv
            ]
            entrypoint = (
                'root="$PWD"; export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"; '
                f"cd {shlex.quote(job.workdir)} && exec {' '.join(words)}"
            )
            entrypoint = f"sh -c {shlex.quote(entrypoint)}"
        resources = job.spec.resources
        self.client.submit_job(
            entrypoint=entrypoint,
            submission_id=self.submission_id(job),
            runtime_env=runtime_env,
            entrypoint_num_cpus=resources.cpus,
            entrypoint_num_gpus=job.gpus or None,
            entrypoint_memory=resources.memory_mb * 2**20 if resources.memory_mb else None,
            metadata={"daybreak_job": job.id, "attempt": str(job.attempt)},
        )
        attempt = Attempt(job, 0, time.time(), devices, self.cpu_slots_of(job), folder)
        attempt.handle = self.submission_id(job)
        self.attempts[job.id] = attempt
        return attempt

    def _info(self, job: JobRecord) -> Any:
        try:
            return self.client.get_job_info(self.submission_id(job))
        except RuntimeError:  # Ray does not know it
            return None

    def adopt(self, job: JobRecord) -> Attempt | None:
        info = self._info(job)
        if info is None or str(info.status) in TERMINAL:
            return None
        attempt = Attempt(
            job, 0, job.started_at or time.time(), [], self.cpu_slots_of(job), self.root / job.id
        )
        attempt.handle = self.submission_id(job)
        self.attempts[job.id] = attempt
        return attempt

    def exit_code(self, job: JobRecord) -> int | None:
        info = self._info(job)
        if info is None or str(info.status) not in TERMINAL:
            return None
        return self._exit_of(info)

    @staticmethod
    def _exit_of(info: Any) -> int | None:
        status = str(info.status)
        code = getattr(info, "driver_exit_code", None)
        if status == "SUCCEEDED":
            return 0
        if code is not None:
            return int(code)
        return None if status == "FAILED" and "supervisor" in (info.message or "").lower() else 1

    def poll(self) -> list[tuple[Attempt, int | None]]:
        done = []
        for job_id, attempt in list(self.attempts.items()):
            info = self._info(attempt.job)
            self._copy_logs(attempt)
            if info is not None and str(info.status) not in TERMINAL:
                continue
            del self.attempts[job_id]
            done.append((attempt, None if info is None else self._exit_of(info)))
        return done

    def _copy_logs(self, attempt: Attempt) -> None:
        """Keep ``attempt-N.log`` here, so ``daybreak jobs logs`` reads Ray jobs like local ones."""
        try:
            text = self.client.get_job_logs(attempt.handle or "")
        except RuntimeError:
            return
        (attempt.folder / f"attempt-{attempt.job.attempt}.log").write_text(text)

    def stop(self, job_id: str, why: str) -> None:
        attempt = self.attempts.get(job_id)
        if attempt is None or attempt.stopping:
            return
        attempt.stopping = why
        with contextlib.suppress(RuntimeError):
            self.client.stop_job(attempt.handle or "")
