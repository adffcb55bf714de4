"""Overhead of logging every step of a tiny real PyTorch training loop.

An MLP (512→512→512→10, batch 96, SGD with momentum, random data, CPU, one thread, ~3-5 ms per
step) trains in short blocks of steps, alternately without (A) and with (B)
``run.log({"train/loss": loss.detach(), "train/lr": lr, "train/epoch": e}, step=i)`` on every
step, in the order A B B A A B B A… so that drift cancels. Blocks are short (~40 ms) because this
machine is shared: other processes come and go within a second, and only neighbouring blocks see
the same conditions. Each A/B pair gives mean step B / mean step A - 1; the figure is the median
over all pairs (floor ≤ 1%), with a bootstrap confidence interval.

The background threads drain the queue every 0.5 s and update the index every 2 s (the
heartbeat at least every 5 s), so part of their work for a B block may land in an A block;
their whole CPU time is therefore also measured directly (per-thread CPU time from
/proc/self/task/TID/schedstat) and reported per logged step.

    python bench/train_overhead.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import _common
from _common import Result, median


def build() -> Any:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batches = [(torch.randn(96, 512), torch.randint(0, 10, (96,))) for _ in range(16)]
    return model, optimizer, torch.nn.CrossEntropyLoss(), batches


class Trainer:
    def __init__(self, run: Any) -> None:
        self.model, self.optimizer, self.loss_fn, self.batches = build()
        self.run = run
        self.step = 0
        self.logged = 0
        self.log_seconds = 0.0  # time spent inside run.log, measured around each call

    def block(self, steps: int, log: bool) -> float:
        """Mean milliseconds per step over ``steps`` training steps."""
        model, optimizer, loss_fn, batches = self.model, self.optimizer, self.loss_fn, self.batches
        run_log = self.run.log
        start = time.perf_counter()
        for _ in range(steps):
            x, y = batches[self.step % len(batches)]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            if log:
                lr = optimizer.param_groups[0]["lr"]
                called = time.perf_counter()
                run_log(
                    {"train/loss": loss.detach(), "train/lr": lr, "train/epoch": self.step // 1000},
                    step=self.step,
                )
                self.log_seconds += time.perf_counter() - called
            self.step += 1
        if log:
            self.logged += steps
        return (time.perf_counter() - start) / steps * 1e3


def background_cpu_seconds() -> float:
    """CPU time of Daybreak's background threads (writer, indexer, …) in this process, in ns
    resolution from Linux schedstat (psutil's 10 ms ticks where that is missing)."""
    import threading

    ids = [
        t.native_id for t in threading.enumerate() if t.name.startswith("daybreak") and t.native_id
    ]
    total = 0.0
    for native_id in ids:
        try:
            with open(f"/proc/self/task/{native_id}/schedstat") as handle:
                total += int(handle.read().split()[0]) / 1e9
        except OSError:
            import psutil

            times = {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}
            total += float(times.get(native_id, 0.0))
    return total


def bootstrap_ci(values: list[float], draws: int = 5000) -> tuple[float, float]:
    """95% confidence interval of the median, by resampling the pairs."""
    import numpy as np

    rng = np.random.default_rng(0)
    sample = np.asarray(values)
    medians = np.median(rng.choice(sample, size=(draws, len(sample))), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    pairs = 150 if options.quick else 800
    steps = 10
    import daybreak

    with _common.temp_home():
        run = daybreak.init(
            project="bench", name="train-overhead", system_metrics=False, capture_output=False
        )
        trainer = Trainer(run)
        for _ in range(20):  # warm-up: allocator, first log of each key, writer imports
            trainer.block(steps, True)
            trainer.block(steps, False)
        run.flush()
        writer_before, logged_before = background_cpu_seconds(), trainer.logged
        trainer.log_seconds = 0.0
        plain, logged, overheads = [], [], []
        for pair in range(pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            times = {log: trainer.block(steps, log) for log in order}
            plain.append(times[False])
            logged.append(times[True])
            overheads.append((times[True] / times[False] - 1) * 100)
        run.flush()
        writer_cpu = background_cpu_seconds() - writer_before
        writer_us_per_step = writer_cpu / (trainer.logged - logged_before) * 1e6
        caller_us_per_step = trainer.log_seconds / (trainer.logged - logged_before) * 1e6
        points = len(daybreak.get_run(run.id).history("train/loss"))
        run.finish()
    assert points == trainer.logged, (points, trainer.logged)
    low, high = bootstrap_ci(overheads)
    step_ms = median(plain)
    pooled = (statistics.fmean(logged) / statistics.fmean(plain) - 1) * 100
    details = {
        "ci95_pct": [low, high],
        "plain_ms": plain,
        "logged_ms": logged,
        "overhead_pct": overheads,
        "steps_per_block": steps,
        "writer_cpu_us_per_logged_step": writer_us_per_step,
        "caller_us_per_logged_step": caller_us_per_step,
    }
    results = [
        Result(
            "training step overhead of run.log every step",
            median(overheads),
            "%",
            "step time without logging",
            step_ms,
            1.0,
            baseline_unit="ms/step",
            ratio_value=1 + median(overheads) / 100,
            note=f"{pairs} A/B block pairs x {steps} steps; 95% bootstrap CI of the median "
            f"{low:+.2f}…{high:+.2f} %; pooled mean B / mean A - 1: {pooled:+.2f} %; "
            f"step {step_ms:.3f} ms without, {median(logged):.3f} ms with logging "
            f"(about {median(overheads) / 100 * step_ms * 1e3:.0f} µs per step); "
            f"{points:,} loss points read back",
        ),
        Result(
            "time inside run.log per step (3 scalars, loss as tensor)",
            caller_us_per_step,
            "µs",
            "step time without logging",
            step_ms * 1e3,
            baseline_unit="µs",
            ratio_value=caller_us_per_step / (step_ms * 1e3),
            note="info, no floor: measured around each call in the B blocks; the part of the overhead "
            "the loop pays directly",
        ),
        Result(
            "background threads' CPU per logged step (3 scalars)",
            writer_us_per_step,
            "µs",
            "step time without logging",
            step_ms * 1e3,
            baseline_unit="µs",
            ratio_value=writer_us_per_step / (step_ms * 1e3),
            note="info, no floor: background CPU measured directly; it runs beside the loop on the other "
            "core and only contends for the GIL",
        ),
    ]
    title = "train_overhead: tiny real training loop, with and without logging"
    return _common.report(title, results, options, details)


if __name__ == "__main__":
    sys.exit(main())
