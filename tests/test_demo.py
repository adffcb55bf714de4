"""The README's first command: ``daybreak up --demo`` trains real models and serves them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import free_port


@pytest.mark.slow
def test_up_demo_once(home):
    pytest.importorskip("torch")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "daybreak.cli",
            "up",
            "--demo",
            "--once",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo checked: every run is served" in done.stdout
    assert "shapes-cnn" in done.stdout

    import daybreak
    from daybreak.config import get_settings
    from daybreak.jobs import service
    from daybreak.lake import datasets
    from daybreak.tracking.readers import backend
    from daybreak.zoo import CATEGORIES

    settings = get_settings()
    jobs = service.list_jobs(settings, project="demo")
    assert len(jobs) == 7 and {j.status for j in jobs} == {"succeeded"}
    runs = {r.name: r for r in backend().list_runs(project="demo")}
    assert set(runs) == {j.name for j in jobs}
    assert {t for r in runs.values() for t in r.tags} >= {"demo", *CATEGORIES}
    best = runs["shapes-cnn"]
    assert daybreak.get_run(best.id).metrics()["val/acc"].last > 0.9
    for run in runs.values():  # every category trained from its own lake dataset version
        assert len(datasets.used_by_run(settings, run.id)) == 1, run.name
    assert datasets.used_by_run(settings, best.id) == ["shapes@1"]
    assert datasets.get(settings, "shapes@1").split_counts["val"] > 0
    assert "lake: classification" in done.stdout and "zoo-pose@1" in done.stdout
