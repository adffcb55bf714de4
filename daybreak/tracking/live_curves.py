"""What is training right now with its loss curves, downsampled on the server to a chart's
budget: the runs of :func:`daybreak.tracking.overview.training_now`, each with its headline
metric (a training loss first) and, when it logs one, its validation loss."""

from __future__ import annotations

import math
import time
from typing import Any

from daybreak.tracking import overview, series
from daybreak.tracking.readers import LocalBackend

MAX_RUNS = 6
POINTS = 400


def training_curves(
    backend: LocalBackend, limit: int = MAX_RUNS, points: int = POINTS
) -> dict[str, Any]:
    """The newest ``limit`` running runs (and how many run in all), each with its curves."""
    now = time.time()
    running = overview.training_now(backend.db, now)
    shown = running[:limit]
    for run in shown:
        run["curves"] = _curves(backend, run, points)
    return {"now": now, "running": len(running), "runs": shown}


def curve_keys(headline: str | None, keys: list[str]) -> list[str]:
    """The headline metric, then a validation loss beside a training loss."""
    if headline is None:
        return []
    chosen = [headline]
    if "loss" in headline.lower() and not headline.startswith("val"):
        validation = sorted(k for k in keys if k.startswith("val") and "loss" in k.lower())
        chosen += validation[:1]
    return chosen


def _curves(backend: LocalBackend, run: dict[str, Any], points: int) -> list[dict[str, Any]]:
    keys = curve_keys(run.get("metric"), backend.metric_keys(run["id"]))
    found = series.many(backend, [(run["id"], run["started_at"])], keys, points)
    return [
        {
            "key": s.key,
            "total": s.total,
            "steps": s.shown.steps.tolist(),
            "values": [v if math.isfinite(v) else None for v in s.shown.values.tolist()],
        }
        for s in found
    ]
