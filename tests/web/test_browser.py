"""The pages in a real headless Chromium against a real server: charts, live updates, statuses."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest

import daybreak
from daybreak.tracking.records import KeyStats
from tests.web.conftest import BrowserPage

pytestmark = pytest.mark.browser
SCREENSHOT = Path("/tmp/run_page.png")


def open_run(tab: BrowserPage, server: str, run_id: str) -> None:
    tab.page.goto(f"{server}/runs/{run_id}")
    tab.page.wait_for_selector("body[data-charts-ready=true]")


def chart_state(tab: BrowserPage, key: str) -> dict[str, str]:
    figure = tab.page.locator(f'.chart[data-key="{key}"]')
    return {
        "total": figure.get_attribute("data-total") or "",
        "last": figure.locator(".last").inner_text(),
    }


def wait_for_sys_keys(run: daybreak.Run, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while daybreak.get_run(run.id).metrics().get("sys/cpu_percent", KeyStats()).count < 5:
        assert time.monotonic() < deadline, "the system sampler logged nothing"
        time.sleep(0.1)


def test_run_page_draws_one_chart_per_metric_key(home: Path, server: str, tab: BrowserPage) -> None:
    run = daybreak.init(
        project="vision",
        name="resnet18",
        config={"lr": 0.0003, "batch_size": 64, "model": {"depth": 18}},
        tags=["baseline"],
        system_metrics_interval=0.2,
    )
    for i in range(200):
        loss = 2 * math.exp(-i / 60) + 0.05 * math.sin(i)
        run.log({"train/loss": loss, "val/acc": 1 - math.exp(-i / 80), "lr": 3e-4}, step=i)
    wait_for_sys_keys(run)
    run.summary["best_acc"] = 0.92
    run.finish()
    keys = httpx.get(f"{server}/api/runs/{run.id}/metrics").json()["keys"]

    open_run(tab, server, run.id)
    page = tab.page
    assert page.locator(".chart").count() == len(keys)
    assert page.locator(".chart .uplot canvas").count() == len(keys)
    system = [k for k in keys if k.startswith("sys/")]
    assert system and page.locator("#system .chart").count() == len(system)
    assert page.locator("#metrics .chart").count() == len(keys) - len(system)
    for key, stats in keys.items():
        assert chart_state(tab, key)["total"] == str(stats["count"]), key
    assert chart_state(tab, "val/acc")["last"] == f"{1 - math.exp(-199 / 80):.5g}"
    assert page.locator(".nonfinite-flag:visible").count() == 0
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert tab.errors == []


def test_non_finite_values_are_gaps_with_a_visible_marker(
    home: Path, server: str, tab: BrowserPage
) -> None:
    run = daybreak.init(project="p", name="diverged", system_metrics=False)
    for i, value in enumerate([1.0, 0.8, math.nan, 0.7, math.inf, 0.5]):
        run.log({"loss": value, "acc": i / 10}, step=i)
    run.finish()

    open_run(tab, server, run.id)
    flag = tab.page.locator('.chart[data-key="loss"] .nonfinite-flag')
    assert flag.is_visible()
    assert "NaN" in flag.inner_text() and "+Inf" in flag.inner_text()
    assert not tab.page.locator('.chart[data-key="acc"] .nonfinite-flag').is_visible()
    drawn = tab.page.eval_on_selector('.chart[data-key="loss"]', "el => el.uplot.data[1]")
    assert drawn == [1.0, 0.8, None, 0.7, None, 0.5]  # NaN and Inf are gaps, not zeros
    assert chart_state(tab, "loss") == {"total": "6", "last": "0.5"}
    assert tab.errors == []


def test_live_run_updates_charts_and_output_without_reload(
    home: Path, server: str, tab: BrowserPage
) -> None:
    run = daybreak.init(project="p", name="live", system_metrics=False)
    try:
        for i in range(10):
            run.log({"train/loss": 1.0 / (i + 1)}, step=i)
        print("epoch 0 done")
        run.flush()
        open_run(tab, server, run.id)
        page = tab.page
        assert chart_state(tab, "train/loss") == {"total": "10", "last": "0.1"}
        assert page.locator("#run-status").inner_text() == "running"
        page.evaluate("window.__notReloaded = true")

        for i in range(10, 25):
            run.log({"train/loss": 1.0 / (i + 1), "new/metric": float(i)}, step=i)
        print("epoch 1 done")
        run.flush()
        page.wait_for_function(
            "document.querySelector('.chart[data-key=\"train/loss\"]').dataset.total === '25'"
        )
        assert chart_state(tab, "train/loss")["last"] == "0.04"
        page.wait_for_selector('.chart[data-key="new/metric"] .uplot canvas')
        page.wait_for_function("document.getElementById('output').textContent.includes('epoch 1')")
        assert "epoch 0 done" in page.locator("#output").inner_text()
        assert page.evaluate("window.__notReloaded") is True
        assert tab.errors == []
    finally:
        run.finish()
    # the run ended: the page reloads once and shows the final state
    page.wait_for_selector('#run-status:text-is("finished")', timeout=20_000)
    assert tab.errors == []


def test_project_page_lists_runs_with_statuses_and_refreshes(
    home: Path, server: str, tab: BrowserPage
) -> None:
    expected = {}
    for status in ("finished", "failed", "stopped"):
        run = daybreak.init(project="p", name=f"run-{status}", system_metrics=False)
        run.log({"loss": 1.0}, step=0)
        run.finish(status, error=None if status == "finished" else f"it {status}")
        expected[run.id] = status
    live = daybreak.init(project="p", name="run-live", system_metrics=False)
    try:
        live.log({"loss": 2.0}, step=0)
        live.flush()
        expected[live.id] = "running"
        tab.page.goto(f"{server}/projects/p")
        page = tab.page
        rows = page.locator("tbody tr")
        assert rows.count() == 4
        seen = {
            rows.nth(i).get_attribute("data-run-id"): rows.nth(i).locator(".badge").inner_text()
            for i in range(4)
        }
        assert seen == expected
        assert page.locator(f'tr[data-run-id="{live.id}"] .badge.running').is_visible()
        page.evaluate("window.__notReloaded = true")
    finally:
        live.finish()
    page.wait_for_selector(f'tr[data-run-id="{live.id}"] .badge.finished', timeout=15_000)
    assert page.evaluate("window.__notReloaded") is True
    page.click(f'tr[data-run-id="{live.id}"] td.name a')
    page.wait_for_selector("body[data-charts-ready=true]")
    assert page.locator("h1").inner_text() == "run-live"
    assert tab.errors == []


def test_home_links_to_the_project(home: Path, server: str, tab: BrowserPage) -> None:
    run = daybreak.init(project="solo", name="only", system_metrics=False)
    run.finish()
    tab.page.goto(server)
    tab.page.click("text=solo")
    tab.page.wait_for_selector(f'tr[data-run-id="{run.id}"]')
    assert tab.errors == []
