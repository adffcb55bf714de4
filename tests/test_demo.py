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
    assert "registry: shapes-cnn@1 is shapes-cnn@demo" in done.stdout

    import daybreak
    from daybreak.config import get_settings
    from daybreak.jobs import service
    from daybreak.lake import datasets
    from daybreak.tracking.readers import backend
    from daybreak.zoo import CATEGORIES

    settings = get_settings()
    jobs = service.list_jobs(settings, project="demo")
    assert len(jobs) == 8 and {j.status for j in jobs} == {"succeeded"}
    runs = {r.name: r for r in backend().list_runs(project="demo")}
    mlflow_run = runs.pop("mlflow-script")  # an unchanged MLflow script logged in as well
    assert set(runs) == {j.name for j in jobs}
    assert "mlflow: an unchanged MLflow script logged 60 steps" in done.stdout
    assert "sent in batches by Daybreak's plugin" in " ".join(done.stdout.split())  # wrapped
    assert mlflow_run.config["lr"] == "0.003" and mlflow_run.status == "finished"
    assert len(daybreak.get_run(mlflow_run.id).history("val/pck")) == 60
    assert {t for r in runs.values() for t in r.tags} >= {"demo", *CATEGORIES}
    best = runs["shapes-cnn"]
    assert daybreak.get_run(best.id).metrics()["val/acc"].last > 0.9
    for run in runs.values():  # every category trained from its own lake dataset version
        assert len(datasets.used_by_run(settings, run.id)) == 1, run.name
    assert datasets.used_by_run(settings, best.id) == ["shapes@1"]
    assert datasets.get(settings, "shapes@1").split_counts["val"] > 0
    assert "lake: classification" in done.stdout and "zoo-pose@1" in done.stdout
    # the morning after: the watchdog looked, a note and the Daily Log were written
    assert "watchdog:" in done.stdout and "Daily Log" in done.stdout
    from daybreak import dailylog
    from daybreak.notes import service as notes
    from daybreak.store.engine import get_database
    from daybreak.watchdog import policy

    log = dailylog.latest(settings)
    page = settings.home / "dailylog" / f"dailylog-{log['id']}.html"
    assert "<svg" in page.read_text()
    db = get_database(settings.db_url)
    assert notes.list_notes(db, run_id=best.id)
    assert policy.policies(db)["demo"][0].action == "restart"
    # the bad warm restart diverged, and the watchdog restarted it with half the learning rate
    from daybreak.watchdog import store

    bad = runs["shapes-cnn-bad-restart"]
    (restart,) = [a for a in store.list_actions(db, run_ids=[bad.id]) if a["kind"] == "restart"]
    assert restart["detail"]["change"]["lr_scale"] == 0.5 and restart["detail"]["from_step"] < 320
    assert next(j for j in jobs if j.run_id == bad.id).attempt == 2
    assert daybreak.get_run(bad.id).metrics()["val/acc"].last > 0.9
    # the morning after also converted the demo's classifier and the Daily Log says so
    from daybreak.registry import exports

    recommended = exports.recommended_export(settings, "shapes-cnn@demo", "server-cpu")
    assert recommended.status == "ok" and recommended.report["dataset"] == "shapes@1"
    assert "convert: shapes-cnn@1 for server-cpu" in done.stdout
    converted = log["content"]["models"]["exported"]
    assert [c["ref"] for c in converted] == ["shapes-cnn@1"]
    # and served it over HTTP: PNG shapes in, labels out
    import re

    answered = re.search(r"serve: shapes-cnn@demo answered (\d+)/(\d+)", done.stdout)
    assert answered, done.stdout[-2000:]
    assert int(answered[1]) >= 0.75 * int(answered[2])
