"""The registry on the web: models by category, a model's versions and aliases, a version's
exports compared and its card, in a real Chromium against a real server; the same as JSON."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from daybreak.registry import aliases, service
from tests.registry.conftest import train_classifier
from tests.web.conftest import BrowserPage

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
SCREENSHOT = Path("/tmp/model_version_page.png")


@pytest.fixture
def converted(settings):
    from daybreak.convert.pipeline import convert_version

    version = service.register_run(
        settings, train_classifier(settings), "shapes-cnn", "classification"
    )
    aliases.set_alias(settings, version.ref, "production", "the first that works", by="ana")
    service.set_card_field(settings, version.ref, "known issues", "<script>alert(1)</script> bars")
    return convert_version(settings, version.ref, "server-cpu", runs=5, max_seconds=0.2)


@pytest.mark.browser
def test_the_model_pages_in_a_browser(converted, server: str, tab: BrowserPage) -> None:
    page = tab.page
    page.goto(f"{server}/models")
    assert page.locator('table.models[data-category="classification"] tbody tr').count() == 1
    page.click("text=shapes-cnn")
    assert page.locator("#versions tbody tr").count() == 1
    assert "the first that works" in page.locator("#alias-history").inner_text()
    page.click("#versions >> text=v1")
    rows = page.locator('table.exports[data-target="server-cpu"] tbody tr')
    assert rows.count() == len(converted.exports) == 4
    starred = page.locator("tr.recommended")
    assert starred.count() == 1 and converted.report.recommended in starred.inner_text()
    card = page.locator("#model-card")
    assert card.locator("h3", has_text="Overview").count() == 1
    assert card.locator("script").count() == 0 and "<script>" in card.inner_text()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.goto(f"{server}/models/shapes-cnn/production")
    assert page.locator("h1").inner_text().startswith("shapes-cnn@1")
    assert tab.errors == []


def test_the_model_api_and_errors(converted, server: str) -> None:
    listed = httpx.get(f"{server}/api/models", params={"category": "classification"}).json()
    assert [m["name"] for m in listed] == ["shapes-cnn"] and listed[0]["aliases"] == {
        "production": 1
    }
    model = httpx.get(f"{server}/api/models/shapes-cnn").json()
    assert [v["version"] for v in model["versions"]] == [1]
    assert model["alias_history"][0]["note"] == "the first that works"
    version = httpx.get(f"{server}/api/models/shapes-cnn/versions/production").json()
    assert [e["id"] for e in version["exports"]] == [e.id for e in converted.exports]
    missing = httpx.get(f"{server}/api/models/shapes-cnn/versions/7")
    assert missing.status_code == 404 and "no version 7" in missing.json()["error"]["message"]
    page = httpx.get(f"{server}/models/nobody", headers={"accept": "text/html"})
    assert page.status_code == 404 and "nobody" in page.text and "Traceback" not in page.text
