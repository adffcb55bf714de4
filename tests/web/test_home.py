"""The home page through a real server: training now (step, progress, ETA), what ended since
the last Daily Log, open action items, GPU use, the latest Daily Log and the projects."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from daybreak import dailylog
from daybreak.config import Settings
from daybreak.notes import service as notes
from daybreak.store.engine import get_database
from daybreak.tracking import service
from daybreak.tracking.points import RECORD, PointFiles
from daybreak.tracking.records import RUNNING, KeyStats
from tests.web.test_runs_table import put_run


def gpu_points(
    settings: Settings, run_id: str, gpu: int, values: list[float], every: float = 60.0
) -> None:
    """GPU utilisation points ending now, one every ``every`` seconds."""
    now = time.time()
    records = np.empty(len(values), dtype=RECORD)
    records["step"] = np.arange(len(values))
    records["ts"] = now - every * (len(values) - 1 - np.arange(len(values)))
    records["value"] = values
    key = f"sys/gpu{gpu}/util_percent"
    files = PointFiles(settings.runs_dir / run_id)
    files.append(key, records)
    files.close()
    service.index_metrics(get_database(settings.db_url), run_id, {key: KeyStats.of(records)}, None)


def test_training_now_with_step_progress_and_eta(settings: Settings, server: str) -> None:
    now = time.time()
    put_run(
        settings,
        "live1",
        status=RUNNING,
        config={"steps": 100},
        step=49,
        metrics={"train/loss": 0.25, "val/acc": 0.5},
        started_at=now - 100,
    )
    put_run(settings, "live2", project="q", status=RUNNING, metrics={"acc": 0.1}, step=7)
    body = httpx.get(server + "/api/home").json()
    training = {r["id"]: r for r in body["training"]}
    assert set(training) == {"live1", "live2"}
    first = training["live1"]
    assert (first["step"], first["total_steps"], first["progress"]) == (49, 100, 0.5)
    assert first["metric"] == "train/loss" and first["value"] == 0.25
    assert first["eta"] == pytest.approx(50 / (49 / 100), rel=0.05)
    assert training["live2"]["total_steps"] is None and training["live2"]["eta"] is None
    page = httpx.get(server + "/").text
    assert 'id="training-now" class="card" data-live data-count="2"' in page
    assert 'data-run-id="live1"' in page and "/ 100" in page and "--done: 50.0%" in page


def test_what_ended_since_the_last_daily_log(settings: Settings, server: str) -> None:
    now = time.time()
    put_run(settings, "before", started_at=now - 7200, ended_at=now - 3600)
    log = dailylog.build(settings, until=now - 1800)
    put_run(settings, "ok1", started_at=now - 1500, ended_at=now - 600)
    put_run(
        settings,
        "boom",
        status="failed",
        started_at=now - 1500,
        ended_at=now - 300,
        error="Traceback (most recent call last):\nRuntimeError: CUDA out of memory",
    )
    put_run(settings, "dead", status="crashed", started_at=now - 1500, ended_at=now - 200)
    body = httpx.get(server + "/api/home").json()
    assert body["log"]["id"] == log["id"] and body["log"]["headline"] == log["headline"]
    ended = body["ended"]
    assert ended["counts"] == {"finished": 1, "failed": 1, "crashed": 1}
    assert [r["id"] for r in ended["problems"]] == ["dead", "boom"]
    assert [r["id"] for r in ended["finished"]] == ["ok1"]
    page = httpx.get(server + "/").text
    assert f'<a id="latest-log" href="/dailylog/{log["id"]}">' in page
    assert 'data-count="failed">2</b>' in page and 'data-count="finished">1</b>' in page
    assert "RuntimeError: CUDA out of memory" in page and 'data-run-id="before"' not in page


def test_without_a_daily_log_the_last_day_counts(settings: Settings, server: str) -> None:
    now = time.time()
    put_run(settings, "old", started_at=now - 200_000, ended_at=now - 190_000)
    put_run(settings, "new", started_at=now - 2000, ended_at=now - 1000)
    body = httpx.get(server + "/api/home").json()
    assert body["log"] is None and [r["id"] for r in body["ended"]["finished"]] == ["new"]
    page = httpx.get(server + "/").text
    assert "24 hours ago, as there is no Daily Log yet" in page and "None yet" in page


def test_open_action_items_newest_first(settings: Settings, server: str) -> None:
    db = get_database(settings.db_url)
    put_run(settings, "r1", name="pose-big")
    first = notes.add_action_item(db, "look at pose-big", owner="ana", run_id="r1")
    notes.add_action_item(db, "relabel the night shots", project="p")
    done = notes.add_action_item(db, "already done")
    notes.resolve_action_item(db, done, "fixed")
    body = httpx.get(server + "/api/home").json()
    assert body["open_actions"] == 2
    assert [a["title"] for a in body["actions"]] == ["relabel the night shots", "look at pose-big"]
    page = httpx.get(server + "/").text
    assert f'data-item-id="{first}"' in page and "@ana" in page and "pose-big</a>" in page
    assert "already done" not in page and "unassigned" in page


def test_gpu_use_now_and_over_the_last_hours(settings: Settings, server: str) -> None:
    put_run(settings, "g1", status=RUNNING, host="box-a")
    put_run(settings, "g2", status=RUNNING, host="box-b")
    gpu_points(settings, "g1", 0, [50.0] * 30)
    gpu_points(settings, "g1", 1, [10.0, 30.0] * 15)
    gpu_points(settings, "g2", 0, [90.0] * 30)
    gpus = httpx.get(server + "/api/home").json()["gpus"]
    assert [(g["gpu"], g["util"]) for g in gpus] == [
        ("box-a:gpu0", 50.0),
        ("box-a:gpu1", 30.0),
        ("box-b:gpu0", 90.0),
    ]
    history = httpx.get(server + "/api/home/gpu", params={"hours": 1, "buckets": 6}).json()
    assert [s["gpu"] for s in history["series"]] == ["box-a:gpu0", "box-a:gpu1", "box-b:gpu0"]
    assert len(history["times"]) == 6
    assert [v for v in history["series"][1]["values"] if v is not None] == [20.0] * 3
    assert history["series"][2]["values"][-1] == 90.0
    page = httpx.get(server + "/").text
    assert 'id="gpus-now" class="gpu-bars" data-live data-count="3"' in page


def test_live_fragment_and_bad_parameters(settings: Settings, server: str) -> None:
    fragment = httpx.get(server + "/home/live")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    for part in ("home-summary", "training-now", "gpus-now", "since-log", "action-items"):
        assert f'id="{part}"' in fragment.text, part
    for params in ({"hours": "abc"}, {"hours": "0"}, {"hours": "1000"}, {"buckets": "1"}):
        response = httpx.get(server + "/api/home/gpu", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["type"] == "ValidationError"


def test_empty_home_says_how_to_start(home: Path, server: str) -> None:
    page = httpx.get(server + "/").text
    assert "Nothing is training right now." in page and "No open action items." in page
    assert "No runs yet" in page and "daybreak.init(" in page
