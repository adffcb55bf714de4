"""diagnose() on curves of known shape, imported with exact timestamps: each fault is found
at or after its onset, and healthy curves of many shapes raise nothing of warning or worse."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from daybreak.config import get_settings
from daybreak.tracking.transfer import import_runs
from daybreak.watchdog import diagnose

T0 = 1_790_000_000.0


def put_run(run_id, series, status="finished", error=None, config=None, heartbeat=None):
    """series: key → (steps, timestamps, values)."""
    last = max(float(ts[-1]) for _, ts, _ in series.values())
    lines = [
        json.dumps(
            {
                "run": {
                    "id": run_id,
                    "project": "wd",
                    "name": run_id,
                    "config": config or {},
                    "tags": [],
                    "status": status,
                    "started_at": T0,
                    "ended_at": None if status == "running" else last,
                    "last_heartbeat": heartbeat or last,
                    "summary": {},
                    "error": error,
                }
            }
        )
    ]
    for key, (steps, stamps, values) in series.items():
        for step, ts, value in zip(steps, stamps, values, strict=True):
            shown = value if math.isfinite(value) else ("NaN" if math.isnan(value) else "Infinity")
            lines.append(
                json.dumps({"key": key, "step": int(step), "ts": float(ts), "value": shown})
            )
    import_runs(get_settings(), lines)
    return run_id


def curve(n=600, scale=1.0, noise=0.05, seed=0, interval=0.1, floor=0.1):
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    values = scale * (
        floor
        + np.exp(-steps / (n / 6))
        + noise * rng.standard_normal(n) * (0.2 + np.exp(-steps / (n / 6)))
    )
    return steps, T0 + steps * interval, values


def kinds(findings, worst=("warning", "critical")):
    return {f.kind for f in findings if f.severity in worst}


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
@pytest.mark.parametrize("noise", [0.02, 0.3])
def test_healthy_curves_raise_nothing(home, scale, noise):
    steps, stamps, values = curve(scale=scale, noise=noise, seed=int(noise * 100))
    run = put_run(f"ok-{scale}-{noise}".replace(".", "_"), {"train/loss": (steps, stamps, values)})
    assert kinds(diagnose(run)) == set()


def test_healthy_warm_restarts_raise_nothing(home):
    steps = np.arange(1200)
    phase = steps % 300
    values = 0.2 + 0.8 * np.exp(-steps / 400) + 0.3 * np.exp(-phase / 40) * (steps >= 300)
    values = values + 0.02 * np.random.default_rng(3).standard_normal(len(steps))
    run = put_run("sgdr", {"loss": (steps, T0 + steps * 0.05, values)})
    assert kinds(diagnose(run)) == set()


def test_nan_is_critical_at_its_step(home):
    steps, stamps, values = curve()
    values[400:] = np.nan
    found = diagnose(put_run("nan", {"train/loss": (steps, stamps, values)}))
    nan = [f for f in found if f.kind == "nan"]
    assert nan and nan[0].severity == "critical" and nan[0].step == 400


def test_divergence_after_a_learning_rate_jump(home):
    steps, stamps, values = curve(n=800)
    values[500:] += np.linspace(0, 3, 300)  # climbs and stays up
    found = [
        f
        for f in diagnose(put_run("div", {"train_loss": (steps, stamps, values)}))
        if f.kind == "divergence"
    ]
    assert found and found[0].step >= 500 and found[0].evidence["onset_step"] >= 480


def test_a_transient_spike_is_a_warning_not_divergence(home):
    steps, stamps, values = curve(n=800, noise=0.02)
    values[400:403] += 5.0
    found = diagnose(put_run("spike", {"loss": (steps, stamps, values)}))
    assert "loss_spike" in kinds(found) and "divergence" not in kinds(found)
    assert next(f for f in found if f.kind == "loss_spike").step >= 400


def test_no_learning_when_flat_from_the_start(home):
    steps = np.arange(500)
    values = 2.3 + 0.05 * np.random.default_rng(1).standard_normal(500)
    found = diagnose(put_run("flat", {"train/loss": (steps, T0 + steps, values)}))
    assert "no_learning" in kinds(found)


def test_overfitting_val_rises_while_train_falls(home):
    steps, stamps, train = curve(n=1000, noise=0.02)
    val_steps = np.arange(0, 1000, 50)
    val = 1.0 + np.exp(-val_steps / 150) + np.where(val_steps > 400, (val_steps - 400) / 400, 0)
    found = diagnose(
        put_run(
            "over",
            {
                "train/loss": (steps, stamps, train),
                "val/loss": (val_steps, T0 + val_steps * 0.1, val),
            },
        )
    )
    over = [f for f in found if f.kind == "overfitting"]
    assert over and over[0].step > 400


def test_stalled_while_alive_and_not_before(home):
    import time

    steps, stamps, values = curve(n=300, interval=2.0)
    stamps = stamps - stamps[-1] + time.time() - 4000  # its last step, an hour ago
    run = put_run(
        "stall", {"train/loss": (steps, stamps, values)}, "running", heartbeat=time.time()
    )
    last = float(stamps[-1])
    assert "stalled" not in kinds(diagnose(run, now=last + 30))
    assert "stalled" in kinds(diagnose(run, now=last + 3600))


def test_throughput_drop(home):
    steps = np.arange(800)
    per_step = np.where(steps < 500, 0.1, 0.6)
    stamps = T0 + np.cumsum(per_step)
    _, _, values = curve(n=800)
    found = diagnose(put_run("slow", {"loss": (steps, stamps, values)}))
    drop = [f for f in found if f.kind == "throughput_drop"]
    assert drop and drop[0].step >= 500


def test_crash_and_known_errors(home):
    steps, stamps, values = curve(n=100)
    error = "Traceback (most recent call last):\n  ...\ntorch.OutOfMemoryError: CUDA out of memory."
    found = diagnose(
        put_run("oom", {"loss": (steps, stamps, values)}, status="crashed", error=error)
    )
    assert {"crashed", "oom"} <= kinds(found)


def test_gpu_idle_from_system_metrics(home):
    steps, stamps, values = curve(n=300)
    util_ts = stamps[::10]
    found = diagnose(
        put_run(
            "idle",
            {
                "loss": (steps, stamps, values),
                "sys/gpu0/util_percent": (
                    np.arange(len(util_ts)),
                    util_ts,
                    np.full(len(util_ts), 4.0),
                ),
            },
        )
    )
    assert "gpu_idle" in kinds(found)


def test_roles_by_declaration_and_no_loss_at_all(home):
    steps, stamps, values = curve()
    values[300] = np.inf
    run = put_run(
        "declared",
        {"objective": (steps, stamps, values)},
        config={"watchdog": {"loss": "objective"}},
    )
    assert "nan" in kinds(diagnose(run))
    only = put_run("noloss", {"acc": (steps, stamps, np.linspace(0, 1, len(steps)))})
    assert diagnose(only) == []
    single = put_run("single", {"loss": (np.array([0]), np.array([T0]), np.array([1.0]))})
    assert diagnose(single) == []


def test_watch_scan_cli(home):
    from typer.testing import CliRunner

    from daybreak.cli.main import app

    steps, stamps, values = curve()
    values[200:] = np.nan
    put_run("clinan", {"train/loss": (steps, stamps, values)})
    result = CliRunner().invoke(app, ["watch", "scan", "clinan", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["clinan"]
    assert found[0]["kind"] == "nan" and found[0]["step"] == 200
    text = CliRunner().invoke(app, ["watch", "scan", "clinan"])
    assert "nan" in text.output and "critical" in text.output
