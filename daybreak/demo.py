"""What ``daybreak up --demo`` shows: real training runs logging to the embedded stack.

Each capability adds its part here, so the demo always shows everything Daybreak can do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from daybreak.config import Settings
from daybreak.errors import ConfigError, DaybreakError


@dataclass(frozen=True)
class DemoRun:
    name: str
    args: tuple[str, ...]
    expect: str


DEMO_RUNS = (
    DemoRun("shapes-cnn", ("--steps", "300", "--lr", "3e-3"), "finished"),
    DemoRun("shapes-cnn-lr-too-high", ("--steps", "300", "--lr", "3.0", "--seed", "1"), "finished"),
)


def prepare_lake(settings: Settings, console: Any, count: int = 2560) -> str:
    """Ingest generated shape images into the lake (once) and return the demo dataset version."""
    import tempfile

    from daybreak.lake import datasets
    from daybreak.lake.ingest import ingest
    from daybreak.lake.tables import Lake
    from daybreak.zoo.classifier import write_shapes

    existing = datasets.list_versions(settings, "shapes")
    if existing:
        console.print(f"lake: using dataset {existing[-1].ref} ({existing[-1].rows} images)")
        return existing[-1].ref
    lake = Lake(settings)
    with tempfile.TemporaryDirectory() as folder:
        write_shapes(folder, count, seed=0)
        report = ingest(lake, [folder], source="demo-shapes", folder_labels=True)
    version = datasets.create(
        lake, settings, "shapes", "label_kind = 'class'", {"train": 0.8, "val": 0.2}
    )
    console.print(
        f"lake: ingested {report.added} shape images ({len(report.duplicates)} duplicates) in "
        f"{report.seconds:.1f}s; dataset {version.ref}: "
        + ", ".join(f"{k} {v}" for k, v in version.split_counts.items())
    )
    return version.ref


def _check_torch() -> None:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "the demo trains a real PyTorch model, and torch is not installed",
            "pip install torch==2.13.0 (or 'daybreak[torch]')",
        ) from exc


def run_demo(settings: Settings, url: str, console: Any) -> list[str]:
    """Train the demo runs one after another with a progress bar; returns their run ids."""
    _check_torch()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from daybreak.tracking.readers import LocalBackend

    backend = LocalBackend(settings)
    env = {**os.environ, "DAYBREAK_HOME": str(settings.home), "DAYBREAK_DB": settings.db_url}
    env.pop("DAYBREAK_URL", None)
    dataset = prepare_lake(settings, console)
    run_ids: list[str] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for demo in DEMO_RUNS:
            steps = int(demo.args[demo.args.index("--steps") + 1])
            task = progress.add_task(f"training {demo.name}", total=steps)
            before = {r.id for r in backend.list_runs(project="demo")}
            command = [
                sys.executable,
                "-m",
                "daybreak.zoo.classifier",
                "--project",
                "demo",
                "--name",
                demo.name,
                "--dataset",
                dataset,
                *demo.args,
            ]
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            run_id = None
            while process.poll() is None:
                time.sleep(0.5)
                run_id = run_id or _new_run(backend, before)
                if run_id:
                    progress.update(task, completed=_steps_done(backend, run_id))
            if process.returncode != 0:
                error = process.stderr.read() if process.stderr else ""
                raise DaybreakError(
                    f"demo run {demo.name} failed:\n{error[-2000:]}",
                    "see the error above",
                )
            run_id = run_id or _new_run(backend, before)
            progress.update(task, completed=steps)
            if run_id:
                run_ids.append(run_id)
    for run_id in run_ids:
        record = backend.get_run(run_id)
        console.print(f"  {record.name:<26} {record.status:<9} {url}/runs/{run_id}")
    console.print(f"Open [link={url}/projects/demo]{url}/projects/demo[/] to see the runs.")
    return run_ids


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


def _new_run(backend: Any, before: set[str]) -> str | None:
    fresh = [r.id for r in backend.list_runs(project="demo") if r.id not in before]
    return fresh[0] if fresh else None


def _steps_done(backend: Any, run_id: str) -> int:
    index = backend.metric_index(run_id)
    stats = index.get("train/loss")
    return int(stats.last_step + 1) if stats and stats.last_step is not None else 0
