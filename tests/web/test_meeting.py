"""The Daily Log's meeting view in a real Chromium: the agenda one section at a time, and
action items opened, assigned and resolved from the page; the action-items API's errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from daybreak.dailylog.formats.outline import outline
from daybreak.notes import service as notes
from daybreak.store.engine import get_database
from tests.web.conftest import BrowserPage
from tests.web.test_dailylog_web import _night

SCREENSHOT = Path("/tmp/screens/meeting.png")


@pytest.mark.browser
def test_stepping_through_the_meeting_and_closing_items(settings, server, tab: BrowserPage):
    db = get_database(settings.db_url)
    carried = notes.add_action_item(db, "look into the divergence", owner="")
    log = _night(settings)
    sections = len(outline(log).sections)
    page = tab.page
    page.goto(f"{server}/dailylog/{log['id']}/meeting")
    meeting = page.locator("#meeting")
    page.wait_for_selector("#meeting[data-open-items='1']")
    # the overview, then each section, the log's action items replaced by the live ones
    assert meeting.get_attribute("data-slides") == str(sections + 1)
    assert page.locator("#agenda button", has_text="Action items").count() == 1
    assert page.locator(".stage section:not(.slide-hidden)").count() == 1
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.keyboard.press("ArrowRight")
    assert meeting.get_attribute("data-current") == "1"
    assert (
        page.locator(".stage section:not(.slide-hidden) h2").first.inner_text()
        == outline(log).sections[0].title
    )
    page.keyboard.press("ArrowRight")
    page.screenshot(path=str(SCREENSHOT.with_name("meeting-problems.png")))
    page.keyboard.press("End")
    row = page.locator(f"#items li[data-id='{carried}']")
    row.locator("form.assign input").fill("ana")
    row.locator("form.assign button").click()
    page.wait_for_function(
        "() => document.querySelector('#items li .title').textContent.includes('ana')"
    )
    page.locator("#new-item input[name=title]").fill("retrain with clipping")
    page.locator("#new-item button").click()
    page.wait_for_selector("#meeting[data-open-items='2']")
    row = page.locator(f"#items li[data-id='{carried}']")
    row.locator("form.resolve input").fill("lr halved, converges now")
    row.locator("form.resolve button").click()
    page.wait_for_selector("#meeting[data-open-items='1']")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert tab.errors == []

    done = notes.get_action_item(db, carried)
    assert done["status"] == "resolved" and done["owner"] == "ana"
    assert done["resolution"] == "lr halved, converges now"
    [new] = notes.list_action_items(db)
    assert new["title"] == "retrain with clipping"


def test_the_action_items_api_refuses_bad_requests(settings, server):
    created = httpx.post(f"{server}/api/action-items", json={"title": "check the crops"})
    assert created.status_code == 201
    item = created.json()["id"]
    blank = httpx.post(f"{server}/api/action-items/{item}/resolve", json={"note": ""})
    assert blank.status_code == 422 and "note" in blank.json()["error"]["message"]
    ok = httpx.post(f"{server}/api/action-items/{item}/resolve", json={"note": "done"})
    assert ok.status_code == 200 and ok.json()["status"] == "resolved"
    again = httpx.post(f"{server}/api/action-items/{item}/resolve", json={"note": "twice"})
    assert again.status_code == 409 and "already resolved" in again.json()["error"]["message"]
    missing = httpx.post(f"{server}/api/action-items/999/assign", json={"owner": "bo"})
    assert missing.status_code == 404
    wrong = httpx.get(f"{server}/api/action-items", params={"status": "someday"})
    assert wrong.status_code == 422
    listed = httpx.get(f"{server}/api/action-items", params={"status": "all"}).json()
    assert [i["resolution"] for i in listed] == ["done"]
    page = httpx.get(f"{server}/dailylog/77/meeting", headers={"accept": "text/html"})
    assert page.status_code == 404 and "Traceback" not in page.text
