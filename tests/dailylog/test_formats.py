"""Every format renders and parses: JSON, Slack Block Kit within Slack's limits, a Teams
Adaptive Card, standalone HTML with inline SVG charts and nothing fetched, Markdown, text."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from daybreak.dailylog import build, render, render_html
from daybreak.dailylog.charts import sparkline, svg
from daybreak.dailylog.formats import slack_payload, teams_payload, webhook_body
from daybreak.dailylog.series import chart
from daybreak.errors import ConfigError
from daybreak.store.engine import get_database
from daybreak.tracking.points import History
from daybreak.watchdog import Finding
from daybreak.watchdog.store import record_findings
from tests.dailylog.conftest import END, START, curve, make_run


@pytest.fixture
def log(settings, night):
    night()
    return build(settings, until=END)


@pytest.fixture
def big_log(settings):
    """A bad night: 80 runs, each with a problem, and long messages."""
    db = get_database(settings.db_url)
    for i in range(80):
        steps, stamps, values = curve(300, START + 100 + i, 1.0, seed=i)
        run_id = make_run(
            settings, f"bad{i:04d}", {"train/loss": (steps, stamps, values)}, project=f"p{i % 7}"
        )
        finding = Finding(
            "nan",
            "critical",
            200,
            "loss became NaN " + "x" * 400,
            "lower the LR " * 30,
            {"key": "train/loss"},
        )
        record_findings(db, run_id, [finding], now=START + 1000 + i)
    return build(settings, until=END)


def test_json_is_the_stored_log(log):
    loaded = json.loads(render(log, "json"))
    assert loaded["id"] == log["id"] and loaded["headline"] == log["headline"]
    assert loaded["content"]["counts"] == log["content"]["counts"]


@pytest.mark.parametrize("which", ["log", "big_log"])
def test_slack_payload_has_blocks_and_text_within_limits(request, which):
    one = request.getfixturevalue(which)
    if True:
        payload = json.loads(render(one, "slack"))
        assert payload["text"] and one["headline"] in payload["text"]
        blocks = payload["blocks"]
        assert 2 < len(blocks) <= 50
        assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
        for block in blocks:
            assert block["type"] in {"header", "section", "context", "divider"}
            if block["type"] == "section":
                assert len(block.get("text", {}).get("text", "")) <= 3000
                assert len(block.get("fields", [])) <= 10
                assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    if which == "big_log":  # cut to 50 blocks, saying where the rest is
        assert "`daybreak dailylog show" in json.dumps(slack_payload(one))


@pytest.mark.parametrize("which", ["log", "big_log"])
def test_teams_payload_is_an_adaptive_card_in_a_message(request, which):
    one = request.getfixturevalue(which)
    if True:
        payload = json.loads(render(one, "teams"))
        assert payload["type"] == "message" and payload["summary"]
        (attachment,) = payload["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
        assert card["fallbackText"] and card["body"][1]["text"] == one["headline"]
        assert len(json.dumps(payload).encode()) <= 28_000
    kinds = {b["type"] for b in teams_payload(one)["attachments"][0]["content"]["body"]}
    assert kinds == {"TextBlock", "FactSet", "Container"}


def test_html_is_one_file_with_inline_charts(log):
    page = render(log, "html")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") >= 2 and "<polyline" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    fragment = render_html(log, standalone=False)
    assert fragment.startswith("<style>") and "<html" not in fragment and "<svg" in fragment


def test_markdown_and_text_say_the_same_things(log):
    for fmt in ("markdown", "text"):
        out = render(log, fmt)
        for needed in ("resnet-lr1", "divergence", "restarted", "vit-long", "ETA", "val/pck"):
            assert needed in out, (fmt, needed)


def test_user_text_cannot_break_a_format(settings):
    make_run(
        settings,
        "weird",
        {"loss": (np.arange(3), START + np.arange(3.0), np.array([1.0, 0.5, 0.2]))},
        name='<script>alert("x")</script> *bold* & [link](http://evil)',
    )
    log = build(settings, until=END)
    assert "<script>" not in render(log, "html")
    assert "&lt;script&gt;" in json.dumps(slack_payload(log))
    assert "\\[link\\]" in render(log, "markdown")


def test_unknown_formats_are_refused(log):
    with pytest.raises(ConfigError, match="pdf"):
        render(log, "pdf")
    with pytest.raises(ConfigError):
        webhook_body(log, "html")


def test_charts_keep_extremes_and_show_gaps():
    n = 100_000
    values = np.linspace(1, 0, n)
    values[51_234] = 50.0  # one spike
    values[70_000] = np.nan
    data = chart(History("loss", np.arange(n), np.arange(n, dtype=float), values))
    assert data is not None and len(data["steps"]) <= 130
    assert 50.0 in data["values"] and None in data["values"]
    drawn = svg(data)
    assert drawn.startswith("<svg") and drawn.count("<polyline") == 2  # split at the NaN
    assert " " in sparkline(data, 200) and len(sparkline(data)) == 24
    assert svg({"key": "x", "steps": [0, 1], "values": [None, None], "marker": None}) == ""
