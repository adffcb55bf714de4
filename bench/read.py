"""Reading metrics back.

1. One 100k-point metric through ``daybreak.get_run(id).history(key)`` on a fresh ``RunView``
   each repetition (floor ≤ 50 ms).
2. Downsampling a 1M-point series to 2,000 points with
   ``daybreak.tracking.downsample.downsample`` (floor ≤ 100 ms), and the same through the REST
   API ``GET /api/runs/{id}/metrics/{key}?points=2000`` (read + downsample + JSON; held to the
   same floor).

Both series are logged through the SDK first. Baseline: ``numpy.fromfile`` of the same bytes.

    python bench/read.py [--quick]
"""

from __future__ import annotations

import gc
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import numpy as np
from _common import Result, median

KEY = "train/loss"


def log_series(n: int) -> str:
    import daybreak

    values = (np.cumsum(np.random.default_rng(0).standard_normal(n)) * 0.01 + 2.0).tolist()
    run = daybreak.init(
        project="bench", name=f"read-{n}", system_metrics=False, capture_output=False
    )
    for step, value in enumerate(values):
        run.log({KEY: value}, step=step)
    run.finish()
    return run.id


def timed(action: Callable[[], Any], reps: int) -> tuple[list[float], Any]:
    """Milliseconds per repetition, and the last result."""
    out = []
    result = None
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        result = action()
        out.append((time.perf_counter() - start) * 1e3)
    return out, result


def points_file(home: Path, run_id: str) -> Path:
    from daybreak.tracking.values import key_filename

    return home / "runs" / run_id / "metrics" / key_filename(KEY)


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    reps = 5 if options.quick else 21
    small, big = (100_000, 1_000_000)
    import daybreak
    from daybreak.config import get_settings
    from daybreak.tracking.downsample import downsample
    from daybreak.tracking.points import RECORD

    results = []
    details: dict[str, Any] = {}
    with _common.temp_home() as home:
        small_id, big_id = log_series(small), log_series(big)
        small_file, big_file = points_file(home, small_id), points_file(home, big_id)

        # 1. history() of a 100k-point metric on a fresh RunView
        cold, history = timed(lambda: daybreak.get_run(small_id).history(KEY), 1)
        assert len(history) == small, len(history)
        warm, _ = timed(lambda: daybreak.get_run(small_id).history(KEY), reps)
        base, _ = timed(lambda: np.fromfile(small_file, dtype=RECORD), reps)
        details["history_100k_ms"] = {"first": cold[0], "reps": warm, "fromfile": base}
        results.append(
            Result(
                "get_run(id).history(key), 100k points",
                median(warm),
                "ms",
                "np.fromfile, same bytes",
                median(base),
                50,
                note=f"reps {_common.spread(warm)} ms; first get_run in this process {cold[0]:.0f} ms",
            )
        )

        # 2. downsample 1M → 2k, in-process
        full = daybreak.get_run(big_id).history(KEY)
        assert len(full) == big, len(full)
        ours, shown = timed(lambda: downsample(full, 2000), reps)
        assert len(shown) <= 2000
        base, _ = timed(lambda: np.fromfile(big_file, dtype=RECORD), reps)
        details["downsample_1m_ms"] = {"reps": ours, "fromfile": base}
        results.append(
            Result(
                "downsample 1M → 2k points",
                median(ours),
                "ms",
                "np.fromfile of the 1M points",
                median(base),
                100,
                note=f"reps {_common.spread(ours)} ms; kept {len(shown)} points",
            )
        )

        # 3. the same through the REST API
        warnings.filterwarnings(
            "ignore", message=".*httpx.*"
        )  # Starlette's TestClient nags about httpx2
        from fastapi.testclient import TestClient

        from daybreak.web.app import create_app

        with TestClient(create_app(get_settings())) as client:
            url = f"/api/runs/{big_id}/metrics/{KEY}?points=2000"

            def fetch() -> Any:
                response = client.get(url)
                response.raise_for_status()
                return response.json()

            first, body = timed(fetch, 1)
            assert body["total"] == big and body["returned"] <= 2000, (
                body["total"],
                body["returned"],
            )
            api, _ = timed(fetch, reps)
        details["api_1m_ms"] = {"first": first[0], "reps": api}
        results.append(
            Result(
                "REST /metrics/{key}?points=2000, 1M points",
                median(api),
                "ms",
                "np.fromfile of the 1M points",
                median(base),
                100,
                note=f"reps {_common.spread(api)} ms; first request {first[0]:.0f} ms; TestClient in-process",
            )
        )
    return _common.report("read: reading and downsampling metrics", results, options, details)


if __name__ == "__main__":
    sys.exit(main())
