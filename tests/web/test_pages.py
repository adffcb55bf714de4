"""The server-rendered pages, fetched over HTTP from a real server, for runs made with the SDK."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import daybreak
from daybreak.tracking.records import KeyStats
from daybreak.web.pages import cell, flat, has_nonfinite, key_metrics, number

XSS = "<script>alert(1)</script>"


def finished_run(
    project: str = "p", name: str = "n", steps: int = 5, **kwargs: object
) -> daybreak.Run:
    run = daybreak.init(project=project, name=name, system_metrics=False, **kwargs)  # type: ignore[arg-type]
    for i in range(steps):
        run.log({"train/loss": 1.0 / (i + 1), "val/acc": i / steps}, step=i)
    run.finish()
    return run


def get(server: str, path: str, status: int = 200) -> str:
    response = httpx.get(server + path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_home_lists_every_project_with_run_counts(home: Path, server: str) -> None:
    finished_run("alpha")
    finished_run("alpha", name="second")
    finished_run("beta")
    page = get(server, "/")
    assert 'href="/projects/alpha"' in page
    assert 'href="/projects/beta"' in page
    rows = re.findall(r'<a href="/projects/(\w+)">\1</a></td>\s*<td class="num">(\d+)</td>', page)
    assert rows == [("alpha", "2"), ("beta", "1")]
    assert "<time data-ts=" in page


def test_home_with_one_project_still_shows_the_list(home: Path, server: str) -> None:
    finished_run("solo")
    page = get(server, "/")
    assert 'id="projects"' in page
    assert 'href="/projects/solo"' in page


def test_home_without_runs_says_how_to_start(home: Path, server: str) -> None:
    page = get(server, "/")
    assert "No runs yet" in page
    assert "daybreak.init(" in page


def test_project_page_shows_runs_statuses_and_key_metrics(home: Path, server: str) -> None:
    done = finished_run(name="done", tags=["baseline"])
    broken = daybreak.init(project="p", name="broken", system_metrics=False)
    broken.log({"loss": 3.0}, step=0)
    broken.finish("failed", error="RuntimeError: boom")
    live = daybreak.init(project="p", name="live", system_metrics=False)
    live.log({"loss": 2.0}, step=0)
    live.flush()
    try:
        page = get(server, "/projects/p")
    finally:
        live.finish()
    statuses = dict(re.findall(r'data-run-id="(\w+)" data-status="(\w+)"', page))
    assert statuses == {done.id: "finished", broken.id: "failed", live.id: "running"}
    assert '<span class="badge running">running</span>' in page
    assert f'href="/runs/{done.id}"' in page
    assert f'<tr data-run-id="{done.id}"' in page
    assert '<span class="tag">baseline</span>' in page
    assert "live, refreshing every few seconds" in page
    columns = re.findall(r'<th class="col-metric num" data-col="metric\.([^"]+)"', page)
    assert columns == ["loss", "train/loss", "val/acc"]  # keys with "loss" first
    assert ">0.2</td>" in page  # last train/loss of "done" (1/5)


def test_project_page_shows_a_crashed_run(home: Path, server: str) -> None:
    script = (
        "import daybreak, os\n"
        "run = daybreak.init(project='p', name='crashy', system_metrics=False)\n"
        "run.log({'loss': 1.0}, step=0)\n"
        "run.flush()\n"
        "os._exit(1)  # dies without finishing the run\n"
    )
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    deadline = time.monotonic() + 15  # a dead process's run is marked once its beat is 2 s old
    while 'data-status="crashed"' not in (page := get(server, "/projects/p")):
        assert time.monotonic() < deadline, page
        time.sleep(0.25)
    assert '<span class="badge crashed">crashed</span>' in page


def test_runs_table_fragment_is_the_table_alone(home: Path, server: str) -> None:
    finished_run()
    fragment = get(server, "/projects/p/runs-table")
    assert fragment.lstrip().startswith('<div class="runs-table"')
    assert "<html" not in fragment
    assert 'data-running="false"' in fragment


def test_run_page_shows_header_config_summary_charts_and_attachments(
    home: Path, server: str, tmp_path: Path
) -> None:
    run = daybreak.init(
        project="p",
        name="resnet",
        config={"lr": 0.0003, "model": {"depth": 18}, "augment": ["flip"]},
        tags=["fp16"],
        system_metrics=False,
    )
    for i in range(10):
        run.log({"train/loss": 1.0 / (i + 1), "val/acc": i / 10, "sys/gpu0/util": 50.0}, step=i)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w" * 1000)
    run.log_artifact(weights)
    run.save_checkpoint(weights, step=9)
    run.note("lr too high?", author="ana")
    run.summary["best_acc"] = 0.9
    run.finish()

    page = get(server, f"/runs/{run.id}")
    assert '<span class="badge finished" id="run-status">finished</span>' in page
    assert "<h1>resnet</h1>" in page
    assert f'<dd class="mono">{run.id}</dd>' in page
    assert 'href="/projects/p"' in page
    assert '<span class="tag">fp16</span>' in page
    assert '<th>model.depth</th><td class="mono">18</td>' in page
    assert '<th>lr</th><td class="mono">0.0003</td>' in page
    assert "[&#34;flip&#34;]" in page
    assert '<th>best_acc</th><td class="mono">0.9</td>' in page
    charts = re.findall(r'<figure class="chart[^"]*" data-key="([^"]+)" data-system="(\w+)"', page)
    assert charts == [("train/loss", "false"), ("val/acc", "false"), ("sys/gpu0/util", "true")]
    assert 'id="system" hidden' not in page
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page
    assert "lr too high?" in page and "ana" in page
    links = re.findall(
        r'<a href="(/api/runs/\w+/artifacts/\d+/download)" download>([^<]+)</a>', page
    )
    assert [name for _, name in links] == ["weights.bin", "checkpoint"]
    assert httpx.get(server + links[0][0]).content == b"w" * 1000
    assert 'id="error"' not in page


def test_run_page_by_id_prefix(home: Path, server: str) -> None:
    run = finished_run(name="prefixed")
    assert "<h1>prefixed</h1>" in get(server, f"/runs/{run.id[:6]}")


def test_failed_run_shows_its_traceback(home: Path, server: str) -> None:
    with (
        pytest.raises(ValueError),
        daybreak.init(project="p", name="bad", system_metrics=False) as run,
    ):
        run.log({"loss": 1.0}, step=0)
        raise ValueError("shapes do not match <3>")
    page = get(server, f"/runs/{run.id}")
    assert '<span class="badge failed" id="run-status">failed</span>' in page
    assert 'id="error"' in page
    assert "Traceback (most recent call last)" in page
    assert "ValueError: shapes do not match &lt;3&gt;" in page


def test_run_page_flags_non_finite_metrics(home: Path, server: str) -> None:
    run = daybreak.init(project="p", name="nan", system_metrics=False)
    run.log({"loss": 1.0, "acc": 0.5}, step=0)
    run.log({"loss": math.nan, "acc": 0.6}, step=1)
    run.finish()
    page = get(server, f"/runs/{run.id}")
    loss = page[page.index('data-key="loss"') :]
    loss = loss[: loss.index("</figure>")]
    assert 'class="nonfinite-flag"' in loss and "hidden" not in loss
    assert "non-finite values (1)" in loss
    assert '<b class="last mono">NaN</b>' in loss
    acc = page[page.index('data-key="acc"') :]
    assert "hidden" in acc[: acc.index("</figure>")]
    assert 'class="chart has-nonfinite" data-key="loss"' in page
    table = get(server, "/projects/p")
    assert "nonfinite" in table and ">NaN</td>" in table


def test_run_name_is_escaped_everywhere(home: Path, server: str) -> None:
    run = daybreak.init(
        project="p", name=XSS, config={"note": XSS}, tags=[XSS], system_metrics=False
    )
    run.log({"loss": 1.0}, step=0)
    run.note(XSS)
    run.finish()
    for path in (
        f"/runs/{run.id}",
        "/projects/p",
        "/projects/p/runs-table",
        f"/runs/{run.id}/attachments",
    ):
        page = get(server, path)
        assert XSS not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_unknown_run_is_a_friendly_html_404(home: Path, server: str) -> None:
    finished_run()
    page = get(server, "/runs/doesnotexist", status=404)
    assert "Not found" in page
    assert "no run with id &#39;doesnotexist&#39;" in page
    assert '<a class="button" href="/">' in page
    assert get(server, "/runs/doesnotexist/attachments", status=404)


def test_unknown_project_is_a_friendly_html_404(home: Path, server: str) -> None:
    page = get(server, "/projects/nope", status=404)
    assert "no project named &#39;nope&#39;" in page
    assert 'href="/"' in page
    assert get(server, "/projects/nope/runs-table", status=404)


def test_api_errors_stay_json(home: Path, server: str) -> None:
    response = httpx.get(server + "/api/runs/doesnotexist")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFoundError"


def test_static_files_and_vendored_uplot_are_served(home: Path, server: str) -> None:
    for path in (
        "/static/daybreak.css",
        "/static/daybreak.js",
        "/static/run.js",
        "/static/runs.js",
        "/static/home.js",
    ):
        assert httpx.get(server + path).status_code == 200, path
    script = httpx.get(server + "/static/vendor/uplot/uPlot.iife.min.js")
    assert script.status_code == 200 and "uPlot" in script.text
    assert httpx.get(server + "/static/vendor/uplot/uPlot.min.css").status_code == 200
    assert "MIT" in httpx.get(server + "/static/vendor/uplot/LICENSE").text


def test_key_metrics_put_loss_first_and_skip_system_keys() -> None:
    stats = KeyStats(count=1, last=1.0)
    indexes = [
        {"acc": stats, "sys/cpu": stats, "val/loss": stats},
        {"Loss": stats, "b": stats, "c": stats},
    ]
    assert key_metrics(indexes) == ["Loss", "val/loss", "acc", "b"]


def test_value_formatting() -> None:
    assert flat({"a": {"b": 1, "c": {}}, "d": "x"}) == [("a.b", 1), ("a.c", {}), ("d", "x")]
    assert [number(v) for v in (None, 3, 0.123456789, math.nan, math.inf, -math.inf)] == [
        "—",
        "3",
        "0.12346",
        "NaN",
        "+Inf",
        "-Inf",
    ]
    assert cell("text") == "text" and cell([1, "a"]) == '[1, "a"]' and cell(True) == "true"
    assert has_nonfinite(KeyStats(count=2, nonfinite=1, last=1.0))
    assert has_nonfinite(KeyStats(count=1, last=math.nan))
    assert not has_nonfinite(KeyStats(count=1, last=1.0)) and not has_nonfinite(None)
