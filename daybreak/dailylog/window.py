"""Time zones, times typed by people, and the Daily Log's schedule (09:30 local by default)."""

from __future__ import annotations

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daybreak.config import Settings
from daybreak.errors import ConfigError

DAY = 86_400.0
ZONE_HINT = "use an IANA name such as Europe/Berlin (setting timezone / DAYBREAK_TIMEZONE)"
_AT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def team_zone(settings: Settings) -> ZoneInfo:
    """The team's time zone from the settings; empty means this machine's own zone."""
    return zone_named(settings.timezone) if settings.timezone else local_zone()


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or a ConfigError that says what is wrong."""
    if name == "localtime":
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ConfigError(f"time zone {name!r} does not exist", ZONE_HINT) from exc


def local_zone() -> ZoneInfo:
    """This machine's zone, by name where it has one (so DST rules come with it)."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    target = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    for name in filter(None, candidates):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    try:
        with open("/etc/localtime", "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        return ZoneInfo("UTC")


def zone_or_utc(name: str) -> ZoneInfo:
    """For showing a stored log: its zone, or UTC where this machine does not know it."""
    try:
        return zone_named(name)
    except ConfigError:
        return ZoneInfo("UTC")


def parse_at(text: str) -> dt.time | None:
    """``"09:30"`` → 09:30; empty → None (never scheduled)."""
    if not text.strip():
        return None
    match = _AT.match(text)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return dt.time(int(match[1]), int(match[2]))
    raise ConfigError(
        f"dailylog_at {text!r} is not a time of day",
        "write it as HH:MM in the team's time zone, e.g. 09:30 (empty: never scheduled)",
    )


def at_local(day: dt.date, at: dt.time, zone: ZoneInfo) -> float:
    """Unix time of wall-clock ``at`` on ``day`` in ``zone``. A time skipped by a DST change
    falls an hour later; a repeated one is its first occurrence."""
    return dt.datetime.combine(day, at, tzinfo=zone).timestamp()


def last_scheduled(now: float, at: dt.time, zone: ZoneInfo) -> float:
    """The latest scheduled moment at or before ``now``."""
    today = dt.datetime.fromtimestamp(now, zone).date()
    for back in range(3):
        moment = at_local(today - dt.timedelta(days=back), at, zone)
        if moment <= now:
            return moment
    raise AssertionError("a scheduled moment lies within three days")  # pragma: no cover


def next_scheduled(now: float, at: dt.time, zone: ZoneInfo) -> float:
    """The first scheduled moment after ``now``."""
    today = dt.datetime.fromtimestamp(now, zone).date()
    for ahead in range(3):
        moment = at_local(today + dt.timedelta(days=ahead), at, zone)
        if moment > now:
            return moment
    raise AssertionError("a scheduled moment lies within three days")  # pragma: no cover


def parse_time(text: str, zone: ZoneInfo, flag: str = "--since") -> float:
    """A time typed on the command line: unix seconds, ``now``, or ISO 8601 (without an
    offset it is read in the team's zone)."""
    raw = text.strip()
    if raw.lower() == "now":
        return dt.datetime.now(dt.UTC).timestamp()
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"cannot read {flag} {text!r} as a time",
            f"give ISO 8601 such as 2026-11-27T09:30 (read in {zone.key}) or unix seconds",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def local_text(ts: float, zone: ZoneInfo, seconds: bool = False) -> str:
    """``Thu 27 Nov 09:30`` in ``zone``."""
    return dt.datetime.fromtimestamp(ts, zone).strftime(
        "%a %d %b %H:%M:%S" if seconds else "%a %d %b %H:%M"
    )
