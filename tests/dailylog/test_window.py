"""Time zones, typed times and the schedule: DST changes, a zone that is not UTC, a zone that
does not exist, and when the scheduled log is due."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from daybreak.config import get_settings
from daybreak.dailylog import build, scheduled_due
from daybreak.dailylog.window import (
    last_scheduled,
    next_scheduled,
    parse_at,
    parse_time,
    team_zone,
    zone_named,
)
from daybreak.errors import ConfigError
from tests.dailylog.conftest import BERLIN, END

AT = dt.time(9, 30)
UTC = dt.UTC


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()


def test_the_schedule_follows_local_time_across_dst_changes():
    before_spring = utc(2026, 3, 28, 12, 0)  # Saturday; clocks go forward on Sunday 29 March
    spring = next_scheduled(before_spring, AT, BERLIN)
    assert spring == utc(2026, 3, 29, 7, 30)  # 09:30 CEST
    assert spring - last_scheduled(before_spring, AT, BERLIN) == 23 * 3600
    before_autumn = utc(2026, 10, 24, 12, 0)  # clocks go back on Sunday 25 October
    autumn = next_scheduled(before_autumn, AT, BERLIN)
    assert autumn == utc(2026, 10, 25, 8, 30)  # 09:30 CET
    assert autumn - last_scheduled(before_autumn, AT, BERLIN) == 25 * 3600


def test_times_skipped_or_repeated_by_dst_are_well_defined():
    skipped = next_scheduled(utc(2026, 3, 28, 12, 0), dt.time(2, 30), BERLIN)
    assert skipped == utc(2026, 3, 29, 1, 30)  # 02:30 does not exist that day: 03:30 CEST
    repeated = next_scheduled(utc(2026, 10, 24, 12, 0), dt.time(2, 30), BERLIN)
    assert repeated == utc(2026, 10, 25, 0, 30)  # the first of the two 02:30s (CEST)


def test_a_zone_that_is_not_utc_and_not_whole_hours():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    assert next_scheduled(utc(2026, 11, 20, 3, 0), AT, kolkata) == utc(2026, 11, 20, 4, 0)
    assert last_scheduled(utc(2026, 11, 20, 3, 0), AT, kolkata) == utc(2026, 11, 19, 4, 0)
    new_york = ZoneInfo("America/New_York")
    assert last_scheduled(utc(2026, 7, 1, 14, 0), AT, new_york) == utc(2026, 7, 1, 13, 30)


def test_a_time_zone_that_does_not_exist_is_a_clear_error(home, monkeypatch):
    with pytest.raises(ConfigError) as caught:
        zone_named("Mars/Olympus_Mons")
    assert "Mars/Olympus_Mons" in caught.value.message and "Europe/Berlin" in str(caught.value.hint)
    with pytest.raises(ConfigError):
        zone_named("../../etc/passwd")
    monkeypatch.setenv("DAYBREAK_TIMEZONE", "Europe/Atlantis")
    settings = get_settings()
    with pytest.raises(ConfigError, match="Europe/Atlantis"):
        build(settings, until=END)
    with pytest.raises(ConfigError, match="Europe/Atlantis"):
        scheduled_due(settings, END)


def test_an_empty_zone_is_this_machines(home, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert team_zone(get_settings()).key == "Asia/Tokyo"


def test_typed_times():
    assert parse_time("1795800000", BERLIN) == 1795800000.0
    assert parse_time("2026-11-20T09:30", BERLIN) == END  # read in the team's zone
    assert parse_time("2026-11-20T08:30:00+00:00", BERLIN) == END
    assert parse_time("2026-11-20 08:30Z", BERLIN) == END
    with pytest.raises(ConfigError, match="--until"):
        parse_time("yesterday-ish", BERLIN, "--until")


def test_the_time_of_day_setting():
    assert parse_at("09:30") == AT and parse_at("7:05") == dt.time(7, 5)
    assert parse_at("") is None
    for bad in ("9h30", "25:00", "09:75"):
        with pytest.raises(ConfigError, match="dailylog_at"):
            parse_at(bad)


def test_the_scheduled_log_is_due_once(settings):
    assert scheduled_due(settings, END - 60) == END - 86_400  # before 09:30: yesterday's
    assert scheduled_due(settings, END + 60) == END
    build(settings, until=END)
    assert scheduled_due(settings, END + 60) is None
    assert scheduled_due(settings, END + 86_400 - 60) is None
    assert scheduled_due(settings, END + 86_400 + 60) == END + 86_400


def test_a_log_built_by_hand_after_the_hour_counts(settings):
    build(settings, until=END + 1800)  # someone built one at 10:00
    assert scheduled_due(settings, END + 3600) is None


def test_never_scheduled_when_the_hour_is_empty(home, monkeypatch):
    monkeypatch.setenv("DAYBREAK_DAILYLOG_AT", " ")
    assert scheduled_due(get_settings(), END) is None
