"""The kiosk on a real server with a real registry: its screens' JSON, the live demo through
the serving layer (a real classifier and pose net served from their ONNX exports), and bad
input; in a real Chromium: it rotates, draws the demo's answers, and says what is wrong with
a file that is not a photo. Screenshots land in /tmp/screens/kiosk-*.png."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daybreak.config import Settings, get_settings
from tests.conftest import free_port
from tests.web.conftest import BrowserPage

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

SCREENS = Path("/tmp/screens")


def _registry(settings: Settings) -> None:
    """Two classifier versions (v2 on show), a pose net on show, an imported model without
    metrics, a run still training and a Daily Log."""
    import daybreak
    from daybreak import dailylog
    from daybreak.convert.pipeline import convert_version
    from daybreak.registry import service
    from daybreak.registry.aliases import set_alias
    from daybreak.zoo import pose
    from tests.registry.conftest import train_classifier
    from tests.serve.conftest import tiny_onnx

    run = train_classifier(settings)
    service.register_run(settings, run, "shapes", "classification", step=9)
    service.register_run(settings, run, "shapes", "classification", step=19)
    convert_version(settings, "shapes@2", "server-cpu", runs=5, max_seconds=0.2)
    set_alias(settings, "shapes@2", "demo")
    set_alias(settings, "shapes@1", "production")
    dataset = pose.prepare(settings, count=60)
    posed = pose.train(
        steps=10, batch=16, eval_every=10, checkpoint_every=10, dataset=dataset, width=8
    )
    service.register_run(settings, posed, "poser", "pose")
    convert_version(settings, "poser@1", "server-cpu", runs=5, max_seconds=0.2)
    set_alias(settings, "poser@1", "demo")
    source = tiny_onnx(settings.home / "net.onnx")
    service.register_onnx(settings, source, "imported", "classification", ["a", "b", "c"])
    live = daybreak.init(project="vision", name="live-run", system_metrics=False)
    for step in range(60):
        live.log({"train/loss": 2.0 / (step + 1)}, step=step)
        if step % 10 == 0:
            live.log({"val/loss": 2.5 / (step + 1)}, step=step)
    live.flush()
    dailylog.build(settings, until=time.time() + 1)


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server over one registry for the module (training and converting take seconds)."""
    from daybreak.stack import ServerThread

    root = tmp_path_factory.mktemp("kiosk")
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("DAYBREAK_") and name != "DAYBREAK_TEST_DB":
                patch.delenv(name)
        patch.setenv("DAYBREAK_HOME", str(home))
        patch.setenv("DAYBREAK_DB", f"sqlite:///{home / 'daybreak.db'}")
        patch.setenv("XDG_CONFIG_HOME", str(root / "xdg"))
        patch.setenv("DAYBREAK_CAPTURE_OUTPUT", "false")
        patch.chdir(root)
        settings = get_settings()
        _registry(settings)
        thread = ServerThread(settings, "127.0.0.1", free_port()).start()
        yield {"url": thread.url, "settings": settings}
        thread.stop()
        from daybreak.tracking.hooks import active_runs

        for run in active_runs():  # the live run the training screen showed
            run.finish("stopped", timeout=5)


def png(size: tuple[int, int] = (96, 64)) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (20, 20, 20))
    ImageDraw.Draw(image).ellipse((20, 10, 70, 55), fill=(240, 240, 240))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_screens_json(kiosk: dict[str, Any]) -> None:
    url = kiosk["url"]
    progress = httpx.get(f"{url}/api/kiosk/progress").json()
    shapes = next(c for c in progress if c["category"] == "classification")
    assert shapes["metric"] == "val/acc" and shapes["goal"] == "max"
    points = shapes["models"][0]["points"]
    assert [p["version"] for p in points] == [1, 2]
    assert points[1]["best"] == max(p["value"] for p in points)
    board = httpx.get(f"{url}/api/kiosk/leaderboard").json()
    ranked = next(c for c in board if c["category"] == "classification")["models"]
    assert [m["model"] for m in ranked] == ["shapes", "imported"]  # no figure: last
    assert ranked[0]["aliases"] == {"demo": 2, "production": 1} and ranked[1]["best"] is None
    training = httpx.get(f"{url}/api/kiosk/training").json()
    live = next(r for r in training["runs"] if r["name"] == "live-run")
    assert [c["key"] for c in live["curves"]] == ["train/loss", "val/loss"]
    assert len(live["curves"][0]["steps"]) == 60
    log = httpx.get(f"{url}/api/kiosk/dailylog").json()["log"]
    assert log["headline"] and {g["label"] for g in log["glance"]} >= {"Finished", "Failed"}
    shown = httpx.get(f"{url}/api/kiosk/demo").json()
    assert [(m["name"], m["ref"]) for m in shown["models"]] == [
        ("shapes", "shapes@demo"),
        ("poser", "poser@demo"),
    ]
    assert shown["models"][1]["drawing"]["skeleton"]


def test_the_demo_predicts_through_the_serving_layer(kiosk: dict[str, Any]) -> None:
    url = kiosk["url"]
    photo = {"Content-Type": "image/png"}
    answer = httpx.post(f"{url}/api/kiosk/predict/shapes", content=png(), headers=photo)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ref"] == "shapes@2" and len(body["predictions"][0]["probabilities"]) == 4
    posed = httpx.post(
        f"{url}/api/kiosk/predict/poser", files={"file": ("me.png", png(), "image/png")}
    ).json()
    assert len(posed["predictions"][0]["keypoints"]) == 14


@pytest.mark.parametrize(
    ("model", "content", "kind", "status"),
    [
        ("shapes", b"hello", "text/plain", 415),
        ("shapes", b"{}", "application/json", 415),
        ("shapes", b"not an image at all", "image/png", 422),
        ("shapes", b"", "image/png", 400),
        ("shapes", b"\0" * (9 * 1024 * 1024), "image/png", 413),
        ("imported", png(), "image/png", 404),  # not on show
        ("nobody", png(), "image/png", 404),
    ],
)
def test_bad_photos_get_clear_json_errors(
    kiosk: dict[str, Any], model: str, content: bytes, kind: str, status: int
) -> None:
    answer = httpx.post(
        f"{kiosk['url']}/api/kiosk/predict/{model}", content=content, headers={"Content-Type": kind}
    )
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["message"] and error["hint"] and error["type"]


def test_the_page_takes_odd_parameters(kiosk: dict[str, Any]) -> None:
    url = kiosk["url"]
    page = httpx.get(f"{url}/kiosk", params={"interval": "soon", "screens": "nope,demo,demo"})
    assert page.status_code == 200
    assert '"screens": ["demo"]' in page.text and '"interval": 20.0' in page.text
    assert 'class="topbar"' not in page.text  # no page chrome
    missing = httpx.get(f"{url}/kiosk/elsewhere", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "Traceback" not in missing.text


# -- in Chromium -----------------------------------------------------------------------------


def shot(tab: BrowserPage, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENS / f"kiosk-{name}.png"))


@pytest.mark.browser
def test_the_kiosk_rotates_through_its_screens(kiosk: dict[str, Any], tab: BrowserPage) -> None:
    page = tab.page
    page.set_viewport_size({"width": 1600, "height": 900})
    screens = ["progress", "training", "dailylog", "leaderboard"]
    page.goto(f"{kiosk['url']}/kiosk?interval=1.2&screens={','.join(screens)}")
    for name in screens:
        page.wait_for_selector(f"body[data-current={name}]")
        section = page.locator(f".k-screen[data-screen={name}]")
        section.locator(".k-card, .k-headline").first.wait_for()
        page.wait_for_timeout(150)
        shot(tab, name)
    assert page.locator(".k-screen[data-screen=progress] canvas").count() >= 1
    page.wait_for_selector("body[data-current=progress]")  # and round again
    assert int(page.evaluate("document.body.dataset.changes")) >= 5
    assert tab.errors == []


@pytest.mark.browser
def test_the_live_demo_draws_a_served_answer(
    kiosk: dict[str, Any], tab: BrowserPage, tmp_path: Path
) -> None:
    page = tab.page
    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(f"{kiosk['url']}/kiosk?screen=demo&interval=0")
    page.wait_for_selector("button[data-model=shapes][aria-pressed=true]")
    photo = tmp_path / "photo.png"
    photo.write_bytes(png((640, 480)))
    page.set_input_files("#k-file", str(photo))
    page.wait_for_selector("#k-result[data-state=done]")
    result = page.locator("#k-result")
    assert result.get_attribute("data-probabilities") == "4"
    assert result.get_attribute("data-label") in {"square", "cross", "ring", "bar"}
    assert result.get_attribute("data-drawn") == "true"
    assert page.locator("#k-bars li").count() == 4
    assert page.evaluate(DRAWN_PIXELS) > 0
    shot(tab, "demo-classifier")

    page.click("button[data-model=poser]")
    page.set_input_files("#k-file", str(photo))
    page.wait_for_selector("#k-result[data-model=poser][data-keypoints='14'][data-state=done]")
    shot(tab, "demo-pose")

    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    page.set_input_files("#k-file", str(text))
    page.wait_for_selector("#k-result[data-state=error]")
    assert page.locator("#k-result").get_attribute("data-status") == "415"
    assert "not a photo" in page.locator("#k-message").inner_text()
    shot(tab, "demo-wrong-type")
    assert [e for e in tab.errors if "Failed to load resource" not in e] == []


DRAWN_PIXELS = """() => {
  const canvas = document.getElementById("k-canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 300) lit++;
  return lit;
}"""


WRITE = """async ([path, body]) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const answer = await fetch(path, {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify(body),
  });
  return answer.status;
}"""


@pytest.mark.browser
def test_a_kiosk_token_opens_it_without_a_login_and_changes_nothing(
    settings: Settings, server: str, tab: BrowserPage
) -> None:
    import daybreak
    from daybreak.access import tokens, users
    from daybreak.store.engine import get_database

    db = get_database(settings.db_url)
    users.add_user(db, "ada", "admin", "correct horse battery")  # no longer open
    run = daybreak.init(project="vision", name="done", system_metrics=False)
    run.finish()
    secret = tokens.create_token(db, "kiosk", name="hall").secret
    page = tab.page
    page.goto(f"{server}/kiosk?token={secret}&interval=0.4&screens=training,dailylog")
    page.wait_for_selector("body[data-current=dailylog]")
    assert "token=" not in page.url and page.locator("input[type=password]").count() == 0
    assert page.evaluate(WRITE, [f"/api/runs/{run.id}/notes", {"body": "hi"}]) == 403
    assert page.evaluate(WRITE, ["/api/kiosk/predict/nobody", {}]) == 404  # let through
    shot(tab, "token")
    assert [e for e in tab.errors if "Failed to load resource" not in e] == []

    stale = tokens.create_token(db, "kiosk", name="old", expires_in=1, now=time.time() - 60)
    refused = httpx.get(f"{server}/kiosk", params={"token": stale.secret})
    assert refused.status_code == 401 and "password" not in refused.text
    assert "Traceback" not in refused.text
