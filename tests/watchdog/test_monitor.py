"""The continuous watchdog: incremental reads, stored findings, policies carried out on real
jobs run by a real agent, and runs with broken data that must not stop the loop."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import daybreak
from daybreak.config import get_settings
from daybreak.jobs import service as jobs_service
from daybreak.jobs import spec
from daybreak.store.engine import get_database
from daybreak.tracking import points
from daybreak.watchdog import policy, store
from daybreak.watchdog.cache import RunCache
from daybreak.watchdog.monitor import Watchdog
from tests.jobs.conftest import script, wait_for
from tests.watchdog.test_diagnose import T0, curve, put_run


def _append(run_dir, key, steps, stamps, values):
    files = points.PointFiles(run_dir)
    files.append(key, points.records_from(steps, stamps, values))
    files.close()


def test_the_cache_reads_only_what_was_appended_and_matches_a_full_read(tmp_path):
    run_dir = tmp_path / "run"
    cache = RunCache(run_dir)
    _append(run_dir, "loss", range(100), T0 + np.arange(100.0), np.linspace(2, 1, 100))
    assert cache.update(["loss"])
    series = cache.series["loss"]
    assert series.offset == 100 * points.RECORD.itemsize
    assert not cache.update(["loss"])  # nothing new: nothing read
    _append(run_dir, "loss", range(100, 150), T0 + np.arange(100.0, 150), np.ones(50))
    assert cache.update(["loss"]) and series.offset == 150 * points.RECORD.itemsize
    assert np.array_equal(cache.history("loss").steps, np.arange(150))
    _append(run_dir, "loss", [149, 120], [T0 + 200, T0 + 201], [5.0, 6.0])  # written twice
    cache.update(["loss"])
    full = points.read_history(run_dir, "loss")
    assert np.array_equal(cache.history("loss").values, full.values)
    assert cache.history("loss").values[120] == 6.0 and len(full) == 150
    points.write_rewind(run_dir, 99, T0 + 300)  # restarted from the checkpoint at step 99
    assert cache.update(["loss"])
    assert int(cache.history("loss").steps[-1]) == 99
    assert np.array_equal(cache.history("loss").steps, points.read_history(run_dir, "loss").steps)


def test_a_pass_stores_a_finding_once_and_notifies_by_default(settings):
    steps, stamps, values = curve(600)
    values = values.copy()
    values[300:] += np.linspace(0, 5, 300)  # climbs and stays up
    run_id = put_run("div", {"train/loss": (steps, stamps, values)}, status="running")
    watchdog = Watchdog(settings)
    now = float(stamps[-1]) + 1
    first = watchdog.run_pass(now)
    assert [f["kind"] for f in first.new_findings] == ["divergence"]
    assert [a["kind"] for a in first.actions] == ["notify"]
    second = watchdog.run_pass(now + 1)
    assert second.new_findings == [] and second.actions == [] and second.diagnosed == 0
    db = get_database(settings.db_url)
    stored = store.list_findings(db, run_ids=[run_id])
    assert len(stored) == 1 and stored[0]["evidence"]["onset_step"] >= 290
    assert [a["kind"] for a in store.list_actions(db, run_ids=[run_id])] == ["notify"]


def test_stop_on_a_run_the_queue_did_not_start_is_recorded_as_not_done(settings):
    steps, stamps, values = curve(300)
    values = values.copy()
    values[200] = float("nan")
    put_run("nanrun", {"train/loss": (steps, stamps, values)}, status="running")
    db = get_database(settings.db_url)
    policy.set_policy(db, "wd", [policy.make_rule(["nan"], "stop")])
    report = Watchdog(settings).run_pass(float(stamps[-1]) + 1)
    (action,) = report.actions
    assert action["kind"] == "skipped" and "not started by the queue" in action["message"]


def test_the_first_pass_settles_runs_that_ended_while_nobody_watched(settings):
    steps, stamps, values = curve(200)
    put_run(
        "gone",
        {"train/loss": (steps, stamps, values)},
        status="crashed",
        error="RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
    )
    now = float(stamps[-1]) + 3600
    report = Watchdog(settings).run_pass(now)
    assert {f["kind"] for f in report.new_findings} == {"oom", "crashed"}
    assert Watchdog(settings).run_pass(now).runs == 0  # settled: not looked at again


@pytest.mark.parametrize(
    "shape",
    ["no loss metric", "a single point", "all NaN", "clock going backwards", "duplicate steps"],
)
def test_broken_runs_do_not_stop_the_loop(settings, shape):
    n = 200
    steps, stamps, values = curve(n)
    series = {"train/loss": (steps, stamps, values)}
    if shape == "no loss metric":
        series = {"val/acc": (steps, stamps, values)}
    elif shape == "a single point":
        series = {"train/loss": (steps[:1], stamps[:1], values[:1])}
    elif shape == "all NaN":
        series = {"train/loss": (steps, stamps, np.full(n, np.nan))}
    elif shape == "clock going backwards":
        series = {"train/loss": (steps, stamps[::-1].copy(), values)}
    elif shape == "duplicate steps":
        series = {"train/loss": (np.repeat(steps[: n // 2], 2), stamps, values)}
    put_run("broken", series, status="running")
    healthy_steps, healthy_stamps, healthy = curve(300, seed=3)
    put_run("fine", {"train/loss": (healthy_steps, healthy_stamps, healthy)}, status="running")
    report = Watchdog(settings).run_pass(float(stamps.max()) + 1)
    assert report.errors == [] and report.runs == 2
    kinds = {f["kind"] for f in report.new_findings if f["run_id"] == "broken"}
    if shape == "all NaN":
        assert kinds == {"nan"}
    assert not [f for f in report.new_findings if f["run_id"] == "fine"]


DIVERGES = """
import math, time, daybreak
from daybreak.jobs.runtime import remedy

run = daybreak.init(project="wd", system_metrics=False)
scale = remedy().get("lr_scale", 1.0)
latest = run.latest_checkpoint()
start = latest.load()["step"] + 1 if latest else 0
print("start", start, "scale", scale, flush=True)
for step in range(start, 360):
    loss = 1.0 + 2.0 * math.exp(-step / 40) + 0.01 * math.sin(step)
    if scale == 1.0 and step >= 200:
        loss += 0.05 * (step - 200)  # the learning rate is too high from here on
    run.log({"train/loss": loss}, step=step)
    if (step + 1) % 50 == 0:
        run.save_checkpoint({"step": step}, step=step, keep=10)
    time.sleep(0.02)
run.finish()
"""


def test_restart_from_the_last_good_checkpoint_with_a_lower_learning_rate(
    settings, project, start_agent
):
    db = get_database(settings.db_url)
    rule = policy.make_rule(["divergence"], "restart", lr_scale=0.5, clip_grad=1.0)
    policy.set_policy(db, "wd", [rule])
    job = jobs_service.submit(
        settings, spec.build(str(script(project, "train.py", DIVERGES)), project="wd")
    )[0]
    start_agent()
    watchdog = Watchdog(get_settings())
    actions = []
    deadline = time.time() + 90
    while not [a for a in actions if a["kind"] == "restart"] and time.time() < deadline:
        actions += watchdog.run_pass().actions
        time.sleep(0.1)
    assert [a["kind"] for a in actions] == ["restart"], actions
    (restart,) = actions
    assert restart["detail"]["from_step"] == 199 and restart["detail"]["onset_step"] >= 200
    assert restart["detail"]["change"] == {"lr_scale": 0.5, "clip_grad": 1.0}
    done = wait_for(settings, job.id, jobs_service.DONE, timeout=90)
    assert done.status == "succeeded" and done.attempt == 2
    loss = daybreak.get_run(job.run_id).history("train/loss")
    assert np.array_equal(loss.steps, np.arange(360))  # the abandoned path is set aside
    assert loss.values[200:].max() < 1.2
    log = (settings.home / "jobs" / job.id / "attempt-2.log").read_text()
    assert "start 200 scale 0.5" in log
    names = {c["name"] for c in daybreak.get_run(job.run_id).checkpoints()}
    assert "checkpoint" in names
    watchdog.run_pass()
    (finding,) = [
        f for f in store.list_findings(db, run_ids=[job.run_id]) if f["kind"] == "divergence"
    ]
    assert finding["cleared_at"] is not None  # the restarted run no longer diverges
    kinds = [e["kind"] for e in jobs_service.events(settings, job.id)]
    assert "restart-requested" in kinds


def test_an_action_is_sent_to_the_webhooks_at_once_and_a_failure_is_recorded(settings):
    from daybreak.dailylog.webhooks import add_webhook
    from tests.conftest import free_port
    from tests.dailylog.conftest import Hook

    hook = Hook()
    try:
        add_webhook(settings, "team", hook.url, "slack")
        add_webhook(settings, "ops", hook.url.replace("/hook", "/json"), "json")
        add_webhook(settings, "gone", f"http://127.0.0.1:{free_port()}/hook", "teams")
        steps, stamps, values = curve(300)
        values = values.copy()
        values[150] = float("inf")
        run_id = put_run("inf", {"train/loss": (steps, stamps, values)}, status="running")
        report = Watchdog(settings).run_pass(float(stamps[-1]) + 1)
        for sender in report.alerts:
            sender.join(30)
        bodies = {r["path"]: json.loads(r["body"]) for r in hook.received}
        assert "nan in run inf" in bodies["/hook"]["text"] and "step 150" in bodies["/hook"]["text"]
        assert bodies["/json"]["finding"]["kind"] == "nan"
        assert bodies["/json"]["action"]["kind"] == "notify"
    finally:
        hook.close()
    actions = store.list_actions(get_database(settings.db_url), run_ids=[run_id])
    (failed,) = [a for a in actions if a["kind"] == "alert-failed"]
    assert "could not alert gone" in failed["message"]
