"""Start-up time and memory of the SDK, each measured in fresh subprocesses.

1. ``import daybreak`` + ``daybreak.init()`` (default arguments, as a training script calls it)
   timed inside a fresh interpreter (floor ≤ 0.3 s, median of 7). Baseline: the wall time of
   ``python -c pass``. Reported separately, with no floor: the time until the run is
   registered in the database (``run.flush()`` returned), once with a fresh home (the SQLite
   schema is created) and once with an existing database.
2. RSS added by logging 1M points (100k calls of 10 scalars, as fast as possible), measured with
   psutil: after import + init + registration vs after logging + ``run.flush()`` (floor ≤ 30 MB).
   Baseline: a process with the same imports and init that logs nothing, over the same span.

    python bench/startup.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
from _common import Result, median

STARTUP = r"""
import time
t0 = time.perf_counter()
import daybreak
run = daybreak.init(project="bench", name="startup")
t1 = time.perf_counter()
run.flush()
t2 = time.perf_counter()
import json
print("RESULT " + json.dumps({"init": t1 - t0, "registered": t2 - t0, "ok": run._writer.registered.is_set()}))
run.finish()
"""

MEMORY = r"""
import gc, json, resource, sys
import numpy, psutil  # a training script has numpy loaded (torch imports it); psutil measures
import daybreak
log_points = int(sys.argv[1])
process = psutil.Process()
run = daybreak.init(project="bench", name="memory", system_metrics=False, capture_output=False)
run.flush()
gc.collect()
before = process.memory_info().rss
for step in range(log_points // 10):
    v = step * 1e-3
    run.log({"train/k0": v, "train/k1": v, "train/k2": v, "train/k3": v, "train/k4": v,
             "train/k5": v, "train/k6": v, "train/k7": v, "train/k8": v, "train/k9": v}, step=step)
run.flush()
gc.collect()
after = process.memory_info().rss
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
written = run._writer.points_written
run.finish()
print("RESULT " + json.dumps({"before": before, "after": after, "peak": peak, "written": written}))
"""


def python(code: str, home: Path, *argv: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds of a fresh interpreter running ``code``, and the JSON it printed."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=_common.bench_env(home),
        capture_output=True,
        text=True,
        cwd=home,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"subprocess failed ({done.returncode}):\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return wall, (json.loads(lines[-1][len("RESULT ") :]) if lines else {})


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    reps = 3 if options.quick else 7
    mem_reps = 1 if options.quick else 3
    log_points = 1_000_000
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shared = root / "shared"
        shared.mkdir()
        python(STARTUP, shared)  # creates the database the "existing DB" repetitions use
        bare, fresh, existing = [], [], []
        for rep in range(reps):  # interleaved, so drift hits every variant alike
            bare.append(python("pass", root)[0])
            home = root / f"fresh{rep}"
            home.mkdir()
            fresh.append(python(STARTUP, home)[1])
            existing.append(python(STARTUP, shared)[1])
        assert all(r["ok"] for r in fresh + existing), "a run was not registered"
        init = [r["init"] for r in fresh + existing]
        reg_fresh = [r["registered"] for r in fresh]
        reg_existing = [r["registered"] for r in existing]
        details["startup_s"] = {
            "python_pass": bare,
            "init": init,
            "registered_fresh": reg_fresh,
            "registered_existing": reg_existing,
        }

        mem_log, mem_base = [], []
        for rep in range(mem_reps):
            home = root / f"mem{rep}"
            home.mkdir()
            mem_base.append(python(MEMORY, home, "0")[1])
            mem_log.append(python(MEMORY, home, str(log_points))[1])
        assert all(r["written"] == log_points for r in mem_log), [r["written"] for r in mem_log]
        details["memory_bytes"] = {"logging": mem_log, "no_logging": mem_base}

    mb = 1 / 2**20
    added = [(r["after"] - r["before"]) * mb for r in mem_log]
    base_added = [(r["after"] - r["before"]) * mb for r in mem_base]
    base_rss = median([r["after"] * mb for r in mem_base])
    peak_added = [(r["peak"] - r["before"]) * mb for r in mem_log]
    results = [
        Result(
            "import daybreak + init(), fresh process",
            median(init),
            "s",
            "python -c pass (whole process)",
            median(bare),
            0.3,
            note=f"reps {_common.spread(init)} s, {len(init)} processes (fresh and existing DB)",
        ),
        Result(
            "… until registered in the DB, fresh home (creates schema)",
            median(reg_fresh),
            "s",
            "python -c pass (whole process)",
            median(bare),
            note="info, no floor: import + init + run.flush(); the loop does not wait for this",
        ),
        Result(
            "… until registered in the DB, existing DB",
            median(reg_existing),
            "s",
            "python -c pass (whole process)",
            median(bare),
            note="info, no floor: import + init + run.flush(); the loop does not wait for this",
        ),
        Result(
            "RSS added by logging 1M points (after flush)",
            median(added),
            "MB",
            "RSS of the same process logging nothing",
            base_rss,
            30,
            note=f"reps {_common.spread(added)} MB; the process logging nothing changed by "
            f"{_common.fmt(median(base_added))} MB over the same span; ratio = share added to the process",
        ),
        Result(
            "peak RSS while logging 1M points as fast as possible",
            median(peak_added),
            "MB",
            "RSS of the same process logging nothing",
            base_rss,
            note="info, no floor: peak above the pre-logging RSS; the queue holds what the writer "
            "has not drained yet",
        ),
    ]
    return _common.report("startup: start-up time and memory", results, options, details)


if __name__ == "__main__":
    sys.exit(main())
