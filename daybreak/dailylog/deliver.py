"""Delivering logs to webhooks: one ``deliveries`` row per log and target, retried with
backoff, paced to one message a second per webhook, never silently dropped.

A 4xx other than 429 is permanent (``failed``, the response shown); anything else stays
``pending`` with its error and is tried again by the next ``send_pending`` once due;
``--retry`` (``retry=True``) sends failed ones, and pending ones not yet due, at once."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from daybreak.config import Settings
from daybreak.dailylog import service
from daybreak.dailylog.formats import webhook_body
from daybreak.dailylog.http import Outcome, post
from daybreak.dailylog.webhooks import get_webhook, list_webhooks
from daybreak.store.engine import Database, get_database
from daybreak.store.schema import deliveries

Sleep = Callable[[float], Any]


@dataclasses.dataclass(frozen=True)
class Policy:
    """How hard to try. The defaults suit Slack and Teams; tests shorten them."""

    timeout: float = 10.0  # seconds for one request
    tries: int = 3  # requests in one go before waiting for the next round
    backoff: float = 1.0  # seconds before the second try; doubles each try
    max_wait: float = 60.0  # the longest Retry-After waited for in place
    min_interval: float = 1.0  # per webhook: at most one message a second
    round_backoff: float = 60.0  # the next round after 60 s, doubling, at most an hour
    max_attempts: int = 30  # then ``failed`` (``--retry`` still sends it again)
    lease: float = 600.0  # a claimed delivery is not picked up by another sender for this long


_pace_lock = threading.Lock()
_next_slot: dict[str, float] = {}


def _pace(target: str, interval: float, sleep: Sleep) -> None:
    """Wait for ``target``'s next free slot (shared by every sender in this process)."""
    with _pace_lock:
        now = time.monotonic()
        slot = max(now, _next_slot.get(target, 0.0))
        _next_slot[target] = slot + interval
    if slot > now:
        sleep(slot - now)


def queue(settings: Settings, log_id: int, targets: list[str] | None = None) -> int:
    """A pending delivery of log ``log_id`` to each webhook (or ``targets``); returns how
    many are new (a log already queued for a target is not queued twice)."""
    names = targets if targets is not None else [w["name"] for w in list_webhooks(settings)]
    if not names:
        return 0
    db = get_database(settings.db_url)
    now = time.time()
    rows = [
        {"log_id": log_id, "target": name, "status": "pending", "attempts": 0, "created_at": now}
        for name in names
    ]
    with db.write() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(deliveries).on_conflict_do_nothing(index_elements=["log_id", "target"])
        count = sa.select(sa.func.count()).where(deliveries.c.log_id == log_id)
        before = conn.execute(count).scalar_one()
        conn.execute(stmt, rows)
        return int(conn.execute(count).scalar_one() - before)


def send_pending(
    settings: Settings,
    policy: Policy | None = None,
    log_id: int | None = None,
    retry: bool = False,
    sleep: Sleep = time.sleep,
    stop: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Send every pending delivery that is due (of ``log_id`` only, if given); ``retry``
    first makes failed ones and pending ones not yet due due now. Returns the rows it tried,
    as they are afterwards."""
    policy = policy or Policy()
    db = get_database(settings.db_url)
    if retry:
        _reopen(db, log_id)
    tried = []
    logs: dict[int, dict[str, Any]] = {}
    for row in _due(db, time.time(), log_id):
        if stop is not None and stop.is_set():
            break
        if not _claim(db, row["id"], policy.lease):
            continue
        try:
            if row["log_id"] not in logs:
                logs[row["log_id"]] = service.get(settings, row["log_id"])
            _send(settings, db, row, logs[row["log_id"]], policy, sleep)
        except Exception as exc:  # one broken delivery must not hold up the others
            error = f"could not send: {exc}"
            _finish(
                db, row["id"], row["attempts"], "pending", error, time.time() + policy.round_backoff
            )
        tried.append(_row(db, row["id"]))
    return tried


def deliver(
    settings: Settings, log_id: int, policy: Policy | None = None, sleep: Sleep = time.sleep
) -> list[dict[str, Any]]:
    """Queue log ``log_id`` for every webhook and send it now."""
    queue(settings, log_id)
    return send_pending(settings, policy, log_id=log_id, sleep=sleep)


def list_deliveries(settings: Settings, limit: int = 100) -> list[dict[str, Any]]:
    """Deliveries, newest first."""
    query = sa.select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    with get_database(settings.db_url).read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def _send(
    settings: Settings,
    db: Database,
    row: dict[str, Any],
    log: dict[str, Any],
    policy: Policy,
    sleep: Sleep,
) -> None:
    webhook = get_webhook(settings, row["target"])
    if webhook is None:
        _finish(db, row["id"], row["attempts"], "failed", f"no webhook named {row['target']!r}")
        return
    body = webhook_body(log, webhook["format"])
    attempts = row["attempts"]
    outcome = Outcome(False, "not tried")
    for attempt in range(policy.tries):
        _pace(webhook["name"], policy.min_interval, sleep)
        outcome = post(webhook["url"], body, policy.timeout)
        attempts += 1
        if outcome.ok:
            _finish(db, row["id"], attempts, "sent", None)
            return
        if outcome.permanent:
            _finish(db, row["id"], attempts, "failed", outcome.error)
            return
        wait = policy.backoff * 2**attempt
        if outcome.retry_after is not None:
            if outcome.retry_after > policy.max_wait:
                break
            wait = outcome.retry_after
        if attempt + 1 < policy.tries:
            sleep(wait)
    if attempts >= policy.max_attempts:
        error = f"gave up after {attempts} attempts: {outcome.error}"
        _finish(db, row["id"], attempts, "failed", error)
        return
    rounds = max(1, attempts // max(1, policy.tries))
    later = min(3600.0, policy.round_backoff * 2 ** (rounds - 1))
    if outcome.retry_after is not None:
        later = max(later, outcome.retry_after)
    _finish(db, row["id"], attempts, "pending", outcome.error, time.time() + later)


def _due(db: Database, now: float, log_id: int | None) -> list[dict[str, Any]]:
    query = (
        sa.select(deliveries)
        .where(deliveries.c.status == "pending")
        .where(sa.or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now))
        .order_by(deliveries.c.id)
    )
    if log_id is not None:
        query = query.where(deliveries.c.log_id == log_id)
    with db.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def _claim(db: Database, delivery_id: int, lease: float) -> bool:
    """Take a delivery for this sender: a conditional update, so two senders never both do."""
    now = time.time()
    with db.write() as conn:
        taken = conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id, deliveries.c.status == "pending")
            .where(
                sa.or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now)
            )
            .values(next_attempt_at=now + lease)
        )
        return bool(taken.rowcount == 1)


def _finish(
    db: Database,
    delivery_id: int,
    attempts: int,
    status: str,
    error: str | None,
    next_attempt_at: float | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "attempts": attempts,
        "last_error": error,
        "next_attempt_at": next_attempt_at,
    }
    if status == "sent":
        values["sent_at"] = time.time()
    with db.write() as conn:
        conn.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(**values))


def _reopen(db: Database, log_id: int | None) -> None:
    update = (
        deliveries.update()
        .where(deliveries.c.status.in_(("failed", "pending")))
        .values(status="pending", next_attempt_at=None)
    )
    if log_id is not None:
        update = update.where(deliveries.c.log_id == log_id)
    with db.write() as conn:
        conn.execute(update)


def _row(db: Database, delivery_id: int) -> dict[str, Any]:
    with db.read() as conn:
        found = conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
        return dict(found.mappings().one())
