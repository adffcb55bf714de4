"""Detection maps to boxes in numpy (the server has no torch): a port of
:func:`daybreak.zoo.detection.decode`. Per class a centre heatmap logit, then per cell the box
size (in cells) and the centre's offset in its cell; detections are the heatmaps' 3x3 local
maxima."""

from __future__ import annotations

from typing import Any

LIMIT = 10


def sigmoid(x: Any) -> Any:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-x))


def local_maxima(prob: Any) -> Any:
    """``prob`` where it is the maximum of its 3x3 neighbourhood, else 0 ([C, H, W])."""
    import numpy as np

    height, width = prob.shape[-2:]
    padded = np.pad(prob, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    pooled = np.max(
        [padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)], axis=0
    )
    return np.where(pooled == prob, prob, 0.0)


def decode(maps: Any, classes: int, stride: float, limit: int = LIMIT) -> Any:
    """[D, 6] detections of one image (class, score, x, y, w, h in input pixels), best
    ``limit`` by score; ``maps`` is the model's [classes + 4, H, W] output."""
    import numpy as np

    maps = maps.astype(np.float64)
    peaks = local_maxima(sigmoid(maps[:classes]))
    height, width = peaks.shape[-2:]
    flat = peaks.ravel()
    where = np.argsort(-flat, kind="stable")[: min(limit, flat.size)]
    kind, rest = np.divmod(where, height * width)
    j, i = np.divmod(rest, width)
    w = np.clip(maps[classes, j, i], 0, None) * stride
    h = np.clip(maps[classes + 1, j, i], 0, None) * stride
    cx = (i + sigmoid(maps[classes + 2, j, i])) * stride
    cy = (j + sigmoid(maps[classes + 3, j, i])) * stride
    return np.stack([kind, flat[where], cx - w / 2, cy - h / 2, w, h], -1)
