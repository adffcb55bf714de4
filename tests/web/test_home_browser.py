"""The home page in a real headless Chromium: the GPU chart draws one series per GPU, the
live parts refresh without a reload, no console errors. Screenshot: /tmp/screens/home.png."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daybreak.config import Settings
from daybreak.notes import service as notes
from daybreak.store.engine import get_database
from daybreak.tracking import service
from daybreak.tracking.records import RUNNING
from tests.web.conftest import BrowserPage
from tests.web.test_home import gpu_points
from tests.web.test_runs_table import put_run

pytestmark = pytest.mark.browser
SCREENS = Path("/tmp/screens")


def test_home_draws_gpu_use_and_refreshes_live_parts(
    settings: Settings, server: str, tab: BrowserPage
) -> None:
    now = time.time()
    put_run(
        settings,
        "live1",
        name="pose-wide",
        project="pose",
        status=RUNNING,
        config={"steps": 400},
        step=120,
        metrics={"train/loss": 0.4},
        host="box-a",
        started_at=now - 900,
    )
    put_run(
        settings,
        "live2",
        name="seg-tiny",
        project="seg",
        status=RUNNING,
        metrics={"val/loss": 0.7},
        host="box-b",
        started_at=now - 400,
    )
    put_run(
        settings,
        "bad1",
        name="text-lr-high",
        project="text",
        status="failed",
        started_at=now - 5000,
        ended_at=now - 3000,
        error="RuntimeError: loss is NaN",
    )
    put_run(
        settings,
        "ok1",
        name="cls-small",
        project="vision",
        started_at=now - 5000,
        ended_at=now - 2000,
    )
    gpu_points(settings, "live1", 0, [60.0 + (i % 7) for i in range(120)])
    gpu_points(settings, "live1", 1, [35.0 + (i % 5) for i in range(120)])
    gpu_points(settings, "live2", 0, [85.0 - (i % 9) for i in range(60)])
    notes.add_action_item(
        get_database(settings.db_url), "rerun text-lr-high with lr/10", owner="ana", run_id="bad1"
    )

    page = tab.page
    page.goto(server)
    page.wait_for_selector("#gpu-chart[data-ready=true]")
    assert page.get_attribute("#gpu-chart", "data-series") == "3"
    assert page.locator("#gpu-chart .uplot canvas").count() == 1
    assert page.locator("#gpu-chart .u-legend .u-series").count() == 3  # one per GPU
    assert page.locator("#gpus-now .gpu").count() == 3
    assert page.get_attribute("#training-now", "data-count") == "2"
    assert page.locator('#since-log tr[data-status="failed"]').count() == 1
    assert page.locator("#action-items li").count() == 1
    SCREENS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENS / "home.png"), full_page=True)

    page.evaluate("window.__notReloaded = true")
    service.finish_run(get_database(settings.db_url), "live2", "finished", time.time())
    page.wait_for_selector('#training-now[data-count="1"]', timeout=15_000)
    page.wait_for_selector('#since-log tr[data-run-id="live2"]')
    assert page.evaluate("window.__notReloaded") is True
    assert page.inner_text('#home-summary [data-count="training"]') == "1"
    page.click("#home-summary a.tile.running")
    page.wait_for_selector('#runs-table .runs-table[data-total="1"]')
    assert tab.errors == []


def test_home_without_gpus_or_runs(home: Path, server: str, tab: BrowserPage) -> None:
    tab.page.goto(server)
    tab.page.wait_for_selector("#gpu-chart[data-ready=true]")
    assert tab.page.get_attribute("#gpu-chart", "data-series") == "0"
    assert "No run reported GPU metrics" in tab.page.inner_text("#gpu-chart")
    tab.page.screenshot(path=str(SCREENS / "home_empty.png"), full_page=True)
    assert tab.errors == []
