"""Task metrics the accuracy gate judges exports by: top-1 for classifiers, PCK for keypoints,
or any callback that scores a model's predictions on the validation inputs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

Score = Callable[[Any], float]  # predictions (numpy, one row per validation input) -> [0, 1]


@dataclasses.dataclass(frozen=True)
class Task:
    """``kind`` picks the budget: "classification" (top-1 drop and flipped predictions),
    "keypoints" (PCK drop) or "other" (the generic drop in points)."""

    name: str
    score: Score
    kind: str = "other"


def classification(labels: Any) -> Task:
    """Top-1 accuracy against integer ``labels``; predictions are class scores [N, C]."""
    import numpy as np

    truth = np.asarray(labels)
    return Task(
        "top1", lambda pred: float((np.asarray(pred).argmax(1) == truth).mean()), "classification"
    )


def keypoints(targets: Any, alpha: float = 0.1) -> Task:
    """PCK@alpha against ``targets`` [N, K, 3] (x, y, visibility), as the zoo measures it:
    within alpha x the longer side of the box around each instance's visible keypoints."""
    import numpy as np

    truth = np.asarray(targets, dtype=np.float64)

    def pck(pred: Any) -> float:
        visible = truth[..., 2] > 0
        xy = truth[..., :2]
        low = np.where(visible[..., None], xy, np.inf).min(1)
        high = np.where(visible[..., None], xy, -np.inf).max(1)
        scale = np.clip((high - low).max(-1), 1e-6, None)
        distance = np.linalg.norm(np.asarray(pred, dtype=np.float64) - xy, axis=-1)
        correct = (distance <= alpha * scale[:, None]) & visible
        return float(correct.sum() / max(int(visible.sum()), 1))

    return Task(f"pck@{alpha:g}", pck, "keypoints")


def flipped(reference: Any, pred: Any) -> float:
    """Share of rows whose top class differs between two sets of class scores."""
    import numpy as np

    return float((np.asarray(reference).argmax(1) != np.asarray(pred).argmax(1)).mean())


def mean_iou(masks: Any) -> Task:
    """Mean IoU of background and foreground against 0/1 ``masks`` [N, 1, H, W]; predictions
    are one logit per pixel (foreground where the logit is above 0)."""
    import numpy as np

    truth = np.asarray(masks) > 0.5

    def score(pred: Any) -> float:
        fg = np.asarray(pred) > 0
        ious = []
        for mine, theirs in ((~fg, ~truth), (fg, truth)):
            union = int((mine | theirs).sum())
            ious.append(int((mine & theirs).sum()) / union if union else 1.0)
        return float(np.mean(ious))

    return Task("miou", score, "other")


def detection_map(split: Any) -> Task:
    """mAP@0.5 of the zoo's detector decoding (heatmap peaks) against the split's boxes."""
    import numpy as np
    import torch

    from daybreak.zoo import detection

    truths = detection.box_targets(split)

    def score(pred: Any) -> float:
        found = detection.decode(torch.from_numpy(np.ascontiguousarray(pred)))
        return detection.average_precision(found, truths)

    return Task("map@0.5", score, "other")
