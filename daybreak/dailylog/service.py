"""Daily Logs in the store: one per window, built on demand or on schedule.

build(settings)                       # since the previous log (the first covers 24 h) until now
build(settings, since=t0, until=t1)   # an explicit window; building it again returns the same log
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from daybreak.config import Settings
from daybreak.dailylog.gather import gather
from daybreak.dailylog.window import DAY, last_scheduled, parse_at, team_zone
from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.store.engine import Database, get_database
from daybreak.store.jsontext import dumps
from daybreak.store.schema import daily_logs
from daybreak.tracking import service as runs_service

SUMMARY_COLUMNS = (
    daily_logs.c.id,
    daily_logs.c.window_start,
    daily_logs.c.window_end,
    daily_logs.c.timezone,
    daily_logs.c.built_at,
    daily_logs.c.headline,
)
FUTURE_SLACK = 5.0  # seconds a window may end after "now" (clocks of two machines)


def build(
    settings: Settings,
    since: float | None = None,
    until: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The log for ``[since, until)``, built and stored, or the stored one for that window.

    ``until`` defaults to now; ``since`` to the end of the previous log (or 24 h before
    ``until`` for the first). A window is known by its end: two builds of it, even at once,
    give one row."""
    db = get_database(settings.db_url)
    zone = team_zone(settings)
    now = time.time() if now is None else now
    until = now if until is None else float(until)
    if until > now + FUTURE_SLACK:
        raise ConfigError(
            "the window ends in the future", "give an --until at or before now, or leave it out"
        )
    stored = _by_end(db, until)
    if stored is not None:
        return _same_window(stored, since)
    previous = _previous(db, until)
    if since is None:
        since = previous["window_end"] if previous else until - DAY
    since = float(since)
    if since >= until:
        raise ConfigError(
            f"the window is empty: it starts at {since:.0f} and ends at {until:.0f}",
            "give a --since before --until",
        )
    runs_service.mark_stale_runs(db, now, settings.stale_after)  # dead runs are not "running"
    content = gather(settings, db, since, until, zone.key, previous)
    row = {
        "window_start": since,
        "window_end": until,
        "timezone": zone.key,
        "built_at": time.time(),
        "headline": content["headline"],
        "content": content,
    }
    try:
        with db.write() as conn:
            result = conn.execute(daily_logs.insert().values(**row))
            row["id"] = int(result.inserted_primary_key[0])  # type: ignore[index]
    except IntegrityError:  # another process built the same window meanwhile
        raced = _by_end(db, until)
        if raced is None:
            raise
        return _same_window(raced, since)
    return _loaded(row)


def _same_window(stored: dict[str, Any], since: float | None) -> dict[str, Any]:
    if since is not None and abs(stored["window_start"] - since) > 1e-6:
        raise ConflictError(
            f"log #{stored['id']} already covers a window ending then, from another start",
            f"see it with `daybreak dailylog show {stored['id']}`; one log per window",
        )
    return stored


def _loaded(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the store gives it back (content through JSON), so fresh and stored logs match."""
    return {**row, "content": json.loads(dumps(row["content"]))}


def _by_end(db: Database, until: float) -> dict[str, Any] | None:
    with db.read() as conn:
        row = conn.execute(sa.select(daily_logs).where(daily_logs.c.window_end == until)).first()
    return dict(row._mapping) if row else None


def _previous(db: Database, until: float) -> dict[str, Any] | None:
    query = (
        sa.select(daily_logs)
        .where(daily_logs.c.window_end < until)
        .order_by(daily_logs.c.window_end.desc())
        .limit(1)
    )
    with db.read() as conn:
        row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def get(settings: Settings, log_id: int) -> dict[str, Any]:
    """One stored log, content included."""
    with get_database(settings.db_url).read() as conn:
        row = conn.execute(sa.select(daily_logs).where(daily_logs.c.id == log_id)).first()
    if row is None:
        raise NotFoundError(f"no Daily Log #{log_id}", "list them with `daybreak dailylog ls`")
    return dict(row._mapping)


def find(settings: Settings, which: str) -> dict[str, Any]:
    """A stored log by id, or the newest for ``latest``; a clear error otherwise."""
    if which == "latest":
        found = latest(settings)
        if found is None:
            raise NotFoundError("no Daily Log yet", "build one with `daybreak dailylog build`")
        return found
    if not (which.isascii() and which.isdigit()):
        raise NotFoundError(
            f"{which!r} is not a Daily Log id",
            "give a number from `daybreak dailylog ls`, or latest",
        )
    return get(settings, int(which))


def latest(settings: Settings) -> dict[str, Any] | None:
    """The log with the latest window, or None before the first."""
    query = sa.select(daily_logs).order_by(daily_logs.c.window_end.desc()).limit(1)
    with get_database(settings.db_url).read() as conn:
        row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def list_logs(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """Stored logs, newest window first, without their content."""
    query = sa.select(*SUMMARY_COLUMNS).order_by(daily_logs.c.window_end.desc()).limit(limit)
    with get_database(settings.db_url).read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def scheduled_due(settings: Settings, now: float | None = None) -> float | None:
    """The scheduled moment whose log should be built now, or None: the latest scheduled
    time at or before ``now`` when no log reaches it yet (a server that was down at 09:30
    builds it when it comes back)."""
    at = parse_at(settings.dailylog_at)
    if at is None:
        return None
    now = time.time() if now is None else now
    moment = last_scheduled(now, at, team_zone(settings))
    query = (
        sa.select(sa.func.count()).select_from(daily_logs).where(daily_logs.c.window_end >= moment)
    )
    with get_database(settings.db_url).read() as conn:
        done = conn.execute(query).scalar_one()
    return None if done else moment
