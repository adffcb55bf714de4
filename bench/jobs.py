"""The job queue with the local executor.

1. submit → process started: from calling ``service.submit`` to the job's first line running
   (it writes ``time.time()``), with an agent polling as ``daybreak up`` does (floor ≤ 1 s).
   Baseline: starting the same Python command directly with ``subprocess.Popen``.
2. the agent's memory when idle: RSS of ``daybreak agent`` after it has settled (floor ≤ 100 MB).
   Baseline: a bare ``python -c`` process.
3. 100 queued short jobs (0.5 s each) on 2 CPU slots: the fraction of slot time left idle
   between the first start and the last end while jobs were waiting (floor ≤ 5%).
4. resume after SIGKILL: a job checkpointing every 10 steps is killed from outside at a random
   step; the retried attempt must continue right after the last checkpoint, so the steps redone
   are at most the steps since that checkpoint (floor: redone ≤ since-checkpoint, every trial).

    python bench/jobs.py [--quick]
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import _common
import psutil
from _common import Result, median

FIRST_LINE = "import time, sys; open(sys.argv[1], 'w').write(repr(time.time()))\n"
RESUMABLE = """
import os, sys, time, daybreak
run = daybreak.init(project="bench", system_metrics=False, capture_output=False)
latest = run.latest_checkpoint()
start = latest.load()["step"] + 1 if latest else 0
with open(sys.argv[1], "a") as trace:
    trace.write(f"start {start}\\n")
for step in range(start, 60):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
    if step % 10 == 9:
        run.save_checkpoint({"step": step}, step=step, keep=1)
        with open(sys.argv[1], "a") as trace:
            trace.write(f"checkpoint {step}\\n")
    with open(sys.argv[1], "a") as trace:
        trace.write(f"step {step}\\n")
    time.sleep(0.05)
run.finish()
"""


class AgentThread:
    def __init__(self, settings: Any, slots: int) -> None:
        from daybreak.jobs.agent import Agent
        from daybreak.jobs.local import LocalExecutor

        self.agent = Agent(settings, LocalExecutor(settings, slots=slots, gpus=[]))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.agent.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


def wait_done(settings: Any, ids: list[str], timeout: float = 600) -> list[Any]:
    from daybreak.jobs import service

    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = [service.get(settings, i) for i in ids]
        if all(j.status in service.DONE for j in jobs):
            return jobs
        time.sleep(0.1)
    raise TimeoutError("jobs did not finish")


def submit_latency(settings: Any, folder: Path, reps: int) -> tuple[list[float], list[float]]:
    from daybreak.jobs import service, spec

    script = folder / "first_line.py"
    script.write_text(FIRST_LINE)
    ours, direct = [], []
    agent = AgentThread(settings, slots=2)
    try:
        for i in range(reps):
            stamp = folder / f"stamp-{i}"
            start = time.time()
            job = service.submit(settings, spec.build(str(script), [str(stamp)], code="none"))[0]
            wait_done(settings, [job.id])
            ours.append(float(stamp.read_text()) - start)
            start = time.time()
            subprocess.run([sys.executable, str(script), str(stamp)], check=True)
            direct.append(float(stamp.read_text()) - start)
    finally:
        agent.close()
    return ours, direct


def idle_memory(home: Path) -> tuple[float, float]:
    env = _common.bench_env(home)
    agent = subprocess.Popen(
        [sys.executable, "-m", "daybreak.cli", "agent"], env=env, stdout=subprocess.DEVNULL
    )
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(8)
        return psutil.Process(agent.pid).memory_info().rss / 2**20, psutil.Process(
            bare.pid
        ).memory_info().rss / 2**20
    finally:
        agent.send_signal(signal.SIGINT)
        bare.kill()
        agent.wait(20)


def idle_fraction(settings: Any, folder: Path, count: int) -> tuple[float, float]:
    """(idle fraction of the 2 slots while jobs waited, wall seconds)."""
    from daybreak.jobs import service, spec

    script = folder / "nap.py"
    script.write_text("import time; time.sleep(0.5)\n")
    ids = [
        service.submit(settings, spec.build(str(script), code="none", name=f"nap-{i}"))[0].id
        for i in range(count)
    ]
    agent = AgentThread(settings, slots=2)
    try:
        jobs = wait_done(settings, ids)
    finally:
        agent.close()
    spans = []
    for (
        job
    ) in jobs:  # wall-clock times on both ends: the agent's "started" event, the launcher's exit
        assert job.status == "succeeded", job.reason
        started = next(e["at"] for e in service.events(settings, job.id) if e["kind"] == "started")
        ended = json.loads((settings.home / "jobs" / job.id / "exit-1.json").read_text())[
            "ended_at"
        ]
        spans.append((started, ended))
    first = min(s for s, _ in spans)
    last_start = max(s for s, _ in spans)
    # while jobs waited (until the last one started), how much slot time was not running a job
    busy = sum(max(0.0, min(e, last_start) - max(s, first)) for s, e in spans)
    window = 2 * (last_start - first)
    return 1 - busy / window, max(e for _, e in spans) - first


def resume_trials(settings: Any, folder: Path, trials: int) -> list[tuple[int, int]]:
    """(steps redone, steps since the last checkpoint when killed) per trial."""
    import random

    from daybreak.jobs import service, spec

    script = folder / "resumable.py"
    script.write_text(RESUMABLE)
    rng = random.Random(0)
    out = []
    agent = AgentThread(settings, slots=2)
    try:
        for trial in range(trials):
            trace = folder / f"trace-{trial}.txt"
            job = service.submit(
                settings, spec.build(str(script), [str(trace)], code="none", retries=2)
            )[0]
            kill_after = rng.randint(12, 45)
            deadline = time.time() + 120
            while time.time() < deadline:
                lines = trace.read_text().splitlines() if trace.exists() else []
                if sum(1 for line in lines if line.startswith("step ")) >= kill_after:
                    break
                time.sleep(0.01)
            current = service.get(settings, job.id)
            os.killpg(current.pid, signal.SIGKILL)  # the whole attempt, as a power cut would
            done = wait_done(settings, [job.id])[0]
            assert done.status == "succeeded" and done.attempt == 2, (done.status, done.reason)
            lines = trace.read_text().splitlines()
            restart = [i for i, line in enumerate(lines) if line.startswith("start ")][1]
            before = lines[:restart]
            last_step = max(int(line.split()[1]) for line in before if line.startswith("step "))
            checkpoints = [
                int(line.split()[1]) for line in before if line.startswith("checkpoint ")
            ]
            resumed_at = int(lines[restart].split()[1])
            since_checkpoint = last_step - (checkpoints[-1] if checkpoints else -1)
            out.append((last_step - resumed_at + 1, since_checkpoint))
    finally:
        agent.close()
    return out


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    reps, count, trials = (5, 20, 2) if options.quick else (15, 100, 5)
    from daybreak.config import get_settings

    results: list[Result] = []
    with _common.temp_home() as home:
        settings = get_settings()
        folder = home / "scripts"
        folder.mkdir()
        ours, direct = submit_latency(settings, folder, reps)
        results.append(
            Result(
                "submit → job's first line running",
                median(ours) * 1e3,
                "ms",
                "Popen of the same script",
                median(direct) * 1e3,
                1000,
                note=f"reps {_common.spread([x * 1e3 for x in ours])} ms; agent polls every 0.2 s",
            )
        )
        agent_mb, bare_mb = idle_memory(home)
        results.append(
            Result(
                "idle agent RSS (`daybreak agent`)", agent_mb, "MB", "bare python -c", bare_mb, 100
            )
        )
        idle, wall = idle_fraction(settings, folder, count)
        results.append(
            Result(
                f"{count} jobs of 0.5 s on 2 slots: idle slot time while jobs waited",
                idle * 100,
                "%",
                "none",
                None,
                5,
                note=f"all done in {wall:.1f} s (ideal {count * 0.5 / 2:.1f} s of sleeping)",
            )
        )
        trial_results = resume_trials(settings, folder, trials)
        worst = max(redone - since for redone, since in trial_results)
        results.append(
            Result(
                "resume after SIGKILL: steps redone minus steps since the last checkpoint (worst trial)",
                worst,
                "steps",
                "none",
                None,
                0,
                note="trials (redone, since checkpoint): "
                + ", ".join(f"{r}/{s}" for r, s in trial_results),
            )
        )
    return _common.report("jobs: the queue and the local executor", results, options)


if __name__ == "__main__":
    sys.exit(main())
