"""Signing in through the form in a real Chromium: the pages work, fetches carry the CSRF
token, a viewer is refused a change, and signing out ends the session."""

from __future__ import annotations

from pathlib import Path

import pytest

import daybreak
from daybreak.access import users
from daybreak.config import Settings
from daybreak.store.engine import get_database
from tests.web.conftest import BrowserPage

pytestmark = pytest.mark.browser
SCREENSHOTS = Path("/tmp")
PASSWORD = "correct horse battery"
POST_NOTE = """async (runId) => {
  const answer = await fetch(`/api/runs/${runId}/notes`, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({body: "from the browser"}),
  });
  return answer.status;
}"""


def sign_in(tab: BrowserPage, server: str, path: str, name: str) -> None:
    page = tab.page
    page.goto(f"{server}{path}")
    page.wait_for_selector("input[name=password]")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click(".login-form button[type=submit]")
    page.wait_for_url(f"{server}{path}")


def test_sign_in_through_the_form(settings: Settings, server: str, tab: BrowserPage) -> None:
    run = daybreak.init(project="vision", name="signed", system_metrics=False)
    run.log({"loss": 1.0}, step=0)
    run.finish()
    db = get_database(settings.db_url)
    users.add_user(db, "mo", "member", PASSWORD)
    users.add_user(db, "vi", "viewer", PASSWORD)

    page = tab.page
    page.goto(f"{server}/runs/{run.id}")
    assert "/login" in page.url
    page.screenshot(path=str(SCREENSHOTS / "login_page.png"))
    sign_in(tab, server, f"/runs/{run.id}", "mo")
    page.wait_for_selector("body[data-charts-ready=true]")
    assert "mo · member" in page.locator(".whoami").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "signed_in.png"))
    assert page.evaluate(POST_NOTE, run.id) == 201  # daybreak.js adds the CSRF header
    for path in ("/", "/projects/vision", "/models", "/dailylog"):
        page.goto(f"{server}{path}")
        assert "/login" not in page.url
    assert tab.errors == []

    page.click(".whoami button")
    page.wait_for_selector("input[name=password]")
    assert "You are signed out" in page.content()
    page.goto(f"{server}/")
    assert "/login" in page.url

    sign_in(tab, server, "/", "vi")
    assert page.evaluate(POST_NOTE, run.id) == 403
