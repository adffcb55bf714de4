"""Building a log: counts and sections from a real night, one log per window, windows that
follow each other, a quiet night, progress against the previous log."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from daybreak.dailylog import build, get, latest, list_logs, render
from daybreak.errors import ConfigError, ConflictError
from daybreak.notes import service as notes
from daybreak.store.engine import get_database
from tests.dailylog.conftest import END, START, curve, make_run


def test_counts_and_sections_of_a_night(settings, night):
    ids = night()
    log = build(settings, until=END)
    content = log["content"]
    assert (log["window_start"], log["window_end"]) == (START, END)  # the first covers 24 h
    counts = content["counts"]
    assert counts["finished"] == 1 and counts["failed"] == 1 and counts["crashed"] == 1
    assert counts["running"] == 1 and counts["runs"] == 4  # the week-old run is not in it
    assert counts["problems"] == 2 and counts["critical"] == 2 and counts["stalled"] == 1
    problem, stall = content["problems"]  # most severe first, then oldest
    assert problem["run_id"] == ids["diverged"] and problem["kind"] == "divergence"
    assert stall["kind"] == "stalled" and stall["onset_step"] == 2999 and stall["actions"] == []
    assert stall["chart"]["key"] == "train/loss"
    assert problem["onset_step"] == 1200 and problem["onset_at"] is not None
    assert problem["chart"]["marker"] == 1200 and 10 < len(problem["chart"]["steps"]) <= 130
    assert problem["chart"]["steps"][0] < 1200 < problem["chart"]["steps"][-1]
    assert "learning rate" in problem["cause"] and problem["suggestion"]
    assert [a["kind"] for a in problem["actions"]] == ["restart"]
    progress = {(p["project"], p["model"]): p for p in content["progress"]}
    pck = progress[("pose", "resnet")]
    assert pck["metric"] == "val/pck" and pck["goal"] == "max" and pck["first"]
    assert pck["best"] == pytest.approx(0.5 + 0.4 * (1 - np.exp(-1999 / 600)), rel=1e-6)
    assert progress[("pose", "resnet-big")]["goal"] == "min"
    (running,) = content["running"]
    assert running["planned_steps"] == 9000 and running["step"] == 2999
    assert running["steps_per_s"] == pytest.approx(1.0)
    assert running["eta_s"] == pytest.approx(6000, rel=0.01)
    gpu = content["gpu"]  # one GPU for the last 50 minutes, idle for the second half
    assert gpu["used_hours"] == pytest.approx(3000 / 3600, rel=0.01)
    assert gpu["idle_hours"] == pytest.approx(1500 / 3600, rel=0.02)
    assert not content["quiet"] and "2 problems (1 divergence, 1 stalled)" in log["headline"]
    assert content["models"] == {  # nothing registered this night
        "available": True,
        "registered": [],
        "exported": [],
        "promoted": [],
    }


def test_one_log_per_window(settings, night):
    night()
    first = build(settings, until=END)
    again = build(settings, until=END)
    assert again["id"] == first["id"] and again["content"] == first["content"]
    assert build(settings, since=START, until=END)["id"] == first["id"]
    with pytest.raises(ConflictError):
        build(settings, since=START + 60, until=END)
    assert [row["id"] for row in list_logs(settings)] == [first["id"]]


def test_concurrent_builds_store_one_row(settings, night):
    night()
    results: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(build(settings, until=END)["id"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(results)) == 1 and len(results) == 4
    assert len(list_logs(settings)) == 1


def test_the_next_window_starts_where_the_last_ended(settings, night):
    night()
    first = build(settings, until=END - 6 * 3600)
    second = build(settings, until=END)
    assert first["window_start"] == END - 6 * 3600 - 86_400
    assert second["window_start"] == first["window_end"]
    assert second["content"]["change"]["previous_id"] == first["id"]
    assert latest(settings)["id"] == second["id"]
    assert get(settings, first["id"])["window_end"] == END - 6 * 3600


def test_progress_against_the_previous_log(settings):
    def run(run_id: str, start: float, top: float) -> None:
        steps = np.arange(0, 1000, 100)
        acc = np.linspace(0.3, top, len(steps))
        make_run(
            settings,
            run_id,
            {"val/acc": (steps, start + steps, acc)},
            project="cls",
            config={"model": "tiny", "metric": "val/acc"},
        )

    run("night1", START + 100, 0.8)
    first = build(settings, until=START + 40_000)
    run("night2", START + 50_000, 0.7)  # worse: no new best
    second = build(settings, until=START + 60_000)
    run("night3", START + 70_000, 0.9)
    third = build(settings, until=END)
    assert first["content"]["progress"][0]["first"]
    (worse,) = second["content"]["progress"]
    assert worse["previous"] == pytest.approx(0.8) and not worse["new_best"]
    assert worse["change"] == pytest.approx(-0.1)
    (better,) = third["content"]["progress"]
    assert better["new_best"] and better["previous"] == pytest.approx(0.7)
    assert "new best" in render(third, "markdown")


def test_a_quiet_night_gives_a_short_log(settings, night):
    night()
    build(settings, until=END)
    quiet = build(settings, until=END + 3600)  # nothing ended, nothing found since
    content = quiet["content"]
    assert content["quiet"] and "quiet" in quiet["headline"].lower()
    text = render(quiet, "markdown")
    busy = render(get(settings, quiet["id"] - 1), "markdown")
    assert len(text) < 600 < len(busy)
    assert "Problems" not in text and "At a glance" not in text
    assert "vit-long" in text  # what is still running is still shown


def test_notes_and_action_items_are_in_the_log(settings, night):
    ids = night()
    db = get_database(settings.db_url)
    notes.add_note(
        db, "tried **lr 0.1**: too high", author="ana", run_id=ids["diverged"], now=END - 600
    )
    notes.add_note(db, "outside the window", author="bo", now=END + 10)
    item = notes.add_action_item(db, "lower the LR of resnet-big", owner="ana", now=END - 500)
    log = build(settings, until=END)
    content = log["content"]
    assert [n["author"] for n in content["notes"]] == ["ana"]
    assert [(i["id"], i["owner"], i["new"]) for i in content["action_items"]] == [
        (item, "ana", True)
    ]
    notes.resolve_action_item(db, item, "lowered it", by="ana", now=END + 20)
    later = build(settings, until=END + 3600)
    assert later["content"]["action_items"] == []
    assert [i["id"] for i in later["content"]["resolved_items"]] == [item]
    text = render(log, "markdown")
    assert "lower the LR of resnet-big" in text and "ana" in text


def test_open_action_items_are_carried_to_the_next_log(settings):
    db = get_database(settings.db_url)
    item = notes.add_action_item(db, "fix the loader", owner="bo", now=START - 86_400)
    first = build(settings, until=START + 3600)
    second = build(settings, until=END)
    for log in (first, second):
        assert [(i["id"], i["new"]) for i in log["content"]["action_items"]] == [(item, False)]
        assert "fix the loader" in render(log, "text")


def test_bad_windows_are_refused(settings):
    with pytest.raises(ConfigError, match="empty"):
        build(settings, since=END, until=END)
    with pytest.raises(ConfigError, match="future"):
        build(settings, until=4_000_000_000)


def test_runs_with_odd_series_do_not_break_the_log(settings):
    steps = np.arange(50)
    make_run(settings, "nanrun", {"train/loss": (steps, START + 10 + steps, np.full(50, np.nan))})
    make_run(
        settings, "onepoint", {"val/acc": (np.array([0]), np.array([START + 5.0]), np.array([0.5]))}
    )
    backwards = START + 100 - steps.astype(float)  # a clock that went backwards
    make_run(
        settings, "backclock", {"loss": (steps, backwards, curve(50, 0)[2])}, started=START + 1
    )
    dup = np.repeat(np.arange(25), 2)
    make_run(settings, "dupsteps", {"loss": (dup, START + 200 + np.arange(50), curve(50, 0)[2])})
    make_run(settings, "nometric", {}, started=START + 300)
    log = build(settings, until=END)
    assert log["content"]["counts"]["finished"] == 5
    for fmt in ("markdown", "html", "json", "slack", "teams", "text"):
        assert render(log, fmt)


def test_a_live_run_from_the_sdk_is_in_the_log(settings):
    import daybreak

    run = daybreak.init(
        project="sdk",
        name="live",
        config={"steps": 1000},
        system_metrics=False,
        capture_output=False,
    )
    try:
        for step in range(40):
            run.log({"train/loss": 1.0 / (step + 1)}, step=step, timestamp=time.time() - 40 + step)
        daybreak.get_run(run.id)  # its points are on disk
        log = build(settings)
    finally:
        run.finish()
    assert log["window_end"] - log["window_start"] == 86_400
    (running,) = log["content"]["running"]
    assert running["run_id"] == run.id and running["step"] == 39
    assert running["steps_per_s"] == pytest.approx(1.0, rel=0.01)
    assert running["eta_s"] == pytest.approx(960, rel=0.02)
