"""The baseline: what teams configure in today's tools, with ``diagnose(run, now)``'s signature.

- a NaN check on the loss (critical ``nan`` at the first non-finite point);
- a fixed loss threshold (``loss > 10``: critical ``divergence``);
- a heartbeat timeout (a running run with no new training point for 10 minutes: critical
  ``stalled``), and an ended run whose status is ``crashed`` or ``failed``: critical ``crashed``.

It is given the loss's name the way a team would configure it: the run's declared
``config["watchdog"]["loss"]``, else the first of the common names it has.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from daybreak.watchdog.findings import Finding

LOSS_NAMES = ("train/loss", "train_loss", "loss", "training_loss")
THRESHOLD = 10.0
HEARTBEAT_TIMEOUT = 600.0


def diagnose(run: Any, now: float | None = None) -> list[Finding]:
    """Findings about ``run`` (a run id or ``daybreak.get_run(...)``) as of ``now``."""
    import daybreak

    view = daybreak.get_run(run) if isinstance(run, str) else run
    now = time.time() if now is None else now
    keys = view.metric_keys()
    findings: list[Finding] = []
    loss_key = _loss_key(keys, view.config)
    last_step: int | None = None
    if loss_key is not None:
        history = view.history(loss_key)
        keep = history.timestamps <= now
        steps, values = history.steps[keep], history.values[keep]
        last_step = int(steps[-1]) if len(steps) else None
        findings += _nan(loss_key, steps, values) + _threshold(loss_key, steps, values)
    status = view.record.status
    if status == "running":
        last_point = _last_point(view, keys, now)
        if last_point is not None and now - last_point > HEARTBEAT_TIMEOUT:
            quiet = now - last_point
            findings.append(
                Finding(
                    "stalled",
                    "critical",
                    last_step,
                    f"no new point for {quiet / 60:.0f} minutes",
                    "check whether the process is hung",
                    {"last_point": last_point, "timeout": HEARTBEAT_TIMEOUT},
                )
            )
    elif status in ("crashed", "failed"):
        findings.append(
            Finding(
                "crashed",
                "critical",
                last_step,
                f"the run {status}",
                "read its error",
                {"status": status},
            )
        )
    return findings


def _loss_key(keys: list[str], config: Any) -> str | None:
    declared = (config or {}).get("watchdog") if isinstance(config, dict) else None
    if isinstance(declared, dict) and declared.get("loss") in keys:
        return str(declared["loss"])
    return next((name for name in LOSS_NAMES if name in keys), None)


def _nan(key: str, steps: np.ndarray, values: np.ndarray) -> list[Finding]:
    bad = np.flatnonzero(~np.isfinite(values))
    if not len(bad):
        return []
    step = int(steps[bad[0]])
    return [
        Finding(
            "nan",
            "critical",
            step,
            f"{key} is not finite at step {step}",
            "lower the learning rate",
            {"key": key},
        )
    ]


def _threshold(key: str, steps: np.ndarray, values: np.ndarray) -> list[Finding]:
    over = np.flatnonzero(np.isfinite(values) & (values > THRESHOLD))
    if not len(over):
        return []
    step = int(steps[over[0]])
    return [
        Finding(
            "divergence",
            "critical",
            step,
            f"{key} went over {THRESHOLD:g} at step {step}",
            "lower the learning rate",
            {"key": key, "value": float(values[over[0]]), "threshold": THRESHOLD},
        )
    ]


def _last_point(view: Any, keys: list[str], now: float) -> float | None:
    """When the run last logged a training point (system metrics do not count)."""
    last: float | None = None
    for key in keys:
        if key.startswith("sys/"):
            continue
        stamps = view.history(key).timestamps
        stamps = stamps[stamps <= now]
        if len(stamps):
            last = max(float(stamps.max()), last or float("-inf"))
    return last
