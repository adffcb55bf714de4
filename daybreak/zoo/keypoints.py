"""What the pose and face-landmark trainers share: a small CNN that predicts a heatmap per
keypoint and reads the point off it with a soft-argmax (integral regression), an L1 loss on
coordinates, PCK, the shift augmentation that moves keypoints with the image, and the training
itself (:func:`train`, told what sets the two apart by a :class:`Spec`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from daybreak.errors import ConfigError
from daybreak.zoo import common


def annotation(
    image: int, points: Sequence[tuple[float, float]], box: list[float]
) -> dict[str, Any]:
    """The COCO annotation of one instance, all of its ``points`` (pixels) visible, on the
    ``image``-th image of the file (from 0)."""
    return {
        "image_id": image + 1,
        "category_id": 1,
        "keypoints": [round(v, 2) for x, y in points for v in (x, y, 2)],
        "num_keypoints": len(points),
        "bbox": [round(v, 2) for v in box],
    }


def targets(split: common.Split, names: Sequence[str]) -> Any:
    """[N, K, 3] tensor (x, y as fractions of the image, visibility) of the keypoints
    ``names`` from the first keypoints row of each image (one instance per image). Points are
    matched by the names the row's ``meta`` keeps (COCO categories and Label Studio keep
    them), else taken in order; a name the row lacks is not visible."""
    import json

    import torch

    out = [[[0.0, 0.0, 0.0] for _ in names] for _ in split.labels]
    matched = False
    for i, (rows, (width, height)) in enumerate(zip(split.labels, split.sizes, strict=True)):
        if not rows:
            continue
        flat = list(rows[0]["keypoints"])
        given = json.loads(rows[0].get("meta") or "{}").get("keypoints") or list(names)
        where = {name: k for k, name in enumerate(given) if 3 * k + 2 < len(flat)}
        for j, name in enumerate(names):
            if name in where:
                x, y, visible = flat[3 * where[name] : 3 * where[name] + 3]
                out[i][j] = [x / width, y / height, float(visible > 0)]
                matched = True
    if not matched and any(split.labels):
        raise ConfigError(
            f"the dataset's keypoints have none of the names {', '.join(names)}",
            "train on a dataset labelled with these keypoints",
        )
    return torch.tensor(out, dtype=torch.float32).view(len(split.labels), len(names), 3)


def build_model(count: int, width: int = 16, channels: int = 1) -> Any:
    """Conv features at 1/4 scale (through 1/8 for context), one heatmap per keypoint,
    soft-argmax to (x, y) in [0, 1] of the image."""
    from torch import nn

    class Integral(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width

            def block(a: int, b: int, stride: int = 1) -> list[nn.Module]:
                return [nn.Conv2d(a, b, 3, stride, 1), nn.BatchNorm2d(b), nn.ReLU()]

            self.features = nn.Sequential(
                *block(channels, w, 2),
                *block(w, 2 * w),
                *block(2 * w, 2 * w, 2),
                *block(2 * w, 4 * w),
                *block(4 * w, 4 * w, 2),  # 1/8: context for telling left from right
                *block(4 * w, 4 * w),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                *block(4 * w, 4 * w),
            )
            self.heads = nn.Conv2d(4 * w, count, 1)

        def forward(self, x: Any) -> Any:
            import torch

            maps = self.heads(self.features(x))
            n, k, h, w_ = maps.shape
            prob = maps.flatten(2).softmax(-1).view(n, k, h, w_)
            xs = (torch.arange(w_, device=x.device, dtype=x.dtype) + 0.5) / w_
            ys = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) / h
            return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], -1)

    return Integral()


def loss(pred: Any, target: Any) -> Any:
    """L1 on the visible keypoints' coordinates (fractions of the image)."""
    visible = target[..., 2:3]
    return ((pred - target[..., :2]).abs() * visible).sum() / visible.sum().clamp(min=1) / 2


def pck(pred: Any, target: Any, alpha: float = 0.1) -> tuple[Any, Any]:
    """(correct, visible) keypoint counts: within ``alpha`` times the longer side of the
    box around each instance's visible keypoints."""
    visible = target[..., 2] > 0
    xy = target[..., :2]
    low = xy.masked_fill(~visible[..., None], float("inf")).amin(1)
    high = xy.masked_fill(~visible[..., None], float("-inf")).amax(1)
    scale = (high - low).amax(-1).clamp(min=1e-6)
    distance = (pred - xy).norm(dim=-1)
    correct = (distance <= alpha * scale[:, None]) & visible
    return correct.sum(), visible.sum()


Score = Callable[[Any, Any], tuple[Any, Any]]  # (pred, target) -> (summed score, count)


def evaluate(
    images: Any, targets: Any, scores: Mapping[str, Score], batch: int = 256
) -> common.Evaluate:
    """Evaluation over a split: ``val/loss``, and for each named score its summed first value
    over its summed second (so PCK is over every keypoint, NME over every face)."""
    import torch

    def run(model: Any) -> dict[str, float]:
        total_loss = 0.0
        sums = {name: [torch.zeros(()), torch.zeros(())] for name in scores}
        for part in common.batches(len(images), batch):
            pred = model(images[part])
            total_loss += float(loss(pred, targets[part])) * (part.stop - part.start)
            for name, score in scores.items():
                value, count = score(pred, targets[part])
                sums[name][0] += value.cpu()
                sums[name][1] += count.cpu()
        out = {"val/loss": total_loss / len(images)}
        out.update({name: float(v / n.clamp(min=1)) for name, (v, n) in sums.items()})
        return out

    return run


def mean_shape_score(train: Any, val: Any, score: Score) -> float:
    """The metric of always answering the mean training keypoints: the level to beat."""
    mean = train[..., :2].mean(0, keepdim=True).expand(len(val), -1, -1)
    good, seen = score(mean, val)
    return float(good / seen.clamp(min=1))


def jitter(images: Any, targets: Any, generator: Any, pixels: int = 2) -> tuple[Any, Any]:
    """Shift a batch by up to ``pixels`` (the same for all of it), keypoints too."""
    import torch

    dx, dy = (int(v) for v in torch.randint(-pixels, pixels + 1, (2,), generator=generator))
    height, width = images.shape[-2:]
    shifted = torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
    moved = targets.clone()
    moved[..., 0] += dx / width
    moved[..., 1] += dy / height
    return shifted, moved


@dataclasses.dataclass(frozen=True)
class Spec:
    """One keypoint trainer: its category, model and points, and how it is scored."""

    category: str
    model: str
    names: tuple[str, ...]
    key: str  # what the run's config and checkpoints call the names
    channels: int
    size: int
    prepare: common.Prepare
    metric: str
    about: str  # the metric in words, for the run's config
    scores: Mapping[str, Score]  # logged at each evaluation; ``metric`` among them
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # for checkpoints


def train(spec: Spec, options: common.Options) -> str:
    """Train and log; returns the run id."""
    names = list(spec.names)
    run, dataset = common.start(
        spec.category, options, spec.prepare, spec.model, spec.about, **{spec.key: names}
    )
    with run:
        device, size = options.device, (spec.size, spec.size)
        train_split, val_split = common.load_splits(dataset, "keypoints", size, spec.channels)
        train_x = train_split.images.to(device)
        train_y = targets(train_split, spec.names).to(device)
        val_x = val_split.images.to(device)
        val_y = targets(val_split, spec.names).to(device)
        baseline = mean_shape_score(train_y, val_y, spec.scores[spec.metric])
        run.summary["baseline/" + spec.metric.split("/")[1]] = baseline
        model = build_model(len(names), options.width, spec.channels).to(device)

        def loss_of(model: Any, rows: Any, generator: Any) -> Any:
            images, points = jitter(train_x[rows], train_y[rows], generator)
            return loss(model(images), points)

        common.fit(
            run,
            model,
            options.hyper(),
            len(train_x),
            loss_of,
            evaluate(val_x, val_y, spec.scores),
            spec.metric,
            options.seed,
            extra={spec.key: names, **spec.extra, "size": spec.size},
        )
    return str(run.id)
