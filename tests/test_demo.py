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
    from daybreak.tracking.readers import backend

    runs = backend().list_runs(project="demo")
    assert {r.name for r in runs} == {"shapes-cnn", "shapes-cnn-lr-too-high"}
    best = next(r for r in runs if r.name == "shapes-cnn")
    assert daybreak.get_run(best.id).metrics()["val/acc"].last > 0.9
    assert "lake: ingested 2560 shape images" in done.stdout

    from daybreak.config import get_settings
    from daybreak.lake import datasets

    settings = get_settings()
    assert best.config["dataset"] == "shapes@1"
    assert datasets.used_by_run(settings, best.id) == ["shapes@1"]
    assert datasets.get(settings, "shapes@1").split_counts["val"] > 0
