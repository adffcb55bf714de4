"""Delivery to a real HTTP server on 127.0.0.1: what arrives for each format, retries with
backoff, Retry-After, permanent 4xx failures, timeouts, closed ports, the rate limit."""

from __future__ import annotations

import json
import socket
import time

import pytest

from daybreak.dailylog import build
from daybreak.dailylog.deliver import Policy, deliver, list_deliveries, queue, send_pending
from daybreak.dailylog.webhooks import add_webhook, list_webhooks, remove_webhook, shown_url
from daybreak.errors import ConfigError, ConflictError, NotFoundError
from tests.dailylog.conftest import END

FAST = Policy(timeout=0.5, tries=3, backoff=0.05, max_wait=5.0, min_interval=0.0)


@pytest.fixture
def log(settings, night):
    night()
    return build(settings, until=END)


def test_each_format_arrives_as_it_should(settings, log, hook):
    for fmt in ("slack", "teams", "json", "markdown"):
        add_webhook(settings, f"to-{fmt}", f"{hook.url}/{fmt}", fmt)
    rows = deliver(settings, log["id"], FAST)
    assert sorted(r["status"] for r in rows) == ["sent"] * 4
    got = {r["path"].rsplit("/", 1)[1]: json.loads(r["body"]) for r in hook.received}
    assert got["slack"]["text"] and got["slack"]["blocks"][0]["type"] == "header"
    card = got["teams"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert got["json"]["id"] == log["id"] and got["json"]["headline"] == log["headline"]
    assert got["markdown"]["text"].startswith("# Daily Log")
    assert deliver(settings, log["id"], FAST) == []  # sent once, never twice
    assert len(hook.received) == 4


def test_a_server_error_is_retried_until_sent(settings, log, hook):
    add_webhook(settings, "team", hook.url, "slack")
    hook.script = [(500, {}, 0.0), (502, {}, 0.0)]
    (row,) = deliver(settings, log["id"], FAST)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["sent_at"]
    assert [r["status"] for r in hook.received] == [500, 502, 200]


def test_429_waits_as_long_as_retry_after_says(settings, log, hook):
    add_webhook(settings, "team", hook.url, "slack")
    hook.script = [(429, {"Retry-After": "1"}, 0.0)]
    (row,) = deliver(settings, log["id"], FAST)
    assert row["status"] == "sent" and row["attempts"] == 2
    gap = hook.received[1]["at"] - hook.received[0]["at"]
    assert gap >= 0.95


def test_a_long_retry_after_waits_for_a_later_round(settings, log, hook):
    add_webhook(settings, "team", hook.url, "slack")
    hook.script = [(429, {"Retry-After": "120"}, 0.0)]
    before = time.time()
    (row,) = deliver(settings, log["id"], FAST)
    assert row["status"] == "pending" and "429" in row["last_error"]
    assert row["next_attempt_at"] >= before + 120
    assert send_pending(settings, FAST) == []  # not due yet
    (again,) = send_pending(settings, FAST, retry=True)  # a person says: now
    assert again["status"] == "sent"


def test_400_fails_for_good_with_the_answer_shown(settings, log, hook):
    add_webhook(settings, "team", hook.url, "slack")
    hook.script = [(400, {}, 0.0)]
    (row,) = deliver(settings, log["id"], FAST)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "HTTP 400" in row["last_error"] and "invalid_payload" in row["last_error"]
    assert len(hook.received) == 1
    assert send_pending(settings, FAST) == []  # not retried on its own
    (retried,) = send_pending(settings, FAST, retry=True)
    assert retried["status"] == "sent" and retried["attempts"] == 2


def test_a_timeout_fails_and_stays_retryable(settings, log, hook):
    add_webhook(settings, "slow", hook.url, "json")
    hook.script = [(200, {}, 1.5)] * 2
    policy = Policy(timeout=0.3, tries=2, backoff=0.01, min_interval=0.0)
    (row,) = deliver(settings, log["id"], policy)
    assert row["status"] == "pending" and row["attempts"] == 2
    assert "did not answer within 0.3 s" in row["last_error"]
    assert row["next_attempt_at"] > time.time()
    (later,) = send_pending(settings, policy, retry=True)
    assert later["status"] == "sent" and later["attempts"] == 3


def test_a_closed_port_fails_clearly(settings, log):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    add_webhook(settings, "gone", f"http://127.0.0.1:{port}/hook", "slack")
    (row,) = deliver(settings, log["id"], FAST)
    assert row["status"] == "pending" and row["attempts"] == 3
    assert f"cannot connect to 127.0.0.1:{port}" in row["last_error"]
    assert "refused" in row["last_error"].lower()


def test_after_too_many_attempts_it_is_failed_not_dropped(settings, log):
    add_webhook(settings, "gone", "http://127.0.0.1:9/hook", "slack")
    (row,) = deliver(
        settings, log["id"], Policy(tries=2, backoff=0.0, max_attempts=2, min_interval=0)
    )
    assert row["status"] == "failed" and "gave up after 2 attempts" in row["last_error"]
    assert [r["id"] for r in list_deliveries(settings)] == [row["id"]]


def test_one_message_a_second_per_webhook(settings, night, hook):
    night()
    add_webhook(settings, "team", hook.url, "slack")
    first = build(settings, until=END - 3600)
    second = build(settings, until=END)
    policy = Policy(timeout=2.0, tries=1, min_interval=1.0)
    queue(settings, first["id"])
    queue(settings, second["id"])
    rows = send_pending(settings, policy)
    assert [r["status"] for r in rows] == ["sent", "sent"]
    assert hook.received[1]["at"] - hook.received[0]["at"] >= 0.95


def test_queueing_twice_makes_one_delivery(settings, log, hook):
    add_webhook(settings, "team", hook.url, "slack")
    assert queue(settings, log["id"]) == 1
    assert queue(settings, log["id"]) == 0
    assert len(list_deliveries(settings)) == 1


def test_webhooks_are_checked(settings, hook):
    with pytest.raises(ConfigError, match="not an http"):
        add_webhook(settings, "team", "hooks.slack.com/services/x", "slack")
    with pytest.raises(ConfigError, match="format"):
        add_webhook(settings, "team", hook.url, "fax")
    with pytest.raises(ConfigError, match="name"):
        add_webhook(settings, "a b", hook.url, "slack")
    add_webhook(settings, "team", hook.url, "slack")
    with pytest.raises(ConflictError):
        add_webhook(settings, "team", hook.url, "teams")
    assert [w["name"] for w in list_webhooks(settings)] == ["team"]
    with pytest.raises(NotFoundError):
        remove_webhook(settings, "nope")
    assert "SECRET" not in shown_url("https://hooks.slack.com/services/T0/B0/SECRET")


def test_removing_a_webhook_fails_its_pending_deliveries(settings, log):
    add_webhook(settings, "team", "http://127.0.0.1:9/hook", "slack")
    queue(settings, log["id"])
    remove_webhook(settings, "team")
    (row,) = list_deliveries(settings)
    assert row["status"] == "failed" and "removed" in row["last_error"]
