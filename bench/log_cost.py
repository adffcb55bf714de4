"""Caller cost of ``run.log`` per scalar, against appending the same dict to a list.

Floors: ≤ 2 µs per scalar when logging a dict of 10 scalars per call, ≤ 5 µs per scalar when
logging one scalar per call. The loop builds a fresh dict each step (as a training loop does)
in both the Daybreak loop and the baseline loop. The background writer runs while the loop
runs, so its share of the GIL is in the figure. TensorBoard's ``add_scalar`` is measured in
the same process for context.

    python bench/log_cost.py [--quick]
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from typing import Any

import _common
from _common import Result, median

KEYS10 = [f"train/k{i}" for i in range(10)]


def loop_dict10(sink: Any, calls: int) -> float:
    """Seconds for ``calls`` calls of ``sink(dict_of_10, step)``."""
    a = b = c = d = e = f = g = h = k = m = 0.5
    start = time.perf_counter()
    for i in range(calls):
        sink(
            {
                "train/k0": a,
                "train/k1": b,
                "train/k2": c,
                "train/k3": d,
                "train/k4": e,
                "train/k5": f,
                "train/k6": g,
                "train/k7": h,
                "train/k8": k,
                "train/k9": m,
            },
            i,
        )
    return time.perf_counter() - start


def loop_single(sink: Any, calls: int) -> float:
    loss = 0.5
    start = time.perf_counter()
    for i in range(calls):
        sink({"train/loss": loss}, i)
    return time.perf_counter() - start


def loop_tensor(sink: Any, calls: int) -> float:
    import torch

    loss = torch.tensor(0.5)
    start = time.perf_counter()
    for i in range(calls):
        sink({"train/loss": loss.detach()}, i)
    return time.perf_counter() - start


def measure(loop: Any, make_sink: Any, calls: int, reps: int, scalars: int) -> list[float]:
    """µs per scalar for each repetition (a fresh sink each time, not timed)."""
    out = []
    for _ in range(reps):
        sink, done = make_sink()
        gc.collect()
        seconds = loop(sink, calls)
        done()
        out.append(seconds / (calls * scalars) * 1e6)
    return out


def list_sink() -> tuple[Any, Any]:
    items: list[Any] = []

    def sink(metrics: Any, step: int) -> None:
        items.append(metrics)

    return sink, items.clear


def daybreak_sink() -> tuple[Any, Any]:
    import daybreak

    run = daybreak.init(
        project="bench", name="log-cost", system_metrics=False, capture_output=False
    )
    log = run.log

    def sink(metrics: Any, step: int) -> None:
        log(metrics, step=step)

    def done() -> None:
        run.flush()
        run.finish()

    # the first call of a key goes through validation; steady state is what a loop sees
    log({k: 0.0 for k in KEYS10} | {"train/loss": 0.0}, step=0)
    return sink, done


def tensorboard_sink(logdir: str) -> tuple[Any, Any]:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(logdir)

    def sink(metrics: Any, step: int) -> None:
        for key, value in metrics.items():
            writer.add_scalar(key, value, step)

    return sink, writer.close


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    calls = 20_000 if options.quick else 100_000
    reps = 3 if options.quick else 7
    tb_scalars = 2_000 if options.quick else 10_000
    results = []
    details: dict[str, Any] = {"calls": calls, "reps": reps}
    with _common.temp_home():
        for label, loop, scalars, floor in (
            ("dict of 10 scalars per call", loop_dict10, 10, 2.0),
            ("1 scalar per call", loop_single, 1, 5.0),
        ):
            # interleave so drift hits both the same way: base, daybreak, base, daybreak…
            base, ours = [], []
            for _ in range(reps):
                base += measure(loop, list_sink, calls, 1, scalars)
                ours += measure(loop, daybreak_sink, calls, 1, scalars)
            with tempfile.TemporaryDirectory() as logdir:
                tb = measure(
                    loop, lambda d=logdir: tensorboard_sink(d), tb_scalars // scalars, 3, scalars
                )
            details[label] = {"daybreak_us": ours, "list_us": base, "tensorboard_us": tb}
            results.append(
                Result(
                    f"run.log, {label}",
                    median(ours),
                    "µs/scalar",
                    "list.append of the same dict",
                    median(base),
                    floor,
                    note=f"reps {_common.spread(ours)} µs; {calls:,} calls per rep",
                )
            )
            results.append(
                Result(
                    f"TensorBoard add_scalar, {label}",
                    median(tb),
                    "µs/scalar",
                    "run.log (same loop)",
                    median(ours),
                    note="context only: SummaryWriter.add_scalar per scalar, same loop",
                )
            )
        base, ours = [], []
        for _ in range(reps):
            base += measure(loop_tensor, list_sink, calls // 2, 1, 1)
            ours += measure(loop_tensor, daybreak_sink, calls // 2, 1, 1)
        details["1 CPU tensor per call"] = {"daybreak_us": ours, "list_us": base}
        results.append(
            Result(
                "run.log, 1 CPU tensor (loss.detach()) per call",
                median(ours),
                "µs/scalar",
                "list.append of the same dict",
                median(base),
                note="context: CPU tensor scalars of known keys take the fast path (.item() at once); no floor",
            )
        )
    return _common.report("log_cost: caller cost of run.log", results, options, details)


if __name__ == "__main__":
    sys.exit(main())
