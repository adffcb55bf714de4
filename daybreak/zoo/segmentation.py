"""Person segmentation: a binary mask of a drawn person on a cluttered background.

Each 48x48 colour image holds one person-like blob (a head, a torso and thick limbs around a
random stick-figure pose from :mod:`daybreak.zoo.pose`) in one colour, over coloured noise and
a few distractor shapes (sometimes of the person's own colour, so colour alone is not enough).
Masks are 0/255 PNG files listed in a CSV, which the lake stores as PNG masks. The model is a
tiny U-Net (two poolings, skip connections) with one logit per pixel. The metric is mIoU over
the two classes (background, person), from intersections and unions summed over the split;
``val/iou_person`` is the person class alone.

``python -m daybreak.zoo.segmentation`` (tiny: CPU, seconds) or ``--preset full --device cuda``.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any, Unpack

from daybreak.config import Settings
from daybreak.zoo import common, pose

CATEGORY = "segmentation"
METRIC = "val/miou"
GOAL = "max"
DATASET = "zoo-segmentation"
MODEL = "person-unet"
SIZE = 48
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 250, "lr": 5e-3, "batch": 16, "width": 8, "count": 800,
             "checkpoint_every": 100, "eval_every": 50, "device": "cpu", "threads": 1},
    "full": {"steps": 20000, "lr": 2e-3, "batch": 128, "width": 48, "count": 50000,
             "checkpoint_every": 1000, "eval_every": 500, "device": "cuda", "threads": 0},
}  # fmt: skip
DEFAULTS = common.Options(MODEL, **PRESETS["tiny"])


# -- data ----------------------------------------------------------------------------------------


def draw(rng: Any) -> tuple[Any, Any]:
    """One image (48x48x3 uint8) and its person mask (48x48 uint8, 0 or 255)."""
    import numpy as np
    from PIL import Image, ImageDraw

    base = rng.integers(0, 256, 3)
    noise = rng.integers(-50, 51, (SIZE, SIZE, 3))
    image = Image.fromarray(np.clip(base * 0.6 + noise + 30, 0, 255).astype(np.uint8))
    mask = Image.new("L", (SIZE, SIZE), 0)
    person = _colour(rng)
    pen, marker = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    for _ in range(rng.integers(1, 4)):  # distractors: boxes and discs, some the person's colour
        x, y = rng.uniform(-4, SIZE - 4, 2)
        w, h = rng.uniform(5, 16, 2)
        colour = person if rng.uniform() < 0.3 else _colour(rng)
        shape = pen.rectangle if rng.uniform() < 0.5 else pen.ellipse
        shape([x, y, x + w, y + h], fill=colour)
    points = pose.make_figure(rng)
    limb = int(rng.integers(3, 5))
    for target, fill in ((pen, person), (marker, 255)):
        for a, b in pose.SKELETON:
            target.line([points[a - 1], points[b - 1]], fill=fill, width=limb)
        torso = [points[2], points[3], points[9], points[8]]  # shoulders and hips
        target.polygon(torso, fill=fill)
        hx, hy = points[0]
        target.ellipse([hx - 4, hy - 4, hx + 4, hy + 4], fill=fill)
    return np.asarray(image), np.asarray(mask)


def _colour(rng: Any) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, 3))
    return r, g, b


def write_data(folder: Path | str, count: int, seed: int) -> common.Generated:
    """``count`` PNGs under ``folder/images``, their masks under ``folder/masks`` and
    ``folder/masks.csv`` (``file,mask,mask_label``) to import them."""
    import numpy as np

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        image, mask = draw(rng)
        name = f"seg-{seed}-{i:05d}.png"
        common.save_png(image, folder / "images" / name)
        common.save_png(mask, folder / "masks" / name)
        rows.append({"file": name, "mask": f"masks/{name}", "mask_label": "person"})
    labels = folder / "masks.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "mask", "mask_label"])
        writer.writeheader()
        writer.writerows(rows)
    return common.Generated(folder / "images", labels, "csv")


def prepare(settings: Settings, count: int = 800, seed: int = 0) -> str:
    """The zoo's segmentation dataset version (made on first use); returns its ref."""
    return common.prepare_dataset(
        settings, DATASET, "zoo-segmentation", "mask", lambda f: write_data(f, count, seed)
    )


def mask_targets(split: common.Split) -> Any:
    """[N, 1, H, W] float 0/1 at the training size: the union of each row's masks (non-zero
    is the person), resized (nearest) where the asset is of another size."""
    import numpy as np
    import torch
    from PIL import Image

    from daybreak.lake.masks import decode_mask

    height, width = split.images.shape[-2:]
    out = np.zeros((len(split), 1, height, width), dtype=np.float32)
    for i, rows in enumerate(split.labels):
        for row in rows:
            mask = (decode_mask(row["mask"], row["meta"]) > 0).astype(np.uint8)
            if mask.shape != (height, width):
                resized = Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST)
                mask = np.asarray(resized)
            out[i, 0] = np.maximum(out[i, 0], mask)
    return torch.from_numpy(out)


# -- model and metric ----------------------------------------------------------------------------


def build_model(width: int = 8) -> Any:
    """A tiny U-Net: 48 -> 24 -> 12 and back, with skips; one logit per pixel."""
    import torch
    from torch import nn

    def block(a: int, b: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(a, b, 3, padding=1),
            nn.BatchNorm2d(b),
            nn.ReLU(),
            nn.Conv2d(b, b, 3, padding=1),
            nn.BatchNorm2d(b),
            nn.ReLU(),
        )

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.down1, self.down2, self.bottom = block(3, w), block(w, 2 * w), block(2 * w, 4 * w)
            self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
            self.dec2 = block(4 * w, 2 * w)
            self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
            self.dec1 = block(2 * w, w)
            self.head = nn.Conv2d(w, 1, 1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x: Any) -> Any:
            a = self.down1(x)
            b = self.down2(self.pool(a))
            c = self.bottom(self.pool(b))
            d = self.dec2(torch.cat([self.up2(c), b], 1))
            return self.head(self.dec1(torch.cat([self.up1(d), a], 1)))

    return UNet()


def loss(logits: Any, target: Any) -> Any:
    """Binary cross-entropy plus a soft Dice term (the person is a small part of the image)."""
    from torch.nn import functional

    bce = functional.binary_cross_entropy_with_logits(logits, target)
    prob = logits.sigmoid()
    dice = 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
    return bce + dice


def intersections(pred: Any, target: Any) -> Any:
    """[2, 2]: intersection and union of background (row 0) and person (row 1)."""
    import torch

    fg, truth = pred > 0.5, target > 0.5
    rows = []
    for mine, theirs in ((~fg, ~truth), (fg, truth)):
        rows.append(torch.stack([(mine & theirs).sum(), (mine | theirs).sum()]).float())
    return torch.stack(rows)


def miou(counts: Any) -> tuple[float, float]:
    """(mean IoU over both classes, person IoU) from summed ``intersections``."""
    iou = counts[:, 0] / counts[:, 1].clamp(min=1)
    return float(iou.mean()), float(iou[1])


def evaluate(images: Any, targets: Any, batch: int = 128) -> common.Evaluate:
    import torch

    def run(model: Any) -> dict[str, float]:
        total, counts = 0.0, torch.zeros(2, 2)
        for part in common.batches(len(images), batch):
            logits = model(images[part])
            total += float(loss(logits, targets[part])) * (part.stop - part.start)
            counts += intersections(logits.sigmoid(), targets[part]).cpu()
        mean, person = miou(counts)
        return {"val/loss": total / len(images), METRIC: mean, "val/iou_person": person}

    return run


def augment(images: Any, masks: Any, generator: Any) -> tuple[Any, Any]:
    """A random horizontal flip and shift, the same for the image and its mask."""
    import torch

    dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=generator))
    if int(torch.randint(0, 2, (1,), generator=generator)):
        images, masks = images.flip(-1), masks.flip(-1)
    return (
        torch.roll(images, (dy, dx), (-2, -1)),
        torch.roll(masks, (dy, dx), (-2, -1)),
    )


# -- training ------------------------------------------------------------------------------------


def train(**arguments: Unpack[common.Arguments]) -> str:
    """Train and log; returns the run id. ``dataset`` is a lake version with masks (default:
    the zoo's generated one, made on first use); the rest default to ``tiny``."""
    options = dataclasses.replace(DEFAULTS, **arguments)
    device = options.device
    run, dataset = common.start(
        CATEGORY, options, prepare, MODEL, "mIoU over background and person"
    )
    with run:
        train_split, val_split = common.load_splits(dataset, "mask", (SIZE, SIZE))
        train_x, train_y = train_split.images.to(device), mask_targets(train_split).to(device)
        val_x, val_y = val_split.images.to(device), mask_targets(val_split).to(device)
        run.summary["baseline/miou"] = miou(intersections(val_y * 0, val_y))[0]  # all background
        model = build_model(options.width).to(device)

        def loss_of(model: Any, rows: Any, generator: Any) -> Any:
            images, masks = augment(train_x[rows], train_y[rows], generator)
            return loss(model(images), masks)

        common.fit(
            run,
            model,
            options.hyper(),
            len(train_x),
            loss_of,
            evaluate(val_x, val_y),
            METRIC,
            options.seed,
            extra={"classes": ["background", "person"], "size": SIZE},
        )
    return str(run.id)


def main(argv: list[str] | None = None) -> None:
    common.main(train, common.parse(argv, __doc__, PRESETS, "zoo", MODEL, "zoo-segmentation@1"))


if __name__ == "__main__":
    main()
