"""Downsampling a series to N points while keeping its extremes and non-finite values."""

from __future__ import annotations

import numpy as np

from daybreak.tracking.points import History


def downsample_indices(values: np.ndarray, points: int) -> np.ndarray:
    """Indices of at most ``points`` samples: the first, the last, and per bucket the minimum,
    the maximum and the first NaN/Inf, so no spike and no divergence disappears from a chart."""
    n = len(values)
    if points <= 0 or n <= points:
        return np.arange(n)
    chosen = _pick(values, max(1, (points - 4) // 2))
    if len(chosen) > points:  # many non-finite buckets: fall back to a third of the budget each
        chosen = _pick(values, max(1, (points - 2) // 3))
    return chosen


def _pick(values: np.ndarray, buckets: int) -> np.ndarray:
    n = len(values)
    size = -(-n // buckets)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = values
    grid = padded.reshape(buckets, size)
    finite = np.isfinite(grid)
    base = np.arange(buckets) * size
    lows = np.where(finite, grid, np.inf).argmin(axis=1) + base
    highs = np.where(finite, grid, -np.inf).argmax(axis=1) + base
    real = np.zeros(buckets * size, dtype=bool)
    real[:n] = True
    odd = ~finite & real.reshape(buckets, size)
    has_odd = odd.any(axis=1)
    odd_idx = (odd.argmax(axis=1) + base)[has_odd]
    chosen = np.concatenate(([0, n - 1], lows, highs, odd_idx))
    chosen = chosen[chosen < n]
    return np.unique(chosen)


def downsample(history: History, points: int) -> History:
    idx = downsample_indices(history.values, points)
    if len(idx) == len(history):
        return history
    return History(history.key, history.steps[idx], history.timestamps[idx], history.values[idx])
