"""How long the watchdog's rules take on one long run: each rule on a synthetic run of 10,000
and 100,000 points (a training loss with warm-up and noise, a gradient norm, a learning
rate, a validation loss, GPU samples), best of a few cold repeats, and all of them in one pass.

    python -m eval.watchdog.speed [--points 10000 100000] [--repeat 7]

The issue's floor is one watchdog pass over 200 live runs holding 2M points in under 1 s: all
rules on one 10,000-point run must take well under 5 ms (2 ms leaves room for the rest).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from daybreak.tracking.points import History
from daybreak.watchdog import rules

T0 = 1_790_000_000.0


def run_of(points: int, seed: int = 0) -> dict[str, History]:
    """A healthy-looking run: the loss falls with noise after a warm-up, steps every ~0.1 s."""
    rng = np.random.default_rng(seed)
    steps = np.arange(points)
    stamps = T0 + np.cumsum(rng.lognormal(np.log(0.1), 0.1, points))
    lr = 1e-3 * np.minimum(1.0, (steps + 1) / (0.05 * points))
    loss = 0.3 + 2.0 * np.exp(-5 * steps / points) + 0.05 * rng.standard_normal(points)
    grad = np.abs(1 + 0.2 * rng.standard_normal(points))
    every = max(1, points // 30)
    samples = np.linspace(stamps[0], stamps[-1], 200)
    return {
        "loss": History("train/loss", steps, stamps, loss),
        "grad_norm": History("train/grad_norm", steps, stamps, grad),
        "lr": History("train/lr", steps, stamps, lr),
        "val_loss": History("val/loss", steps[::every], stamps[::every], loss[::every] + 0.1),
        "util": History("sys/gpu0/util_percent", np.arange(200), samples, np.full(200, 85.0)),
    }


def checks(run: dict[str, History]) -> dict[str, Callable[[], Any]]:
    loss = run["loss"]
    intervals = np.diff(loss.timestamps)
    return {
        "nan (loss, grad_norm)": lambda: (
            rules.nan(loss, "loss"),
            rules.nan(run["grad_norm"], "g"),
        ),
        "divergence": lambda: rules.divergence(loss),
        "loss_spike": lambda: rules.loss_spike(loss),
        "no_learning": lambda: rules.no_learning(loss, run["lr"]),
        "overfitting": lambda: rules.overfitting(loss, run["val_loss"]),
        "throughput_drop": lambda: rules.throughput_drop(loss),
        "stalled": lambda: rules.stalled(loss.timestamps[-1], intervals, loss.timestamps[-1], 0),
        "gpu_idle": lambda: rules.gpu_idle(run["util"], loss.timestamps, loss.steps),
    }


def best_ms(call: Callable[[], Any], repeat: int) -> float:
    """Best of ``repeat`` cold calls: the loss's trend, which divergence computes and
    loss_spike reuses within a pass, is forgotten before each."""
    times = []
    for _ in range(repeat + 1):
        rules._LAST.clear()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1e3 * min(times[1:])


def one_pass(run: dict[str, History]) -> Callable[[], Any]:
    """Every rule once, in the order diagnose calls them (divergence before loss_spike)."""
    every = list(checks(run).values())
    return lambda: [call() for call in every]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    for points in args.points:
        timings = {
            name: best_ms(call, args.repeat) for name, call in checks(run_of(points)).items()
        }
        print(f"{points} points")
        for name, ms in timings.items():
            print(f"  {name:<22}{ms:8.2f} ms")
        total = best_ms(one_pass(run_of(points)), args.repeat)
        print(
            f"  {'all rules, one pass':<22}{total:8.2f} ms  ({2_000_000 // points} such runs: "
            f"{total * 2_000_000 / points / 1e3:.2f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
