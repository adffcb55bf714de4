"""A model's outputs as what they mean for its category: class probabilities, named keypoints
in the input image's pixels, a mask PNG with class coverage, boxes; anything else as raw lists.
An output whose shape does not fit its category is answered raw too."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

from daybreak.serve import boxes

MIN_SCORE = 0.25


def describe(
    category: str,
    prep: dict[str, Any],
    names: list[str],
    outputs: list[Any],
    sizes: list[tuple[int, int]],
    min_score: float = MIN_SCORE,
) -> list[dict[str, Any]]:
    """One dict per row of the first output."""
    first = outputs[0]
    labels = [str(v) for v in prep.get("labels") or []]
    if category in ("classification", "text") and first.ndim == 2:
        return classification(first, labels)
    if category in ("pose", "face") and first.ndim == 3 and first.shape[-1] in (2, 3):
        names_ = [str(v) for v in prep.get("keypoints") or []]
        return keypoints(first, names_, sizes, prep.get("coordinates") == "pixels", prep)
    if category == "segmentation" and first.ndim == 4:
        return segmentation(first, labels, sizes)
    if category == "detection" and first.ndim == 4 and labels and first.shape[1] == len(labels) + 4:
        stride = float(prep.get("stride") or 1)
        return detection(first, labels, stride, sizes, prep, min_score)
    return raw(names, outputs)


def _probabilities(row: list[float]) -> list[float]:
    """Already probabilities (in [0, 1], summing to 1) are kept; logits get a softmax."""
    if min(row) >= 0 and max(row) <= 1 and abs(sum(row) - 1) <= 1e-3:
        return row
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = sum(exps)
    return [v / total for v in exps]


def classification(values: Any, labels: list[str]) -> list[dict[str, Any]]:
    count = values.shape[1]
    names = labels if len(labels) == count else [str(i) for i in range(count)]
    out = []
    for logits in values.tolist():
        row = _probabilities(logits)
        best = max(range(count), key=row.__getitem__)
        probabilities = dict(zip(names, row, strict=True))
        out.append(
            {
                "label": names[best],
                "index": best,
                "score": row[best],
                "probabilities": probabilities,
            }
        )
    return out


def keypoints(
    values: Any,
    names: list[str],
    sizes: list[tuple[int, int]],
    in_pixels: bool,
    prep: dict[str, Any],
) -> list[dict[str, Any]]:
    """Each keypoint's x, y in the input image's pixels and as fractions of its size; a third
    value per keypoint is its confidence, else confidence is null."""
    count = values.shape[1]
    names = names if len(names) == count else [str(i) for i in range(count)]
    model_h, model_w = (prep.get("resize") or [1, 1])[:2]
    out = []
    for n, row in enumerate(values.tolist()):
        width, height = sizes[n] if n < len(sizes) else (None, None)
        points = []
        for name, point in zip(names, row, strict=True):
            fx, fy = (point[0] / model_w, point[1] / model_h) if in_pixels else point[:2]
            points.append(
                {
                    "name": name,
                    "x": fx * width if width else None,
                    "y": fy * height if height else None,
                    "fx": fx,
                    "fy": fy,
                    "confidence": point[2] if len(point) > 2 else None,
                }
            )
        out.append({"keypoints": points, "width": width, "height": height})
    return out


def segmentation(
    values: Any, labels: list[str], sizes: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """A palette PNG per row whose pixel values are class indices (one channel of logits:
    ``background``/``person`` at 0.5 after a sigmoid; several: the argmax), at the input
    image's size, and the fraction of pixels of each class."""
    import numpy as np
    from PIL import Image

    channels = values.shape[1]
    classes = 2 if channels == 1 else channels
    default = ["background", "person"] if channels == 1 else [str(i) for i in range(classes)]
    names = labels if len(labels) == classes else default
    masks = (
        (values[:, 0] > 0).astype(np.uint8) if channels == 1 else values.argmax(1).astype(np.uint8)
    )
    out = []
    for n, mask in enumerate(masks):
        image = Image.fromarray(mask, mode="L").convert("P")
        image.putpalette(_palette(classes))
        if n < len(sizes) and sizes[n] != image.size:
            image = image.resize(sizes[n], Image.Resampling.NEAREST)
        counts = np.bincount(np.asarray(image).ravel(), minlength=classes)[:classes]
        coverage = dict(zip(names, (counts / counts.sum()).tolist(), strict=True))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(
            {
                "mask_png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                "width": image.width,
                "height": image.height,
                "labels": names,
                "coverage": coverage,
            }
        )
    return out


def _palette(classes: int) -> list[int]:
    """Black for class 0, then well-separated colours."""
    colours = [
        (0, 0, 0),
        (255, 255, 255),
        (230, 25, 75),
        (60, 180, 75),
        (0, 130, 200),
        (255, 225, 25),
    ]
    flat: list[int] = []
    for k in range(256):
        flat += (
            colours[k] if k < len(colours) else [(k * 67) % 256, (k * 131) % 256, (k * 29) % 256]
        )
    return flat


def detection(
    values: Any,
    labels: list[str],
    stride: float,
    sizes: list[tuple[int, int]],
    prep: dict[str, Any],
    min_score: float,
) -> list[dict[str, Any]]:
    """Boxes (x, y of the top-left corner, w, h) in the input image's pixels."""
    model_h, model_w = prep.get("resize") or [values.shape[2] * stride, values.shape[3] * stride]
    out = []
    for n, maps in enumerate(values):
        width, height = sizes[n] if n < len(sizes) else (model_w, model_h)
        sx, sy = width / model_w, height / model_h
        found = []
        for kind, score, x, y, w, h in boxes.decode(maps, len(labels), stride).tolist():
            if score >= min_score:
                found.append(
                    {
                        "label": labels[int(kind)],
                        "score": score,
                        "x": x * sx,
                        "y": y * sy,
                        "w": w * sx,
                        "h": h * sy,
                    }
                )
        out.append({"boxes": found, "width": width, "height": height})
    return out


def raw(names: list[str], outputs: list[Any]) -> list[dict[str, Any]]:
    """Per row of the first output, every output's row (outputs without that many rows whole)."""
    rows = len(outputs[0]) if outputs[0].ndim else 1
    out = []
    for n in range(rows):
        item = {}
        for name, value in zip(names, outputs, strict=True):
            item[name] = value[n].tolist() if value.ndim and len(value) == rows else value.tolist()
        out.append({"outputs": item})
    return out
