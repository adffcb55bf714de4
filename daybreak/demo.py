"""What ``daybreak up --demo`` shows: real training jobs of every zoo category, queued through
the job queue, run by the agent in ``daybreak up``, logging to the embedded stack.

Each capability adds its part here, so the demo always shows everything Daybreak can do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from daybreak.config import Settings
from daybreak.errors import ConfigError, DaybreakError


@dataclass(frozen=True)
class DemoJob:
    name: str
    category: str
    args: tuple[str, ...] = ()


DEMO_JOBS = (
    DemoJob("shapes-cnn", "classification", ("--steps", "300", "--lr", "3e-3")),
    DemoJob(
        "shapes-cnn-lr-too-high", "classification", ("--steps", "300", "--lr", "3.0", "--seed", "1")
    ),
    DemoJob(  # a bad warm restart (LR x 40 from step 300): the watchdog restarts it at LR x 0.5
        "shapes-cnn-bad-restart",
        "classification",
        # 20 checkpoints kept: the good one must outlive the watchdog's reaction
        (
            *("--steps", "1500", "--lr-jump-at", "300", "--lr-jump", "40", "--seed", "2"),
            *("--keep-checkpoints", "20"),
        ),
    ),
    DemoJob("pose", "pose"),
    DemoJob("face", "face"),
    DemoJob("segmentation", "segmentation"),
    DemoJob("detection", "detection"),
    DemoJob("text-intent", "text"),
)


def prepare_lake(settings: Settings, console: Any) -> dict[str, str]:
    """Each zoo category's generated data in the lake as a dataset version (made once)."""
    from daybreak.lake import datasets
    from daybreak.zoo import CATEGORIES, trainer

    refs = {}
    for category in CATEGORIES:
        started = time.monotonic()
        refs[category] = trainer(category).prepare(settings)
        record = datasets.get(settings, refs[category])
        console.print(
            f"lake: {category:<15} dataset {record.ref} ({record.rows} assets: "
            + ", ".join(f"{k} {v}" for k, v in record.split_counts.items())
            + f") in {time.monotonic() - started:.1f}s"
        )
    return refs


def _check_torch() -> None:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "the demo trains real PyTorch models, and torch is not installed",
            "pip install torch==2.13.0 (or 'daybreak[torch]')",
        ) from exc


def submit_demo_jobs(settings: Settings, refs: dict[str, str]) -> list[Any]:
    """One queued job per demo run, through the same queue as ``daybreak submit``."""
    from daybreak.jobs import service, spec
    from daybreak.zoo import CATEGORIES

    queued = []
    for demo in DEMO_JOBS:
        job = spec.build(
            CATEGORIES[demo.category],
            [*demo.args, "--dataset", refs[demo.category]],
            datasets=[refs[demo.category]],
            project="demo",
            name=demo.name,
            tags=["demo", demo.category],
            retries=1,
            code="none",
            module=True,
        )
        queued += service.submit(settings, job)
    return queued


def run_demo(settings: Settings, url: str, console: Any, watchdog: Any = None) -> list[str]:
    """Queue a job for every zoo category, watch the agent train them, then show the morning
    after (watchdog findings, a note, an action item, the Daily Log); return the run ids."""
    _check_torch()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from daybreak.demo_morning import morning, set_demo_policy, wait_for_watchdog
    from daybreak.jobs import service

    set_demo_policy(settings)
    refs = prepare_lake(settings, console)
    jobs = submit_demo_jobs(settings, refs)
    if not service.live_agents(settings):
        console.print(
            "[yellow]waiting for an agent[/]: `daybreak up` runs one unless another is running"
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        tasks = {j.id: progress.add_task(f"{j.name:<24}", total=1, state="queued") for j in jobs}
        pending = set(tasks)
        while pending:
            time.sleep(0.5)
            for job_id in list(pending):
                job = service.get(settings, job_id)
                progress.update(tasks[job_id], state=_state(settings, job))
                if job.status in service.DONE:
                    progress.update(tasks[job_id], completed=1)
                    pending.discard(job_id)
    failed = [service.get(settings, j.id) for j in jobs]
    failed = [j for j in failed if j.status != "succeeded"]
    if failed:
        raise DaybreakError(
            f"demo job {failed[0].name} {failed[0].status}: {failed[0].reason}\n{(failed[0].error or '')[-2000:]}",
            "see `daybreak jobs show " + failed[0].id + "`",
        )
    for job in jobs:
        console.print(f"  {job.name:<26} succeeded  {url}/runs/{job.run_id}")
    from daybreak.demo_mlflow import log_mlflow_script

    mlflow_run = log_mlflow_script(url, console)
    if watchdog is not None:
        wait_for_watchdog(watchdog, time.time())
    run_ids = [j.run_id for j in jobs] + [mlflow_run]
    morning(settings, run_ids, jobs[0].run_id, console)
    console.print(f"Open [link={url}/projects/demo]{url}/projects/demo[/] to see the runs.")
    return run_ids


def _state(settings: Settings, job: Any) -> str:
    """What the job is doing: queued, the step it reached, or how it ended."""
    if job.status != "running":
        return job.status
    from daybreak.errors import NotFoundError
    from daybreak.tracking.readers import LocalBackend

    try:
        stats = LocalBackend(settings).metric_index(job.run_id).get("train/loss")
    except NotFoundError:
        return "starting"
    step = int(stats.last_step) if stats and stats.last_step is not None else 0
    return f"step {step}"


def verify_demo(url: str, run_ids: list[str]) -> None:
    """Check through HTTP that the server shows every demo run (``up --demo --once``)."""
    import urllib.error
    import urllib.request

    for run_id in run_ids:
        for path in (
            f"/api/runs/{run_id}",
            f"/api/runs/{run_id}/metrics/train/loss",
            f"/runs/{run_id}",
            "/projects/demo",
        ):
            try:
                with urllib.request.urlopen(url + path, timeout=30) as response:
                    response.read()
            except urllib.error.URLError as exc:
                raise DaybreakError(
                    f"the server does not show {path}: {exc}", "see the server's log"
                ) from exc
