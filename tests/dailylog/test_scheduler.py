"""The scheduler thread: builds and delivers at the scheduled local time, retries what is
pending, and no error ever ends its loop."""

from __future__ import annotations

import time

from daybreak.config import get_settings
from daybreak.dailylog import DailyLogScheduler, list_logs
from daybreak.dailylog.deliver import Policy, list_deliveries
from daybreak.dailylog.webhooks import add_webhook
from tests.dailylog.conftest import END

FAST = Policy(timeout=0.5, tries=2, backoff=0.01, min_interval=0.0, round_backoff=0.0)


def test_a_tick_builds_and_delivers_the_log_once(settings, night, hook):
    night()
    add_webhook(settings, "team", hook.url, "slack")
    scheduler = DailyLogScheduler(settings, policy=FAST)
    assert scheduler.tick(now=END - 60)["window_end"] == END - 86_400  # yesterday's was missed
    built = scheduler.tick(now=END + 5)
    assert built is not None and built["window_end"] == END
    assert built["window_start"] == END - 86_400  # the next starts where the last ended
    assert scheduler.tick(now=END + 40) is None
    assert len(list_logs(settings)) == 2
    assert [d["status"] for d in list_deliveries(settings)] == ["sent", "sent"]
    assert hook.json()["text"].startswith("Daily Log")
    assert scheduler.errors == []


def test_pending_deliveries_are_retried_by_later_ticks(settings, night, hook):
    night()
    add_webhook(settings, "team", hook.url, "teams")
    hook.script = [(503, {}, 0.0), (503, {}, 0.0)]
    scheduler = DailyLogScheduler(settings, policy=FAST)
    scheduler.tick(now=END + 5)
    (pending,) = list_deliveries(settings)
    assert pending["status"] == "pending" and "HTTP 503" in pending["last_error"]
    scheduler.tick(now=END + 10)
    (sent,) = list_deliveries(settings)
    assert sent["status"] == "sent" and sent["attempts"] == 3


def test_nothing_raises_out_of_a_tick(home, monkeypatch, caplog):
    monkeypatch.setenv("DAYBREAK_TIMEZONE", "Nowhere/Atlantis")
    scheduler = DailyLogScheduler(get_settings(), policy=FAST)
    assert scheduler.tick(now=END) is None
    assert scheduler.tick(now=END + 30) is None
    assert "Nowhere/Atlantis" in scheduler.errors[-1] and len(scheduler.errors) == 2
    logged = [r for r in caplog.records if "Nowhere/Atlantis" in r.getMessage()]
    assert len(logged) == 1  # the same trouble is logged once, not every tick


def test_a_failing_webhook_does_not_stop_the_loop(settings, night):
    night()
    add_webhook(settings, "gone", "http://127.0.0.1:9/hook", "slack")
    scheduler = DailyLogScheduler(settings, policy=FAST)
    built = scheduler.tick(now=END + 5)
    assert built is not None and scheduler.errors == []
    (row,) = list_deliveries(settings)
    assert row["status"] == "pending" and "cannot connect" in row["last_error"]


def test_the_thread_starts_builds_and_stops(settings, hook):
    add_webhook(settings, "team", hook.url, "json")
    scheduler = DailyLogScheduler(settings, every=0.05, policy=FAST)
    scheduler.start()
    try:
        deadline = time.time() + 20
        while not hook.received and time.time() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    assert not scheduler.is_alive()
    (log,) = list_logs(settings)
    assert hook.json()["id"] == log["id"] and scheduler.built == [log["id"]]
