"""The compare page: charts of the union of keys with one line per run, config differences
with a toggle, summary metrics with the best run marked; bad input as clear pages."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

import daybreak
from daybreak.tracking.compare import config_rows, summary_rows
from daybreak.tracking.records import KeyStats, RunRecord
from tests.web.conftest import BrowserPage

SCREENS = Path("/tmp/screens")


def three_runs() -> list[str]:
    ids = []
    for n, (lr, opt) in enumerate([(0.1, "sgd"), (0.01, "adam"), (0.001, "adam")]):
        run = daybreak.init(
            project="cmp",
            name=f"run-{n}",
            config={"lr": lr, "opt": {"name": opt}, "batch": 32},
            system_metrics=False,
            capture_output=False,
        )
        for i in range(300):
            run.log({"loss": (n + 1) / (i + 1), "acc": 1 - (n + 1) / (i + 2)}, step=i)
        if n == 2:
            run.log({"only/third": 1.0}, step=0)
        run.summary["best_acc"] = 0.9 - n / 10
        run.finish()
        ids.append(run.id)
    return ids


def test_config_and_summary_rows() -> None:
    a = RunRecord(id="a", project="p", name="a", config={"lr": 0.1, "opt": {"name": "sgd"}})
    b = RunRecord(id="b", project="p", name="b", config={"lr": 0.1, "extra": True})
    rows = {r.key: r for r in config_rows([a, b])}
    assert not rows["lr"].differs and rows["opt.name"].differs and rows["extra"].differs
    assert rows["extra"].values == [None, True]
    a.summary, b.summary = {"val_loss": 0.3, "acc": 0.7}, {"val_loss": 0.2, "acc": 0.8}
    index = [{"train/loss": KeyStats(count=1, last=0.5)}, {"sys/cpu": KeyStats(count=1, last=1)}]
    summary = {r.key: r for r in summary_rows([a, b], index)}
    assert summary["val_loss"].best == 1 and summary["val_loss"].lower_is_better
    assert summary["acc"].best == 1 and not summary["acc"].lower_is_better
    assert summary["train/loss"].values == [0.5, None] and summary["train/loss"].best is None
    assert "sys/cpu" not in summary


def test_compare_page_and_json(home: Path, server: str) -> None:
    ids = three_runs()
    page = httpx.get(f"{server}/compare", params={"runs": ",".join(ids)}).text
    assert page.count('<tr class="differs" data-key="lr">') == 1
    assert '<tr class="same" data-key="batch">' in page
    best = re.search(r'data-key="best_acc".*?</tr>', page, re.S)
    assert (
        best
        and best.group(0).count(' best"') == 1
        and 'class=" best" data-run="0"' in best.group(0)
    )
    body = httpx.get(f"{server}/api/compare", params={"runs": ",".join(ids)}).json()
    assert body["keys"] == ["acc", "loss", "only/third"]
    assert [r["id"] for r in body["runs"]] == ids
    loss = next(r for r in body["summary"] if r["key"] == "loss")
    assert loss["best"] == 0 and loss["lower_is_better"]


@pytest.mark.parametrize(
    ("runs", "status", "says"),
    [("", 400, "no runs to compare"), ("nope,alsonope", 404, "no run with id"),
     (",".join(f"r{i}" for i in range(13)), 400, "more than the 12")],
)  # fmt: skip
def test_bad_compare_requests(home: Path, server: str, runs: str, status: int, says: str) -> None:
    page = httpx.get(f"{server}/compare", params={"runs": runs}, headers={"accept": "text/html"})
    assert page.status_code == status and says in page.text and "Traceback" not in page.text
    api = httpx.get(f"{server}/api/compare", params={"runs": runs})
    assert api.status_code == status and says in api.json()["error"]["message"]


@pytest.mark.browser
def test_compare_in_a_browser(home: Path, server: str, tab: BrowserPage) -> None:
    ids = three_runs()
    page = tab.page
    page.goto(f"{server}/compare?runs={','.join(ids)}")
    page.wait_for_selector("body[data-charts-ready=true]")
    charts = page.locator(".chart")
    assert charts.count() == 3
    for key, drawn in (("loss", "3"), ("acc", "3"), ("only/third", "1")):
        state = page.eval_on_selector(f'.chart[data-key="{key}"]', "el => ({...el.dataset})")
        assert state["series"] == drawn, key
        assert page.locator(f'.chart[data-key="{key}"] .uplot canvas').count() == 1
    assert page.locator("#run-legend li").count() == 3
    colours = page.eval_on_selector_all(
        "#run-legend .swatch", "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert len(set(colours)) == 3
    assert page.locator("#config-table tbody tr:visible").count() == 3
    page.check("#only-differences")
    assert page.locator("#config-table tbody tr:visible").count() == 2
    assert page.locator("#summary-table td.best").count() >= 3
    page.fill("#smoothing", "0.8")
    page.dispatch_event("#smoothing", "input")
    assert page.eval_on_selector('.chart[data-key="loss"]', "el => el.dataset.lines") == "6"
    SCREENS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENS / "compare.png"), full_page=True)
    assert tab.errors == []
