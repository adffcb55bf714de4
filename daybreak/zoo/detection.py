"""Object detection: boxes around one to three shapes (square, disc, triangle) per image.

Each 48x48 colour image holds one to three non-overlapping shapes of random class, size
(8 to 18 pixels), colour and place over coloured noise and thin clutter lines; the boxes go
into the lake as a COCO file. The model is a tiny CenterNet: a CNN to a 12x12 grid (stride 4)
with, per cell, a heatmap per class (focal loss on Gaussian peaks at box centres), the box
size and the centre's offset within the cell. Detections are the heatmap's local maxima (3x3).
The metric is mAP@0.5: per class, the area under the precision-recall curve (every point
interpolated, as VOC and COCO do) of the detections ranked by score, a detection counting when
it is the best unclaimed match of IoU >= 0.5 to a box of its class; then the mean over classes.

``python -m daybreak.zoo.detection`` (tiny: CPU, seconds) or ``--preset full --device cuda``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Unpack

from daybreak.config import Settings
from daybreak.zoo import common

CATEGORY = "detection"
METRIC = "val/map50"
GOAL = "max"
DATASET = "zoo-detection"
MODEL = "shapes-centernet"
SIZE = 48
STRIDE = 4
GRID = SIZE // STRIDE
CLASSES = ("square", "disc", "triangle")
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 300, "lr": 4e-3, "batch": 32, "width": 12, "count": 1000,
             "checkpoint_every": 100, "eval_every": 50, "device": "cpu", "threads": 1},
    "full": {"steps": 30000, "lr": 2e-3, "batch": 256, "width": 64, "count": 50000,
             "checkpoint_every": 1000, "eval_every": 500, "device": "cuda", "threads": 0},
}  # fmt: skip
DEFAULTS = common.Options(MODEL, **PRESETS["tiny"])
MAX_DETECTIONS = 10


# -- data ----------------------------------------------------------------------------------------


def make_objects(rng: Any) -> list[tuple[int, list[float]]]:
    """One to three (class index, [x, y, w, h]) that do not overlap and fit the image."""
    objects: list[tuple[int, list[float]]] = []
    wanted = int(rng.integers(1, 4))
    while len(objects) < wanted:
        side = rng.uniform(8, 18)
        w, h = side * rng.uniform(0.8, 1.2), side * rng.uniform(0.8, 1.2)
        box = [rng.uniform(0, SIZE - w), rng.uniform(0, SIZE - h), w, h]
        if all(iou(box, other) == 0 and _apart(box, other) for _, other in objects):
            objects.append((int(rng.integers(0, len(CLASSES))), box))
    return objects


def _apart(a: list[float], b: list[float]) -> bool:
    """Centres at least a grid cell and a half apart (each cell predicts one object)."""
    ax, ay, bx, by = a[0] + a[2] / 2, a[1] + a[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    return math.hypot(ax - bx, ay - by) >= 1.5 * STRIDE


def draw(objects: list[tuple[int, list[float]]], rng: Any) -> Any:
    """A 48x48x3 uint8 image of the shapes over coloured noise and clutter lines."""
    import numpy as np
    from PIL import Image, ImageDraw

    base = rng.integers(0, 256, 3)
    noise = rng.integers(-40, 41, (SIZE, SIZE, 3))
    image = Image.fromarray(np.clip(base * 0.6 + noise + 30, 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 3)):
        x, y = rng.uniform(0, SIZE, 2)
        pen.line([(x, y), (x + rng.uniform(-12, 12), y + rng.uniform(-12, 12))], fill=_colour(rng))
    for kind, (x, y, w, h) in objects:
        colour = _colour(rng)
        corners = [x, y, x + w - 1, y + h - 1]
        if kind == 0:
            pen.rectangle(corners, fill=colour)
        elif kind == 1:
            pen.ellipse(corners, fill=colour)
        else:
            pen.polygon([(x + w / 2, y), (x + w - 1, y + h - 1), (x, y + h - 1)], fill=colour)
    return np.asarray(image)


def _colour(rng: Any) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, 3))
    return r, g, b


def write_data(folder: Path | str, count: int, seed: int) -> common.Generated:
    """``count`` PNGs under ``folder/images`` and ``folder/boxes.json`` (COCO boxes)."""
    import numpy as np

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    files, notes = [], []
    for i in range(count):
        objects = make_objects(rng)
        name = f"det-{seed}-{i:05d}.png"
        common.save_png(draw(objects, rng), folder / "images" / name)
        for kind, box in objects:
            rounded = [round(v, 2) for v in box]
            notes.append(
                {
                    "image_id": i + 1,
                    "category_id": kind + 1,
                    "bbox": rounded,
                    "area": rounded[2] * rounded[3],
                    "iscrowd": 0,
                }
            )
        files.append(name)
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]
    labels = common.write_coco(folder / "boxes.json", files, (SIZE, SIZE), categories, notes)
    return common.Generated(folder / "images", labels, "coco")


def prepare(settings: Settings, count: int = 1000, seed: int = 0) -> str:
    """The zoo's detection dataset version (made on first use); returns its ref."""
    return common.prepare_dataset(
        settings, DATASET, "zoo-detection", "box", lambda f: write_data(f, count, seed)
    )


def box_targets(split: common.Split) -> list[Any]:
    """Per row, a [M, 5] tensor of (class index, x, y, w, h) in pixels of the training size
    (scaled from the asset's own size); labels not in ``CLASSES`` are left out."""
    import torch

    index = {name: i for i, name in enumerate(CLASSES)}
    height, width = split.images.shape[-2:]
    out = []
    for rows, (own_width, own_height) in zip(split.labels, split.sizes, strict=True):
        found = [[index[r["label"]], *r["bbox"]] for r in rows if r["label"] in index]
        boxes = torch.tensor(found, dtype=torch.float32).view(-1, 5)
        boxes[:, 1:] *= torch.tensor([width / own_width, height / own_height] * 2)
        out.append(boxes)
    return out


def encode(boxes: list[Any]) -> Any:
    """Training targets on the grid: [N, C + 5, G, G] with the class heatmaps (Gaussian
    peaks), size (w, h in cells), offset of the centre in its cell, and a centre mask."""
    import torch

    out = torch.zeros(len(boxes), len(CLASSES) + 5, GRID, GRID)
    cells = torch.arange(GRID, dtype=torch.float32)
    for n, found in enumerate(boxes):
        for kind, x, y, w, h in found.tolist():
            cx, cy = (x + w / 2) / STRIDE, (y + h / 2) / STRIDE
            i, j = min(int(cx), GRID - 1), min(int(cy), GRID - 1)
            sigma = max(0.5, (w + h) / 2 / STRIDE / 4)
            peak = torch.exp(
                -((cells[None, :] - i) ** 2 + (cells[:, None] - j) ** 2) / (2 * sigma**2)
            )
            heat = out[n, int(kind)]
            torch.maximum(heat, peak, out=heat)
            out[n, len(CLASSES) :, j, i] = torch.tensor(
                [w / STRIDE, h / STRIDE, cx - i, cy - j, 1.0]
            )
    return out


# -- model, loss and decoding --------------------------------------------------------------------


def build_model(width: int = 12) -> Any:
    """Stride-4 features (through stride 8 and back, with a skip) and three heads."""
    import torch
    from torch import nn

    def block(a: int, b: int, stride: int = 1) -> nn.Module:
        return nn.Sequential(nn.Conv2d(a, b, 3, stride, 1), nn.BatchNorm2d(b), nn.ReLU())

    class CenterNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.stem = nn.Sequential(block(3, w, 2), block(w, 2 * w), block(2 * w, 2 * w, 2))
            self.deep = nn.Sequential(block(2 * w, 4 * w, 2), block(4 * w, 4 * w))
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.mix = block(6 * w, 4 * w)
            self.heat = nn.Conv2d(4 * w, len(CLASSES), 1)
            self.box = nn.Conv2d(4 * w, 4, 1)
            bias = self.heat.bias
            assert bias is not None
            nn.init.constant_(bias, -2.19)  # a prior of 0.1 per cell (CenterNet)

        def forward(self, x: Any) -> Any:
            shallow = self.stem(x)
            features = self.mix(torch.cat([shallow, self.up(self.deep(shallow))], 1))
            return torch.cat([self.heat(features), self.box(features)], 1)

    return CenterNet()


def loss(out: Any, target: Any) -> Any:
    """CenterNet's focal loss on the heatmaps, plus L1 on size (x0.1) and offset at centres."""
    classes = len(CLASSES)
    prob = out[:, :classes].sigmoid().clamp(1e-4, 1 - 1e-4)
    heat = target[:, :classes]
    centre = heat.eq(1).float()
    positive = -((1 - prob) ** 2) * prob.log() * centre
    negative = -((1 - heat) ** 4) * prob**2 * (1 - prob).log() * (1 - centre)
    objects = target[:, -1].sum().clamp(min=1)
    focal = (positive.sum() + negative.sum()) / objects
    mask = target[:, -1:]
    size = ((out[:, classes : classes + 2] - target[:, classes : classes + 2]).abs() * mask).sum()
    offset = ((out[:, classes + 2 : classes + 4].sigmoid() - target[:, -3:-1]).abs() * mask).sum()
    return focal + (0.1 * size + offset) / objects


def decode(out: Any, limit: int = MAX_DETECTIONS) -> list[Any]:
    """Per image, [D, 6] detections (class, score, x, y, w, h in pixels): the heatmaps' 3x3
    local maxima, best ``limit`` by score."""
    import torch
    from torch.nn import functional

    classes = len(CLASSES)
    prob = out[:, :classes].sigmoid()
    peaks = prob * (functional.max_pool2d(prob, 3, 1, 1) == prob)
    scores, where = peaks.flatten(1).topk(min(limit, peaks[0].numel()), dim=1)
    kind = where // (GRID * GRID)
    j, i = (where % (GRID * GRID)) // GRID, where % GRID
    n = torch.arange(len(out), device=out.device)[:, None]
    w = out[n, classes, j, i].clamp(min=0) * STRIDE
    h = out[n, classes + 1, j, i].clamp(min=0) * STRIDE
    cx = (i + out[n, classes + 2, j, i].sigmoid()) * STRIDE
    cy = (j + out[n, classes + 3, j, i].sigmoid()) * STRIDE
    found = torch.stack([kind.float(), scores, cx - w / 2, cy - h / 2, w, h], -1)
    return list(found.cpu())


def iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def average_precision(detections: list[Any], truths: list[Any], threshold: float = 0.5) -> float:
    """mAP at IoU ``threshold`` over the classes that have boxes in ``truths``; per image,
    ``detections`` [D, 6] (class, score, box) and ``truths`` [M, 5] (class, box)."""
    precisions = []
    for kind in range(len(CLASSES)):
        boxes = [[t[1:] for t in found.tolist() if int(t[0]) == kind] for found in truths]
        total = sum(len(b) for b in boxes)
        if total == 0:
            continue
        ranked = sorted(
            (
                (d[1], n, d[2:])
                for n, found in enumerate(detections)
                for d in found.tolist()
                if int(d[0]) == kind
            ),
            key=lambda item: -item[0],
        )
        claimed = [[False] * len(b) for b in boxes]
        hits = []
        for _, n, box in ranked:
            overlaps = [iou(box, truth) for truth in boxes[n]]
            best = max(range(len(overlaps)), key=overlaps.__getitem__, default=-1)
            hit = best >= 0 and overlaps[best] >= threshold and not claimed[n][best]
            if hit:
                claimed[n][best] = True
            hits.append(hit)
        precisions.append(_area(hits, total))
    return sum(precisions) / len(precisions) if precisions else 0.0


def _area(hits: list[bool], total: int) -> float:
    """Area under the precision-recall curve with precision made non-increasing."""
    tp = 0
    recall, precision = [0.0], [1.0]
    for rank, hit in enumerate(hits, 1):
        tp += hit
        recall.append(tp / total)
        precision.append(tp / rank)
    for k in range(len(precision) - 2, -1, -1):
        precision[k] = max(precision[k], precision[k + 1])
    return sum((recall[k] - recall[k - 1]) * precision[k] for k in range(1, len(recall)))


def evaluate(images: Any, boxes: list[Any], targets: Any, batch: int = 256) -> common.Evaluate:
    def run(model: Any) -> dict[str, float]:
        total, detections = 0.0, []
        for part in common.batches(len(images), batch):
            out = model(images[part])
            total += float(loss(out, targets[part])) * (part.stop - part.start)
            detections += decode(out)
        return {
            "val/loss": total / len(images),
            METRIC: average_precision(detections, boxes),
            "val/map75": average_precision(detections, boxes, 0.75),
        }

    return run


def flip(images: Any, targets: Any, generator: Any) -> tuple[Any, Any]:
    """Mirror the batch left-right half of the time, heatmaps and offsets too."""
    import torch

    if int(torch.randint(0, 2, (1,), generator=generator)) == 0:
        return images, targets
    classes = len(CLASSES)
    mirrored = targets.flip(-1)
    # a centre at cell i + offset moves to cell G - 1 - i with offset 1 - offset
    offset = mirrored[:, classes + 2]
    mirrored[:, classes + 2] = torch.where(mirrored[:, -1] > 0, 1 - offset, offset)
    return images.flip(-1), mirrored


# -- training ------------------------------------------------------------------------------------


def train(**arguments: Unpack[common.Arguments]) -> str:
    """Train and log; returns the run id. ``dataset`` is a lake version with boxes labelled
    square, disc or triangle (default: the zoo's generated one, made on first use); the rest
    default to ``tiny``."""
    options = dataclasses.replace(DEFAULTS, **arguments)
    device = options.device
    run, dataset = common.start(
        CATEGORY,
        options,
        prepare,
        MODEL,
        "mAP at IoU 0.5, all-point interpolated",
        classes=list(CLASSES),
    )
    with run:
        train_split, val_split = common.load_splits(dataset, "box", (SIZE, SIZE))
        train_x = train_split.images.to(device)
        train_y = encode(box_targets(train_split)).to(device)
        val_x, val_boxes = val_split.images.to(device), box_targets(val_split)
        val_y = encode(val_boxes).to(device)
        model = build_model(options.width).to(device)

        def loss_of(model: Any, rows: Any, generator: Any) -> Any:
            images, targets = flip(train_x[rows], train_y[rows], generator)
            return loss(model(images), targets)

        common.fit(
            run,
            model,
            options.hyper(),
            len(train_x),
            loss_of,
            evaluate(val_x, val_boxes, val_y),
            METRIC,
            options.seed,
            extra={"classes": list(CLASSES), "size": SIZE, "stride": STRIDE},
        )
    return str(run.id)


def main(argv: list[str] | None = None) -> None:
    common.main(train, common.parse(argv, __doc__, PRESETS, "zoo", MODEL, "zoo-detection@1"))


if __name__ == "__main__":
    main()
