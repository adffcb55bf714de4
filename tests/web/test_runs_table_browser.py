"""The runs table in a real headless Chromium: filter, sort, page, group, pick columns, share
the URL, live rows; no console errors. Screenshots go to /tmp/screens."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from daybreak.config import Settings
from daybreak.store.engine import get_database
from daybreak.tracking import service
from daybreak.tracking.records import RUNNING
from tests.web.conftest import BrowserPage
from tests.web.test_runs_table import put_run

pytestmark = pytest.mark.browser
SCREENS = Path("/tmp/screens")


def seed(settings: Settings, count: int = 60) -> None:
    now = time.time()
    for i in range(count):
        put_run(
            settings,
            f"run{i:03d}",
            project=("vision", "pose")[i % 2],
            status="failed" if i % 7 == 0 else "finished",
            config={"lr": (0.1, 0.01, 0.001)[i % 3], "batch": 32 * (1 + i % 2)},
            metrics={"val/acc": i / count, "train/loss": 1 - i / count},
            tags=["baseline"] if i % 4 == 0 else [],
            started_at=now - 100_000 + i * 60,
        )


def table_state(tab: BrowserPage) -> dict[str, str]:
    box = tab.page.locator("#runs-table .runs-table")
    names = ("total", "page", "pages", "rows", "groups", "columns", "sort", "desc", "running")
    return {name: box.get_attribute(f"data-{name}") or "" for name in names}


def url_state(tab: BrowserPage) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(tab.page.url).query).items()}


def wait_for(tab: BrowserPage, name: str, value: str) -> None:
    tab.page.wait_for_selector(f'#runs-table .runs-table[data-{name}="{value}"]')


def test_filter_sort_page_group_and_columns(
    settings: Settings, server: str, tab: BrowserPage
) -> None:
    seed(settings)
    page = tab.page
    page.goto(f"{server}/runs")
    assert table_state(tab)["total"] == "60" and table_state(tab)["rows"] == "50"
    SCREENS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENS / "runs.png"), full_page=True)

    page.fill("#runs-filter", "project:vision config.lr>=0.01 val/acc>0.5")
    page.press("#runs-filter", "Enter")
    wait_for(tab, "total", "9")
    assert url_state(tab) == {"q": "project:vision config.lr>=0.01 val/acc>0.5"}
    assert page.locator("tbody tr[data-run-id]").count() == 9

    page.click('th[data-col="metric.val/acc"] a')
    wait_for(tab, "sort", "metric.val/acc")
    first = page.locator("tbody tr[data-run-id]").first.get_attribute("data-run-id")
    assert first == "run034" and table_state(tab)["desc"] == "false"
    page.click('th[data-col="metric.val/acc"] a')
    wait_for(tab, "desc", "true")
    assert page.locator("tbody tr[data-run-id]").first.get_attribute("data-run-id") == "run058"

    page.fill("#runs-filter", "")
    page.press("#runs-filter", "Enter")
    wait_for(tab, "total", "60")
    page.click(".pager a[rel=next]")
    wait_for(tab, "page", "2")
    assert page.locator("tbody tr[data-run-id]").count() == 10
    assert url_state(tab)["page"] == "2"

    page.select_option("#runs-group", "project")
    wait_for(tab, "groups", "2")
    assert page.locator("tr.group-row").count() == 2
    assert url_state(tab).get("page") is None  # a new grouping starts at page 1
    vision = page.locator('tr.group-row[data-group="vision"]')
    assert "30 runs" in vision.inner_text()
    vision.locator(".group-toggle").click()
    assert page.locator('tr[data-run-id][data-group="vision"]:visible').count() == 0
    assert url_state(tab)["collapsed"] == "vision"

    page.click("#column-picker summary")
    page.wait_for_selector('.picker-list[data-loaded=true] input[value="config.batch"]')
    page.check('.picker-list input[value="config.batch"]')
    page.wait_for_selector('th[data-col="config.batch"]')
    assert table_state(tab)["columns"].endswith(",config.batch")
    assert page.locator('tr[data-run-id] td:has-text("64")').count() > 0
    page.uncheck('.picker-list input[value="metric.train/loss"]')
    page.wait_for_selector('th[data-col="metric.train/loss"]', state="detached")
    page.screenshot(path=str(SCREENS / "runs_grouped.png"), full_page=True)

    shared = page.url  # the whole view comes back from the URL alone
    page.goto("about:blank")
    page.goto(shared)
    assert table_state(tab)["groups"] == "2"
    assert page.locator('tr[data-run-id][data-group="vision"]:visible').count() == 0
    assert page.locator('th[data-col="config.batch"]').count() == 1
    page.go_back()
    assert tab.errors == []


def test_a_malformed_filter_shows_the_message_and_keeps_the_table(
    settings: Settings, server: str, tab: BrowserPage
) -> None:
    seed(settings, 5)
    page = tab.page
    page.goto(f"{server}/runs")
    page.fill("#runs-filter", "status:sleeping")
    page.press("#runs-filter", "Enter")
    page.wait_for_selector("#runs-error:visible")
    assert "unknown status 'sleeping'" in page.inner_text("#runs-error")
    assert table_state(tab)["total"] == "5"
    page.screenshot(path=str(SCREENS / "runs_error.png"))
    page.fill("#runs-filter", "status:failed")
    page.press("#runs-filter", "Enter")
    wait_for(tab, "total", "1")
    assert page.locator("#runs-error").is_hidden()
    assert not [e for e in tab.errors if "400" not in e]  # the refused fetch logs a 400 only


def test_project_page_refreshes_running_rows(
    settings: Settings, server: str, tab: BrowserPage
) -> None:
    seed(settings, 4)
    put_run(settings, "live1", project="vision", status=RUNNING, metrics={"val/acc": 0.1})
    page = tab.page
    page.goto(f"{server}/projects/vision")
    assert table_state(tab)["running"] == "true"
    assert "project" not in table_state(tab)["columns"].split(",")
    page.evaluate("window.__notReloaded = true")
    service.finish_run(get_database(settings.db_url), "live1", "finished", time.time())
    page.wait_for_selector('tr[data-run-id="live1"] .badge.finished', timeout=15_000)
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(SCREENS / "project.png"), full_page=True)
    page.click('tr[data-run-id="live1"] td.name a')
    page.wait_for_url(f"{server}/runs/live1")
    assert tab.errors == []
