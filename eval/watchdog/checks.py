"""Does a trained run show what its spec meant it to? The labels come from what was logged
(the first non-finite point, the best validation loss, the last step), and a draw that did
not show its fault (a spike too small to see, a divergence that came back down) or a healthy
draw that was not healthy (it overfitted, it barely learned) is drawn again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eval.watchdog.specs import HEALTHY, Spec
from eval.watchdog.trainer import STYLES, Series, Trained

# other findings a fault run may fairly get, besides its labels: the symptoms it also shows
ALLOWED = {
    "nan": ["divergence", "loss_spike"],  # the loss often climbs or jumps before it is NaN
    "divergence": ["loss_spike"],  # the first jump of a divergence looks like a spike
    "stalled": ["gpu_idle"],  # a deadlocked loader leaves the GPU idle
}


# faults that leave the loss curves healthy
HEALTHY_CURVES = ("loss_spike", "stalled", "crashed", "throughput_drop", "gpu_idle")


class Invalid(Exception):
    """The draw does not show what its spec meant: draw again."""


def arrays(series: Series, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps, stamps, values = series[key]
    return np.asarray(steps), np.asarray(stamps, dtype=float), np.asarray(values, dtype=float)


def labels_of(spec: Spec, trained: Trained) -> list[dict[str, Any]]:
    """The run's labels, ``[{kind, onset_step}]`` (empty for a healthy run); raises
    :class:`Invalid` when the run does not show them."""
    names = STYLES[spec.style]
    series = trained.series
    if names["loss"] not in series or len(series[names["loss"]][0]) < 5:
        raise Invalid("too few loss points")
    steps, _, loss = arrays(series, names["loss"])
    kind = spec.kind
    if kind in (HEALTHY, *HEALTHY_CURVES):  # a fault that leaves the curves alone: they must
        healthy(loss)  # look healthy, or the detector would rightly say more
        if names["val_loss"] in series:
            not_overfitting(arrays(series, names["val_loss"])[2])
    elif kind in ("nan", "divergence") and (steps < (spec.onset or 0)).sum() >= 10:
        healthy(loss[steps < (spec.onset or 0)])  # it learned before it went wrong
    if kind == HEALTHY:
        return []
    if kind == "nan":
        return nan(spec, trained, names)
    finite(series, names)
    if kind in ("stalled", "crashed"):
        if len(steps) < 20:
            raise Invalid("too few points before the stop")
        return [{"kind": kind, "onset_step": int(steps[-1])}]
    onset = int(spec.onset or 0)
    if kind == "divergence":
        diverged(steps, loss, onset, spec)
    elif kind == "loss_spike":
        spiked(steps, loss, onset, spec)
    elif kind == "no_learning":
        flat(loss)
    elif kind == "overfitting":
        onset = overfitted(series, names, loss, steps)
    elif kind == "throughput_drop":
        if (steps < onset).sum() < 20 or (steps >= onset).sum() < 20:
            raise Invalid("too few points on one side of the slowdown")
        out = [{"kind": kind, "onset_step": onset}]
        if spec.variant == "slow_io_idle_gpu":
            out.append({"kind": "gpu_idle", "onset_step": onset})
        return out
    elif kind == "gpu_idle" and onset and (steps >= onset).sum() < 10:
        raise Invalid("too few points after the GPU went idle")
    return [{"kind": kind, "onset_step": onset}]


def finite(series: Series, names: dict[str, str]) -> None:
    for role in ("loss", "grad_norm", "val_loss"):
        key = names[role]
        if key in series and not np.isfinite(series[key][2]).all():
            raise Invalid(f"{key} is not finite")


def head_tail(values: np.ndarray) -> tuple[float, float]:
    """The loss where the run started and where it ended (medians of its first and last 10%)."""
    part = max(3, len(values) // 10)
    return float(np.median(values[:part])), float(np.median(values[-part:]))


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    view = np.lib.stride_tricks.sliding_window_view(values, window)
    return np.median(view, axis=1)


def healthy(loss: np.ndarray) -> None:
    if not np.isfinite(loss).all():
        raise Invalid("a healthy run has a non-finite loss")
    start, end = head_tail(loss)
    if end > 0.8 * start:
        raise Invalid(f"a healthy run barely learned ({start:.4g} -> {end:.4g})")
    best = float(smooth(loss, max(3, len(loss) // 20)).min())
    if end > best + 0.35 * (start - best):
        raise Invalid("a healthy run ended well above its best")


def not_overfitting(val: np.ndarray) -> None:
    if len(val) < 3:
        return
    smoothed = np.convolve(val, np.ones(2) / 2, mode="valid")
    best = float(smoothed.min())
    if smoothed[-1] > best + max(0.15 * (float(val[0]) - best), 0.02 * abs(best)):
        raise Invalid("a healthy run's validation loss rose")


def nan(spec: Spec, trained: Trained, names: dict[str, str]) -> list[dict[str, Any]]:
    first: int | None = None
    for role in ("loss", "grad_norm"):
        key = names[role]
        if key not in trained.series:
            continue
        steps, _, values = arrays(trained.series, key)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad) and (first is None or steps[bad[0]] < first):
            first = int(steps[bad[0]])
    if first is None:
        raise Invalid("the loss never became non-finite")
    if first < int(spec.onset or 0):
        raise Invalid("non-finite before the fault")
    out = [{"kind": "nan", "onset_step": first}]
    if trained.error:  # the script's NaN guard stopped it: failed, too
        last = int(trained.series[names["loss"]][0][-1])
        out.append({"kind": "crashed", "onset_step": last})
    return out


def diverged(steps: np.ndarray, loss: np.ndarray, onset: int, spec: Spec) -> None:
    before, after = loss[steps < onset], loss[steps >= onset]
    if len(before) < 10 or len(after) < 12:
        raise Invalid("too few points around the divergence")
    start = head_tail(loss)[0]
    pre = float(np.median(before[-max(5, len(before) // 10) :]))
    tail = after[-max(5, len(after) * 3 // 10) :]
    floor = max(pre + 0.5 * (start - pre), 1.5 * pre)
    if float(np.median(tail)) < floor or float(smooth(tail, 5).min()) < max(1.3 * pre, pre):
        raise Invalid("the loss did not climb and stay up")


def spiked(steps: np.ndarray, loss: np.ndarray, onset: int, spec: Spec) -> None:
    length = int(spec.fault["length"])
    before = loss[steps < onset][-30:]
    if len(before) < 10:
        raise Invalid("too few points before the spike")
    pre = float(np.median(before))
    noise = float(1.4826 * np.median(np.abs(np.diff(before))))
    during = loss[(steps >= onset) & (steps < onset + length + spec.log_every)]
    if not len(during) or float(during.max()) < max(3 * pre, pre + 10 * noise):
        raise Invalid("the spike is too small to see")
    settle = onset + length + max(20, spec.steps // 20)
    later = loss[steps >= settle]
    if len(later) < 10:
        raise Invalid("too few points after the spike")
    if float(np.median(later[:10])) > 1.3 * pre or head_tail(loss)[1] > 1.3 * pre:
        raise Invalid("the loss did not come back after the spike")


def flat(loss: np.ndarray) -> None:
    start, end = head_tail(loss)
    best = float(smooth(loss, max(5, len(loss) // 5)).min())
    if best < 0.95 * start or abs(end - start) > 0.05 * abs(start):
        raise Invalid(f"the loss moved ({start:.4g} -> best {best:.4g}, end {end:.4g})")


def overfitted(series: Series, names: dict[str, str], loss: np.ndarray, steps: np.ndarray) -> int:
    """The step of the best (smoothed) validation loss, after which it rose."""
    if names["val_loss"] not in series:
        raise Invalid("no validation loss")
    val_steps, _, val = arrays(series, names["val_loss"])
    if len(val) < 8:
        raise Invalid("too few evaluations")
    smoothed = np.convolve(val, np.ones(3) / 3, mode="valid")
    best = int(np.argmin(smoothed)) + 1  # the centre of the best window
    if best > len(val) - 4:
        raise Invalid("the validation loss did not rise for long")
    low = float(smoothed.min())
    end = float(val[-2:].mean())
    if end < low + max(0.25 * (float(val[0]) - low), 0.1 * abs(low)):
        raise Invalid("the validation loss did not rise enough")
    onset = int(val_steps[best])
    at_onset = float(np.median(loss[(steps <= onset)][-10:]))
    if head_tail(loss)[1] > 0.8 * at_onset:
        raise Invalid("the training loss did not keep falling")
    return onset
