"""Body pose: 2D keypoints of generated stick figures, learned by a tiny CNN.

Each 48x48 gray image holds one stick figure (head, neck, shoulders, elbows, hands, hips,
knees, feet: 14 keypoints with a COCO-style skeleton) in a random pose, size and place, over
noise and clutter. The labels go into the lake as a COCO keypoints file. The model predicts a
heatmap per keypoint and reads the point off it with a soft-argmax (integral regression), so
the loss is on coordinates. The metric is PCK@0.1: the share of keypoints within 0.1 of the
figure's size (the longer side of its box) of the truth.

``python -m daybreak.zoo.pose`` (tiny: CPU, seconds) or ``--preset full --device cuda``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Unpack

from daybreak.config import Settings
from daybreak.zoo import common, keypoints

Point = tuple[float, float]
CATEGORY = "pose"
METRIC = "val/pck"
GOAL = "max"
DATASET = "zoo-pose"
SIZE = 48
KEYPOINTS = (
    "head",
    "neck",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_hand",
    "right_hand",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_foot",
    "right_foot",
)
# COCO's convention: pairs of 1-based keypoint indices
SKELETON = [
    [1, 2], [2, 3], [2, 4], [3, 5], [5, 7], [4, 6], [6, 8],
    [3, 9], [4, 10], [9, 10], [9, 11], [11, 13], [10, 12], [12, 14],
]  # fmt: skip
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 300, "lr": 4e-3, "batch": 32, "width": 12, "count": 1200,
             "checkpoint_every": 100, "eval_every": 50, "device": "cpu", "threads": 1},
    "full": {"steps": 20000, "lr": 2e-3, "batch": 256, "width": 64, "count": 50000,
             "checkpoint_every": 1000, "eval_every": 500, "device": "cuda", "threads": 0},
}  # fmt: skip


# -- data ----------------------------------------------------------------------------------------


def make_figure(rng: Any) -> list[Point]:
    """The 14 keypoints (x, y in pixels) of one random pose that fits the image."""
    while True:
        points = _random_pose(rng)
        if all(1.5 <= x <= SIZE - 2.5 and 1.5 <= y <= SIZE - 2.5 for x, y in points):
            return points


def _random_pose(rng: Any) -> list[Point]:
    """A random pose around a random neck position; it may not fit the image."""
    s = rng.uniform(0.85, 1.15)
    lean = rng.uniform(-0.35, 0.35)
    neck = (rng.uniform(18, 30), rng.uniform(12, 18))
    up = (math.sin(lean), -math.cos(lean))  # along the torso, towards the head
    side = (math.cos(lean), math.sin(lean))  # the figure's left is the image's right

    def at(origin: Point, angle: float, length: float) -> Point:
        # angle 0 points down the torso
        down = (-up[0], -up[1])
        ca, sa = math.cos(angle), math.sin(angle)
        d = (down[0] * ca - down[1] * sa, down[0] * sa + down[1] * ca)
        return origin[0] + d[0] * length * s, origin[1] + d[1] * length * s

    def plus(p: Point, v: Point, k: float) -> Point:
        return p[0] + v[0] * k * s, p[1] + v[1] * k * s

    head = plus(neck, up, 4.5)
    shoulders = [plus(neck, side, 4.0), plus(neck, side, -4.0)]
    pelvis = plus(neck, up, -11.0)
    hips = [plus(pelvis, side, 2.8), plus(pelvis, side, -2.8)]
    points = [head, neck, *shoulders]
    elbows, hands, knees, feet = [], [], [], []
    for sign, shoulder, hip in zip((-1, 1), shoulders, hips, strict=True):
        arm = sign * rng.uniform(0.2, 2.6)
        elbows.append(at(shoulder, arm, 5.5))
        hands.append(at(elbows[-1], arm + sign * rng.uniform(-1.2, 1.6), 5.0))
        leg = sign * rng.uniform(0.0, 0.7)
        knees.append(at(hip, leg, 6.5))
        feet.append(at(knees[-1], leg + sign * rng.uniform(-0.9, 0.2), 6.5))
    points += [elbows[0], elbows[1], hands[0], hands[1], hips[0], hips[1]]
    points += [knees[0], knees[1], feet[0], feet[1]]
    return points


def draw(points: list[Point], rng: Any) -> Any:
    """A 48x48 uint8 image of the figure over noise and a few clutter strokes."""
    import numpy as np
    from PIL import Image, ImageDraw

    image = Image.fromarray(rng.integers(0, 70, (SIZE, SIZE), dtype=np.uint8))
    pen = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 3)):  # clutter: short faint strokes
        x, y = rng.uniform(0, SIZE, 2)
        pen.line(
            [(x, y), (x + rng.uniform(-8, 8), y + rng.uniform(-8, 8))],
            fill=int(rng.integers(80, 140)),
            width=1,
        )
    shade = int(rng.integers(170, 256))
    for a, b in SKELETON:
        pen.line([points[a - 1], points[b - 1]], fill=shade, width=2)
    hx, hy = points[0]
    pen.ellipse([hx - 3, hy - 3, hx + 3, hy + 3], fill=shade)
    return np.asarray(image)


def write_data(folder: Path | str, count: int, seed: int) -> common.Generated:
    """``count`` stick-figure PNGs under ``folder/images`` and ``folder/keypoints.json``
    (COCO keypoints, with the names and the skeleton)."""
    import numpy as np

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    files, notes = [], []
    for i in range(count):
        points = make_figure(rng)
        name = f"pose-{seed}-{i:05d}.png"
        common.save_png(draw(points, rng), folder / "images" / name)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, y0 = max(0.0, min(xs) - 3), max(0.0, min(ys) - 3)
        box = [x0, y0, min(SIZE, max(xs) + 3) - x0, min(SIZE, max(ys) + 3) - y0]
        notes.append(keypoints.annotation(i, points, box))
        files.append(name)
    category = {"id": 1, "name": "person", "keypoints": list(KEYPOINTS), "skeleton": SKELETON}
    labels = common.write_coco(folder / "keypoints.json", files, (SIZE, SIZE), [category], notes)
    return common.Generated(folder / "images", labels, "coco")


def prepare(settings: Settings, count: int = 1200, seed: int = 0) -> str:
    """The zoo's pose dataset version (made on first use); returns its ref."""
    return common.prepare_dataset(
        settings, DATASET, "zoo-pose", "keypoints", lambda f: write_data(f, count, seed)
    )


# -- training ------------------------------------------------------------------------------------


SPEC = keypoints.Spec(
    category=CATEGORY,
    model="pose-integral",
    names=KEYPOINTS,
    key="keypoints",
    channels=1,
    size=SIZE,
    prepare=prepare,
    metric=METRIC,
    about="PCK@0.1 of the instance box",
    scores={METRIC: keypoints.pck},
    extra={"skeleton": SKELETON},
)
DEFAULTS = common.Options(SPEC.model, **PRESETS["tiny"])


def train(**arguments: Unpack[common.Arguments]) -> str:
    """Train and log; returns the run id. ``dataset`` is a lake version with COCO keypoints
    (default: the zoo's generated one, made on first use); the rest default to ``tiny``."""
    return keypoints.train(SPEC, dataclasses.replace(DEFAULTS, **arguments))


def main(argv: list[str] | None = None) -> None:
    common.main(train, common.parse(argv, __doc__, PRESETS, "zoo", SPEC.model, "zoo-pose@1"))


if __name__ == "__main__":
    main()
