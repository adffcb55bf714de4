"""The run page in a real Chromium: overlaid runs, smoothing, log scale, x axis, zoom that
asks the server for more detail, the config search and the compare-with picker."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import daybreak
from tests.web.conftest import BrowserPage

pytestmark = pytest.mark.browser
SCREENS = Path("/tmp/screens")
POINTS = 20_000


def make_runs(count: int = 3) -> list[str]:
    ids = []
    for n in range(count):
        run = daybreak.init(
            project="vision",
            name=f"lr-{n}",
            config={"lr": 10.0 ** -(n + 2), "batch": 64, "opt": {"name": "adam"}},
            system_metrics=False,
        )
        for i in range(POINTS):
            loss = (1 + n) * math.exp(-i / 4000) + 0.05 * math.sin(i / 7) + 0.1
            spike = 5.0 if i == 12_345 else 0.0
            run.log({"train/loss": loss + spike, "val/acc": 1 - loss / 4}, step=i)
        print(f"run {n} done")
        run.finish()
        ids.append(run.id)
    return ids


def ready(tab: BrowserPage, url: str) -> None:
    tab.page.goto(url)
    tab.page.wait_for_selector("body[data-charts-ready=true]")


def chart(tab: BrowserPage, key: str) -> dict[str, str]:
    return tab.page.eval_on_selector(f'.chart[data-key="{key}"]', "el => ({...el.dataset})")


def test_overlay_smoothing_log_axis_and_zoom(home: Path, server: str, tab: BrowserPage) -> None:
    main, second, third = make_runs()
    page = tab.page
    ready(tab, f"{server}/runs/{main}?overlay={second}")
    loss = chart(tab, "train/loss")
    assert loss["series"] == "2" and loss["lines"] == "2" and loss["total"] == str(POINTS)
    assert int(loss["returned"]) <= 2 * int(loss["pointsRequested"])
    assert page.locator("#run-legend li").count() == 2
    assert (
        page.eval_on_selector('.chart[data-key="train/loss"]', "el => el.uplot.series.length") == 3
    )
    # the spike survives downsampling: extremes are kept
    top = page.eval_on_selector(
        '.chart[data-key="train/loss"]',
        "el => Math.max(...el.uplot.data[1].filter(v => v != null))",
    )
    assert top > 5

    page.click("#overlay-picker summary")
    page.check(f'#overlay-choices input[value="{third}"]')
    page.wait_for_function(
        "document.querySelector('.chart[data-key=\"val/acc\"]').dataset.series === '3'"
    )
    page.wait_for_selector("body[data-charts-ready=true]")
    assert chart(tab, "train/loss")["series"] == "3"
    assert f"overlay={second}%2C{third}" in page.url or f"overlay={second},{third}" in page.url
    assert page.locator("#compare-link").is_visible()
    page.click("#overlay-picker summary")

    page.fill("#smoothing", "0.9")
    page.dispatch_event("#smoothing", "input")
    assert chart(tab, "train/loss")["lines"] == "6"  # raw + smoothed per run

    page.check("#log-scale")
    distr = page.eval_on_selector('.chart[data-key="train/loss"]', "el => el.uplot.scales.y.distr")
    assert distr == 3

    page.select_option("#x-axis", "relative")
    page.wait_for_function(
        "document.querySelector('.chart[data-key=\"train/loss\"]').dataset.xAxis === 'relative'"
    )

    page.select_option("#x-axis", "step")
    page.wait_for_function(
        "document.querySelector('.chart[data-key=\"train/loss\"]').dataset.xAxis === 'step'"
    )
    over = page.locator('.chart[data-key="train/loss"] .u-over')
    box = over.bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.60, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.63, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "document.querySelector('.chart[data-key=\"train/loss\"]').dataset.zoomed !== ''"
    )
    page.wait_for_function(
        "!document.querySelector('.chart[data-key=\"train/loss\"]').dataset.loading"
    )
    zoomed = chart(tab, "train/loss")
    low, high = (float(v) for v in zoomed["zoomed"].split(","))
    assert 11_000 < low < high < 13_500
    in_window = int(zoomed["inWindow"])
    assert in_window < 3 * POINTS
    # the window comes at full resolution when it fits the chart's pixels
    if high - low <= int(zoomed["pointsRequested"]):
        assert int(zoomed["returned"]) == in_window
    assert page.locator("#reset-zoom").is_enabled()
    SCREENS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENS / "run_zoomed.png"), full_page=True)
    page.click("#reset-zoom")
    page.wait_for_function(
        "document.querySelector('.chart[data-key=\"train/loss\"]').dataset.zoomed === ''"
    )
    assert chart(tab, "train/loss")["inWindow"] == str(3 * POINTS)
    assert tab.errors == []


def test_config_search_output_and_compare_with(home: Path, server: str, tab: BrowserPage) -> None:
    main, other = make_runs(2)
    page = tab.page
    ready(tab, f"{server}/runs/{main}")
    page.wait_for_function("document.getElementById('output').textContent.includes('run 0 done')")
    assert chart(tab, "train/loss")["series"] == "1"
    assert not page.locator("#run-legend").is_visible()
    assert page.locator("#config tr:visible").count() == 3
    page.fill("#config-search", "adam")
    assert page.locator("#config tr:visible").count() == 1
    assert page.locator("#config-count").inner_text() == "1 of 3 keys"
    SCREENS.mkdir(exist_ok=True)
    page.fill("#config-search", "")
    page.screenshot(path=str(SCREENS / "run.png"), full_page=True)
    page.select_option("#compare-with", other)
    page.wait_for_url(f"**/compare?runs={main},{other}")
    page.wait_for_selector("body[data-charts-ready=true]")
    assert page.locator("#compare-runs tbody tr").count() == 2
    assert tab.errors == []


def test_unknown_overlay_id_is_said_not_thrown(home: Path, server: str, tab: BrowserPage) -> None:
    (main,) = make_runs(1)
    ready(tab, f"{server}/runs/{main}?overlay=doesnotexist")
    assert chart(tab, "train/loss")["series"] == "1"
    page = tab.page
    page.click("#overlay-picker summary")
    page.fill("#overlay-id", "nope")
    page.click("#overlay-add button")
    page.wait_for_selector("#overlay-error:visible")
    assert "nope" in page.locator("#overlay-error").inner_text()
    # the fetch of the unknown run logs a 404 in the console; nothing else may go wrong
    assert all("404" in e for e in tab.errors), tab.errors
