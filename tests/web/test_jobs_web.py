"""The jobs page and its API against a real server: the queue in claim order, running jobs with
live progress from a real agent, cancel and retry through the page (confirm dialog) and the
API, clear 4xx errors, and a viewer who sees no buttons and is refused the POSTs."""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daybreak.access import tokens, users
from daybreak.jobs import service, spec
from daybreak.store.engine import get_database
from tests.jobs.conftest import RunningAgent, wait_for
from tests.web.conftest import BrowserPage
from tests.web.test_access_browser import PASSWORD, sign_in

SCREENS = Path("/tmp/screens")
SLOW = """
import time, daybreak
run = daybreak.init(project="nightly", system_metrics=False)
steps = daybreak.jobs.job_config()["steps"]
for step in range(steps):
    run.log({"train/loss": 2.0 / (1 + step * 0.05)}, step=step)
    time.sleep(0.02)
run.finish()
"""


@pytest.fixture
def folder(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    found = tmp_path / "project"
    found.mkdir()
    monkeypatch.chdir(found)
    (found / "slow.py").write_text(textwrap.dedent(SLOW))
    (found / "broken.py").write_text("raise SystemExit(3)\n")
    (found / "quick.py").write_text("print('hi')\n")
    return found


@pytest.fixture
def agent(settings: Any) -> Iterator[RunningAgent]:
    running = RunningAgent(settings, slots=2)
    yield running
    running.stop()
    for job in service.list_jobs(settings, status="running"):  # leave no process behind
        if job.pid:
            with contextlib.suppress(OSError):
                os.killpg(job.pid, signal.SIGKILL)


def submit(settings: Any, folder: Path, script: str, **options: Any) -> service.JobRecord:
    return service.submit(settings, spec.build(str(folder / script), **options))[0]


def test_the_queue_api_cancel_retry_and_errors(settings: Any, folder: Path, server: str) -> None:
    low = submit(settings, folder, "quick.py", name="low", env={"SECRET_TOKEN": "hunter2"})
    first = submit(settings, folder, "quick.py", name="first", priority=5, gpus=1)
    second = submit(settings, folder, "quick.py", name="second", priority=5, cpus=3)
    board = httpx.get(f"{server}/api/jobs").json()
    assert [j["name"] for j in board["queued"]] == ["first", "second", "low"]
    assert [j["position"] for j in board["queued"]] == [1, 2, 3]
    assert (board["queued"][0]["slots"], board["queued"][0]["slot_kind"]) == (1, "GPU")
    assert (board["queued"][1]["slots"], board["queued"][1]["slot_kind"]) == (3, "CPU")
    assert board["running"] == [] and board["ended"] == []

    shown = httpx.get(f"{server}/api/jobs/{low.id}")
    assert shown.status_code == 200 and shown.json()["spec"]["env"] == ["SECRET_TOKEN"]
    assert "hunter2" not in shown.text and "hunter2" not in httpx.get(f"{server}/api/jobs").text
    assert [e["kind"] for e in shown.json()["events"]] == ["submitted"]

    cancelled = httpx.post(f"{server}/api/jobs/{second.id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = httpx.post(f"{server}/api/jobs/{second.id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]
    retried = httpx.post(f"{server}/api/jobs/{second.id}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    refused = httpx.post(f"{server}/api/jobs/{first.id}/retry")
    assert refused.status_code == 409 and refused.json()["error"]["hint"]

    page = httpx.get(f"{server}/jobs/{low.id}")
    assert page.status_code == 200 and "submitted" in page.text and "hunter2" not in page.text
    missing = httpx.get(f"{server}/jobs/jnothere", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "no job" in missing.text
    for method, path, status in [
        ("GET", "/api/jobs/jnothere", 404),
        ("POST", "/api/jobs/jnothere/cancel", 404),
        ("POST", "/api/jobs/jnothere/retry", 404),
        ("GET", "/api/jobs?recent=0", 400),
        ("GET", "/api/jobs?recent=many", 422),
    ]:
        answer = httpx.request(method, server + path)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["error"]["message"]


@pytest.mark.browser
def test_the_jobs_page_shows_progress_and_cancels_and_retries(
    settings: Any, folder: Path, server: str, tab: BrowserPage, agent: RunningAgent
) -> None:
    broken = submit(settings, folder, "broken.py", name="broken", retries=0)
    wait_for(settings, broken.id, ("failed",))
    slow = submit(settings, folder, "slow.py", name="slow", config={"steps": 5000})
    page = tab.page
    page.goto(f"{server}/jobs")
    row = f'#running tr[data-job="{slow.id}"]'
    page.wait_for_selector(f"{row} td.progress[data-step]", timeout=30_000)
    page.wait_for_function(f"Number(document.querySelector('{row} svg.spark').dataset.points) >= 2")
    assert "/ 5000" in page.locator(f"{row} td.progress").inner_text()
    assert page.locator(f"{row} a[href='/runs/{slow.run_id}']").count() == 1
    failed = page.locator(f'#ended tr[data-job="{broken.id}"]')
    assert failed.get_attribute("data-status") == "failed" and "exit code 3" in failed.inner_text()
    queued = submit(settings, folder, "quick.py", name="waits", gpus=1)  # no GPU: it fails
    page.wait_for_selector(f'#ended tr[data-job="{queued.id}"]')
    page.screenshot(path=str(SCREENS / "jobs.png"), full_page=True)

    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.click(f'{row} button[data-action="cancel"]')
    page.wait_for_selector(f'#ended tr[data-job="{slow.id}"][data-status="cancelled"]')
    assert "Cancel job" in questions[0]
    page.click(f'#ended tr[data-job="{slow.id}"] button[data-action="retry"]')
    page.wait_for_selector(f'#running tr[data-job="{slow.id}"], #queued tr[data-job="{slow.id}"]')
    assert "Retry job" in questions[1]
    # the page's own poll can show the row before the POST's answer reaches the flash
    page.wait_for_function("document.getElementById('jobs-flash').textContent.startsWith('Retry')")
    assert "is now queued" in page.locator("#jobs-flash").inner_text()
    page.screenshot(path=str(SCREENS / "jobs_after_retry.png"), full_page=True)
    service.cancel(settings, slow.id)
    assert tab.errors == []


@pytest.mark.browser
def test_a_viewer_sees_no_buttons_and_is_refused(
    settings: Any, folder: Path, server: str, tab: BrowserPage
) -> None:
    db = get_database(settings.db_url)
    users.add_user(db, "vi", "viewer", PASSWORD)
    users.add_user(db, "mo", "member", PASSWORD)
    viewer = tokens.create_token(db, "api", "vi").secret
    member = tokens.create_token(db, "api", "mo").secret
    job = submit(settings, folder, "quick.py", name="waiting")
    done = submit(settings, folder, "quick.py", name="stopped")
    service.cancel(settings, done.id)

    for action, target in (("cancel", job.id), ("retry", done.id)):
        refused = httpx.post(
            f"{server}/api/jobs/{target}/{action}", headers={"Authorization": f"Bearer {viewer}"}
        )
        assert refused.status_code == 403 and refused.json()["error"]["message"]
    assert service.get(settings, job.id).status == "queued"
    allowed = httpx.post(
        f"{server}/api/jobs/{done.id}/retry", headers={"Authorization": f"Bearer {member}"}
    )
    assert allowed.status_code == 200 and allowed.json()["status"] == "queued"
    service.cancel(settings, done.id)

    sign_in(tab, server, "/jobs", "vi")
    page = tab.page
    page.wait_for_selector(f'#queued tr[data-job="{job.id}"]')
    page.wait_for_selector(f'#ended tr[data-job="{done.id}"]')
    assert page.locator("button[data-action]").count() == 0
    page.screenshot(path=str(SCREENS / "jobs_viewer.png"), full_page=True)
    assert tab.errors == []
