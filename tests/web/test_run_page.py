"""The run page's data: windowed and batched series (JSON and binary), the series cache, the
lineage and findings sections, and bad input answered with clear errors."""

from __future__ import annotations

import json
import math
import struct
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

import daybreak
from daybreak.config import Settings
from daybreak.errors import ConfigError
from daybreak.store.engine import get_database
from daybreak.tracking import series
from daybreak.tracking.points import History
from daybreak.tracking.readers import LocalBackend


def logged(project: str = "p", name: str = "r", n: int = 1000, scale: float = 1.0) -> str:
    run = daybreak.init(project=project, name=name, config={"lr": 0.1 * scale, "depth": 18},
                        system_metrics=False, capture_output=False)  # fmt: skip
    for i in range(n):
        run.log({"loss": scale * (1 + math.exp(-i / 200)), "acc": i / n}, step=i)
    run.finish()
    return run.id


def test_step_window_keeps_extremes_inside_it(home: Path, server: str) -> None:
    run_id = logged()
    body = httpx.get(
        f"{server}/api/runs/{run_id}/metrics/loss", params={"start": 100, "end": 199, "points": 0}
    ).json()
    assert body["steps"] == list(range(100, 200))
    assert body["total"] == 1000 and body["in_window"] == 100 and body["returned"] == 100
    thin = httpx.get(
        f"{server}/api/runs/{run_id}/metrics/loss", params={"start": 0, "end": 999, "points": 50}
    ).json()
    assert thin["in_window"] == 1000 and thin["returned"] <= 50
    assert max(thin["values"]) == pytest.approx(2.0) and thin["steps"][-1] == 999


def test_time_and_relative_windows(home: Path, server: str) -> None:
    run_id = logged(n=20)
    run = httpx.get(f"{server}/api/runs/{run_id}").json()
    whole = httpx.get(f"{server}/api/runs/{run_id}/metrics/acc", params={"points": 0}).json()
    middle = whole["timestamps"][5]
    by_time = httpx.get(
        f"{server}/api/runs/{run_id}/metrics/acc", params={"by": "time", "start": middle}
    ).json()
    assert by_time["steps"][0] == 5 and by_time["in_window"] == 15
    relative = middle - run["started_at"]
    by_relative = httpx.get(
        f"{server}/api/runs/{run_id}/metrics/acc",
        params={"by": "relative", "start": relative, "end": relative},
    ).json()
    assert by_relative["steps"] == [5]


def test_series_of_many_runs_in_one_response(home: Path, server: str) -> None:
    a, b = logged(name="a"), logged(name="b", n=10)
    extra = daybreak.init(project="p", name="other", system_metrics=False, capture_output=False)
    extra.log({"only/here": 1.0}, step=0)
    extra.finish()
    params = {"runs": f"{a},{b[:6]},{extra.id}", "keys": "loss,acc", "points": 100}
    body = httpx.get(f"{server}/api/series", params=params).json()
    got = {(s["run_id"], s["key"]): s for s in body["series"]}
    assert set(got) == {(a, "loss"), (a, "acc"), (b, "loss"), (b, "acc")}
    assert got[(a, "loss")]["returned"] <= 100 and got[(a, "loss")]["total"] == 1000
    assert got[(b, "acc")]["returned"] == 10
    assert sorted(body["missing"]) == [[extra.id, "acc"], [extra.id, "loss"]]

    raw = httpx.get(f"{server}/api/series", params={**params, "format": "binary"}).content
    (length,) = struct.unpack("<I", raw[:4])
    assert (4 + length) % 8 == 0
    header = json.loads(raw[4 : 4 + length])
    offset = 4 + length
    for entry in header:
        n = entry["returned"]
        steps, _, values = np.frombuffer(raw, "<f8", 3 * n, offset).reshape(3, n)
        offset += 24 * n
        match = got[(entry["run_id"], entry["key"])]
        assert steps.tolist() == match["steps"] and values.tolist() == match["values"]
    assert offset == len(raw)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/series", {"runs": "", "keys": "loss"}, 400),
        ("/api/series", {"runs": "{run}", "keys": " , "}, 400),
        ("/api/series", {"runs": "nope", "keys": "loss"}, 404),
        ("/api/series", {"runs": "{run}", "keys": "loss", "by": "epoch"}, 422),
        ("/api/series", {"runs": "{run}", "keys": "loss", "points": "many"}, 422),
        ("/api/series", {"runs": "{run}", "keys": ",".join(["k"] * 2001)}, 400),
        ("/api/runs/{run}/metrics/loss", {"start": 10, "end": 5}, 400),
        ("/api/runs/{run}/metrics/loss", {"start": "nan"}, 400),
        ("/api/runs/{run}/metrics/loss", {"points": 100_001}, 422),
        ("/api/runs/{run}/metrics/nokey", {}, 404),
    ],
)
def test_bad_series_requests_are_clear_json_errors(
    home: Path, server: str, path: str, params: dict[str, object], status: int
) -> None:
    run_id = logged(n=20)
    filled = {k: str(v).replace("{run}", run_id) for k, v in params.items()}
    response = httpx.get(server + path.replace("{run}", run_id), params=filled)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and "Traceback" not in response.text


def test_the_cache_follows_a_growing_file(settings: Settings) -> None:
    run = daybreak.init(project="p", system_metrics=False, capture_output=False)
    run.log({"x": 1.0}, step=0)
    run.flush()
    db = LocalBackend(settings)
    first = series.series(db, run.id, "x", 100)
    assert series.series(db, run.id, "x", 100) is first  # served from the cache
    time.sleep(0.01)
    run.log({"x": 2.0}, step=1)
    run.flush()
    again = series.series(db, run.id, "x", 100)
    assert again is not first and again.total == 2
    run.finish()


def test_cut_and_window_checks() -> None:
    history = History("k", np.arange(10), np.arange(10) * 2.0 + 100, np.arange(10) * 1.0)
    assert series.cut(history, series.Window("step", 3, 5)).steps.tolist() == [3, 4, 5]
    assert series.cut(history, series.Window("time", 104, None)).steps[0] == 2
    assert series.cut(history, series.Window("relative", None, 2), 100).steps.tolist() == [0, 1]
    with pytest.raises(ConfigError):
        series.Window("step", 5, 1)
    with pytest.raises(ConfigError):
        series.Window("epoch")  # type: ignore[arg-type]


def add_lineage(settings: Settings, run_id: str) -> None:
    """A dataset version the run read, the job that ran it and a model version made from it,
    written straight into the store (building them for real takes a lake, an agent, torch)."""
    from daybreak.jobs import spec
    from daybreak.store import schema as s

    now = time.time()
    job_spec = spec.build("python -c pass", project="p", name="nightly").to_dict()
    with get_database(settings.db_url).write() as conn:
        dataset = conn.execute(s.datasets.insert().values(name="pose", created_at=now))
        conn.execute(
            s.dataset_versions.insert().values(
                id=7,
                dataset_id=dataset.inserted_primary_key[0],
                version=3,
                fingerprint="f" * 64,
                predicate="true",
                splits={},
                seed=0,
                rows=10,
                split_counts={},
                uri="file:///pose/3",
                created_at=now,
            )
        )
        conn.execute(
            s.run_datasets.insert().values(run_id=run_id, dataset_version_id=7, used_at=now)
        )
        conn.execute(
            s.jobs.insert().values(
                id="jabc",
                project="p",
                name="nightly",
                status="succeeded",
                spec=job_spec,
                run_id=run_id,
                attempt=2,
                max_retries=2,
                created_at=now,
            )
        )
        for attempt, kind in ((1, "claimed"), (1, "retry"), (2, "claimed"), (2, "exited")):
            conn.execute(
                s.job_events.insert().values(
                    job_id="jabc", at=now, attempt=attempt, kind=kind, detail=""
                )
            )
        conn.execute(
            sa.insert(s.categories).values(name="posecat", created_at=now).prefix_with("OR IGNORE")
            if conn.dialect.name == "sqlite"
            else s.categories.insert().values(name="posecat", created_at=now)
        )
        model = conn.execute(
            s.models.insert().values(name="hrnet", category="posecat", created_at=now)
        )
        conn.execute(
            s.model_versions.insert().values(
                model_id=model.inserted_primary_key[0],
                version=1,
                source="run",
                run_id=run_id,
                checkpoint_step=900,
                uri="file:///x",
                sha256="0" * 64,
                size=1,
                lineage={},
                signature={},
                preprocessing={},
                created_at=now,
            )
        )


def test_run_page_shows_lineage_findings_and_overlay_choices(
    home: Path, settings: Settings, server: str
) -> None:
    from daybreak.watchdog import Finding
    from daybreak.watchdog.store import record_action, record_findings

    other = logged(name="sibling")
    run_id = logged(name="main")
    add_lineage(settings, run_id)
    db = get_database(settings.db_url)
    found = record_findings(
        db, run_id, [Finding("divergence", "critical", 420, "loss rose", "lower the lr", {})]
    )
    record_action(db, run_id, "restart", "divergence", "restarted", {}, finding_id=found[0]["id"])
    page = httpx.get(f"{server}/runs/{run_id}").text
    assert 'href="/datasets/pose/3"' in page
    assert 'href="/jobs/jabc"' in page and "attempt 2 of 3" in page
    assert 'href="/models/hrnet/1"' in page and "checkpoint step 900" in page
    assert "loss rose" in page and "lower the lr" in page and "restarted" in page
    assert f'<option value="{other}">' in page and f'<option value="{run_id}">' not in page
    bare = httpx.get(f"{server}/runs/{other}").text
    assert "The watchdog found nothing." in bare and "No dataset versions" in bare
