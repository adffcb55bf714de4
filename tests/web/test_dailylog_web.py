"""The Daily Log and the watchdog's findings through the real server: pages and API."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np

from daybreak import dailylog
from daybreak.store.engine import get_database
from daybreak.watchdog.monitor import Watchdog
from tests.watchdog.test_diagnose import curve, put_run


def _night(settings) -> dict:
    steps, stamps, values = curve(400)
    stamps = stamps - stamps[-1] + time.time() - 2  # tonight
    values = values.copy()
    values[200:] += np.linspace(0, 4, 200)
    put_run("div", {"train/loss": (steps, stamps, values)}, status="running")
    Watchdog(settings).run_pass(float(stamps[-1]) + 1)
    return dailylog.build(settings, until=time.time() + 1)


def test_the_archive_and_a_log_page_with_its_charts(settings, server):
    empty = httpx.get(server + "/dailylog")
    assert empty.status_code == 200 and "No Daily Log yet" in empty.text
    log = _night(settings)
    archive = httpx.get(server + "/dailylog").text
    assert f'href="/dailylog/{log["id"]}"' in archive and log["headline"] in archive
    page = httpx.get(server + f"/dailylog/{log['id']}")
    assert page.status_code == 200 and "<svg" in page.text and "divergence" in page.text
    assert httpx.get(server + "/dailylog/latest").text == page.text
    missing = httpx.get(server + "/dailylog/999")
    assert missing.status_code == 404 and "no Daily Log" in missing.text


def test_the_api_serves_every_format_and_clear_errors(settings, server):
    log = _night(settings)
    listed = httpx.get(server + "/api/dailylogs").json()
    assert [row["id"] for row in listed] == [log["id"]] and "content" not in listed[0]
    content = httpx.get(server + f"/api/dailylogs/{log['id']}").json()
    assert content["headline"] == log["headline"]
    markdown = httpx.get(server + "/api/dailylogs/latest?format=markdown")
    assert (
        markdown.headers["content-type"].startswith("text/markdown")
        and "divergence" in markdown.text
    )
    slack = httpx.get(server + f"/api/dailylogs/{log['id']}?format=slack").json()
    assert slack["blocks"] and slack["text"]
    bad = httpx.get(server + f"/api/dailylogs/{log['id']}?format=pdf")
    assert bad.status_code == 422
    missing = httpx.get(server + "/api/dailylogs/abc")
    assert missing.status_code == 404 and json.loads(missing.text)["error"]["hint"]


def test_a_runs_findings_and_actions(settings, server):
    _night(settings)
    found = httpx.get(server + "/api/runs/div/findings").json()
    assert [f["kind"] for f in found["findings"]] == ["divergence"]
    assert [a["kind"] for a in found["actions"]] == ["notify"]
    assert httpx.get(server + "/api/runs/nope/findings").status_code == 404
    assert get_database(settings.db_url)
