"""One function per kind of finding, over numpy arrays of a run's points.

Every threshold is relative to the run itself, so nothing needs tuning per run: the noise of
its points (a robust estimate from successive differences), how much it had learned (its
initial loss minus its best so far), its own step interval and its own longest pause.
"""

from __future__ import annotations

import numpy as np

from daybreak.tracking.points import History
from daybreak.watchdog.findings import Finding

MIN_POINTS = 30


def window_of(count: int) -> int:
    return int(np.clip(count // 40, 5, 200))


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centre-free trailing median: point i summarises points i-window+1..i."""
    if len(values) < window:
        return np.full(len(values), np.median(values)) if len(values) else values
    view = np.lib.stride_tricks.sliding_window_view(values, window)
    head = np.array([np.median(values[: i + 1]) for i in range(window - 1)])
    return np.concatenate([head, np.median(view, axis=1)])


def noise_of(values: np.ndarray) -> float:
    """Robust standard deviation of the point-to-point noise."""
    if len(values) < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(np.diff(values))) / np.sqrt(2))


def finite_prefix(history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, timestamps and values up to the first non-finite value."""
    bad = np.flatnonzero(~np.isfinite(history.values))
    end = int(bad[0]) if len(bad) else len(history.values)
    return history.steps[:end], history.timestamps[:end], history.values[:end]


def nan(history: History, role: str) -> Finding | None:
    bad = np.flatnonzero(~np.isfinite(history.values))
    if not len(bad):
        return None
    index = int(bad[0])
    step = int(history.steps[index])
    what = "NaN" if np.isnan(history.values[index]) else "infinite"
    return Finding(
        "nan",
        "critical",
        step,
        f"{history.key} became {what} at step {step}",
        "lower the learning rate, enable gradient clipping, check for log(0) or a division by "
        "zero in the loss, or train in fp32/bf16 instead of fp16",
        {"key": history.key, "role": role, "last_finite": _last_finite(history.values, index)},
    )


def _last_finite(values: np.ndarray, index: int) -> float | None:
    before = values[:index][np.isfinite(values[:index])]
    return float(before[-1]) if len(before) else None


def divergence(history: History) -> Finding | None:
    """The loss climbs well above its best and stays there."""
    steps, _, values = finite_prefix(history)
    if len(values) < MIN_POINTS:
        return None
    window = window_of(len(values))
    smooth = rolling_median(values, window)
    best = np.minimum.accumulate(smooth)
    start = float(np.median(values[:window]))
    learned = np.maximum(start - best, 0.0)
    noise = noise_of(values) / np.sqrt(window) + 1e-12 * max(abs(start), 1.0)
    margin = np.maximum(0.5 * learned, 8 * noise)
    margin = np.maximum(margin, 0.05 * np.abs(best))
    above = smooth - best > margin
    confirm = max(3 * window, len(values) // 20)
    run = _longest_tail_run(above)
    if run < confirm:
        return None
    onset = len(values) - run
    tail = smooth[onset:]
    if tail[-1] < tail[0] - 0.5 * (tail[0] - best[onset]):  # coming back down: a recovery
        return None
    known = min(onset + confirm, len(values) - 1)
    return Finding(
        "divergence",
        "critical",
        int(steps[known]),
        f"{history.key} rose from its best {best[onset]:.4g} to {smooth[-1]:.4g} from step "
        f"{int(steps[onset])} on and has not come back",
        "restart from the last checkpoint before the onset with a lower learning rate "
        "(x 0.5) and gradient clipping on",
        {
            "key": history.key,
            "onset_step": int(steps[onset]),
            "best": float(best[onset]),
            "now": float(smooth[-1]),
        },
    )


def _longest_tail_run(flags: np.ndarray) -> int:
    """How many of the last values are all True."""
    false = np.flatnonzero(~flags)
    return len(flags) if not len(false) else len(flags) - 1 - int(false[-1])


def loss_spike(history: History) -> Finding | None:
    """A short burst far above the loss around it that comes back down."""
    steps, _, values = finite_prefix(history)
    if len(values) < MIN_POINTS:
        return None
    window = window_of(len(values))
    level = rolling_median(values, window)
    noise = noise_of(values) + 1e-12
    start = float(np.median(values[:window]))
    learned = max(start - float(level.min()), 0.0)
    excess = values - level
    big = (excess > 12 * noise) & (excess > 0.25 * max(learned, float(np.median(np.abs(level)))))
    spikes = np.flatnonzero(big)
    for index in spikes.tolist():
        after = values[index + 1 : index + 1 + window]
        if len(after) < window:
            break
        if np.median(after) <= level[index] + 3 * noise:  # it recovered
            step = int(steps[min(index + window, len(steps) - 1)])
            return Finding(
                "loss_spike",
                "warning",
                step,
                f"{history.key} spiked to {values[index]:.4g} at step {int(steps[index])} "
                f"(around {level[index]:.4g}) and recovered",
                "usually a bad batch: check the data around that step; if spikes repeat, lower "
                "the learning rate or clip gradients",
                {"key": history.key, "spike_step": int(steps[index]), "spikes": len(spikes)},
            )
    return None


def no_learning(history: History, lr: History | None) -> Finding | None:
    """The loss has not moved from where it started."""
    steps, _, values = finite_prefix(history)
    if len(values) < 2 * MIN_POINTS:
        return None
    if (
        lr is not None
        and len(lr.values) > 3
        and lr.values[-1] > lr.values[: len(lr.values) // 2].max()
    ):
        return None  # still warming up
    window = max(
        window_of(len(values)), len(values) // 8
    )  # wide: the noise must not look like learning
    start = float(np.median(values[:window]))
    smooth = rolling_median(values, window)
    drop = start - float(smooth[window:].min()) if len(smooth) > window else 0.0
    noise = noise_of(values)
    if drop > max(0.02 * abs(start), 3 * noise / np.sqrt(window)):
        return None
    known = int(steps[min(len(steps) - 1, max(2 * MIN_POINTS, len(steps) // 4))])
    return Finding(
        "no_learning",
        "warning",
        known,
        f"{history.key} has not moved from {start:.4g} in {len(values)} points",
        "check that the learning rate is not ~0, that gradients reach the weights (frozen "
        "layers, detached tensors), and that labels match inputs",
        {"key": history.key, "start": start, "best": float(smooth.min())},
    )


def overfitting(train: History, val: History) -> Finding | None:
    """Validation loss rises from its best while the training loss keeps falling."""
    steps, _, values = finite_prefix(val)
    if len(values) < 4:
        return None
    best = int(np.argmin(values))
    if best >= len(values) - 2:
        return None
    span = max(float(values[0] - values[best]), 1e-12)
    rise = values[best + 1 :] - values[best]
    limit = max(0.1 * span, 0.02 * abs(float(values[best])))
    above = rise > limit
    if not (above[-1] and above.sum() >= 2):
        return None
    t_steps, _, t_values = finite_prefix(train)
    after = t_values[t_steps >= steps[best]]
    if len(after) < 4 or np.median(after[-max(2, len(after) // 5) :]) >= np.median(
        after[: max(2, len(after) // 5)]
    ):
        return None  # training loss is not falling: not overfitting
    first = (
        best + 1 + int(np.flatnonzero(above)[1] if above.sum() >= 2 else np.flatnonzero(above)[0])
    )
    return Finding(
        "overfitting",
        "warning",
        int(steps[min(first, len(steps) - 1)]),
        f"{val.key} rose from its best {values[best]:.4g} (step {int(steps[best])}) to "
        f"{values[-1]:.4g} while {train.key} kept falling",
        "keep the checkpoint from the best validation step; add regularisation or data, or stop earlier",
        {
            "key": val.key,
            "best_step": int(steps[best]),
            "best": float(values[best]),
            "now": float(values[-1]),
        },
    )


def throughput_drop(history: History) -> Finding | None:
    """Steps became several times slower and stayed so."""
    steps, stamps, _ = history.steps, history.timestamps, history.values
    if len(steps) < 2 * MIN_POINTS:
        return None
    per_step = np.diff(stamps) / np.maximum(np.diff(steps), 1)
    window = max(10, len(per_step) // 20)
    baseline = float(np.median(per_step[: len(per_step) // 2]))
    if baseline <= 0:
        return None
    slow = rolling_median(per_step, window) > 3 * baseline
    run = _longest_tail_run(slow)
    if run < window:
        return None
    onset = len(per_step) - run
    recent = float(np.median(per_step[onset:]))
    return Finding(
        "throughput_drop",
        "warning",
        int(steps[min(onset + window, len(steps) - 1)]),
        f"steps take {recent / baseline:.1f}x as long since step {int(steps[onset])} "
        f"({recent:.3g} s against {baseline:.3g} s)",
        "look for a data loader bottleneck, another job on the same GPU, thermal throttling or "
        "a slow disk",
        {"baseline_s": baseline, "recent_s": recent, "onset_step": int(steps[onset])},
    )


def stalled(last_ts: float, intervals: np.ndarray, now: float, last_step: int) -> Finding | None:
    """No new step for much longer than the run's own cadence and longest pause."""
    if len(intervals) < 3:
        return None
    typical = float(np.median(intervals))
    longest = float(intervals.max())
    limit = max(60.0, 20 * typical, 3 * longest)
    silent = now - last_ts
    if silent <= limit:
        return None
    return Finding(
        "stalled",
        "critical",
        last_step,
        f"no new step for {silent:.0f} s (it usually takes {typical:.3g} s; the longest pause "
        f"was {longest:.0f} s) while the process is alive",
        "look at the log for a hang (a deadlock in data loading, a collective waiting on a "
        "dead rank); stop and restart it from its last checkpoint",
        {"silent_s": silent, "typical_s": typical, "longest_s": longest},
    )


def gpu_idle(util: History, train_ts: np.ndarray, step_at: int) -> Finding | None:
    """GPU utilisation low while training steps arrive."""
    if len(util.values) < 5 or len(train_ts) < 2:
        return None
    during = (util.timestamps >= train_ts[0]) & (util.timestamps <= train_ts[-1])
    values = util.values[during]
    if len(values) < 5 or np.median(values) >= 20:
        return None
    return Finding(
        "gpu_idle",
        "warning",
        step_at,
        f"{util.key} was {np.median(values):.0f}% (median) while the run trained",
        "the GPU waits for data: more DataLoader workers, pinned memory, the lake's pre-decoded "
        "cache or GPU decoding; or a larger batch",
        {"key": util.key, "median_percent": float(np.median(values))},
    )
