"""Face landmarks: five points (eyes, nose tip, mouth corners) on generated faces.

Each 48x48 colour image holds one drawn face (an ellipse head with eyes, a nose and a mouth)
of random size, place, tilt, skin tone and expression over a noisy background; the five
landmarks go into the lake as a COCO keypoints file. The model is the pose trainer's
heatmap-plus-soft-argmax CNN (:mod:`daybreak.zoo.keypoints`) on three channels. The metric is
NME: the mean landmark error over the inter-ocular distance, averaged over faces (lower is
better); ``val/fr10`` is the share of faces with an NME above 0.1.

``python -m daybreak.zoo.face`` (tiny: CPU, seconds) or ``--preset full --device cuda``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Unpack

from daybreak.config import Settings
from daybreak.zoo import common, keypoints

CATEGORY = "face"
METRIC = "val/nme"
GOAL = "min"  # an error: lower is better
DATASET = "zoo-face"
SIZE = 48
# the subject's left and right (a face looking at the camera has its left eye on the right)
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
SKELETON = [[1, 2], [1, 3], [2, 3], [3, 4], [3, 5], [4, 5]]
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 300, "lr": 4e-3, "batch": 32, "width": 12, "count": 1000,
             "checkpoint_every": 100, "eval_every": 50, "device": "cpu", "threads": 1},
    "full": {"steps": 20000, "lr": 2e-3, "batch": 256, "width": 64, "count": 50000,
             "checkpoint_every": 1000, "eval_every": 500, "device": "cuda", "threads": 0},
}  # fmt: skip


# -- data ----------------------------------------------------------------------------------------


def make_face(rng: Any) -> dict[str, Any]:
    """One random face: its centre, half-axes, tilt, and the five landmarks in pixels."""
    while True:
        a = rng.uniform(10.0, 14.0)
        b = a * rng.uniform(1.1, 1.3)
        cx, cy = rng.uniform(a + 2, SIZE - a - 2), rng.uniform(b, SIZE - b)
        tilt = rng.uniform(-0.5, 0.5)
        turn = rng.uniform(-0.12, 0.12)  # a little yaw: features shift sideways together
        eye_x, eye_y = rng.uniform(0.32, 0.45), rng.uniform(-0.32, -0.15)
        mouth_x, mouth_y = rng.uniform(0.22, 0.4), rng.uniform(0.38, 0.55)
        local = [
            (eye_x + turn, eye_y),  # the subject's left eye: on the image's right
            (-eye_x + turn, eye_y),
            (1.6 * turn, rng.uniform(0.05, 0.18)),
            (mouth_x + turn, mouth_y),
            (-mouth_x + turn, mouth_y),
        ]
        points = [_place(u * a, v * b, cx, cy, tilt) for u, v in local]
        if all(1 <= x <= SIZE - 2 and 1 <= y <= SIZE - 2 for x, y in points):
            return {"centre": (cx, cy), "axes": (a, b), "tilt": tilt, "points": points}


def _place(u: float, v: float, cx: float, cy: float, tilt: float) -> tuple[float, float]:
    c, s = math.cos(tilt), math.sin(tilt)
    return cx + u * c - v * s, cy + u * s + v * c


def draw(face: dict[str, Any], rng: Any) -> Any:
    """A 48x48x3 uint8 image of the face over coloured noise and a stray block."""
    import numpy as np
    from PIL import Image, ImageDraw

    base = rng.integers(0, 256, 3)
    noise = rng.integers(-40, 41, (SIZE, SIZE, 3))
    image = Image.fromarray(np.clip(base * 0.5 + noise + 40, 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    x, y = rng.uniform(0, SIZE, 2)
    pen.rectangle([x, y, x + rng.uniform(4, 14), y + rng.uniform(4, 14)], fill=_colour(rng))
    (cx, cy), (a, b), tilt = face["centre"], face["axes"], face["tilt"]
    outline = [
        _place(a * math.cos(t), b * math.sin(t), cx, cy, tilt)
        for t in np.linspace(0, 2 * math.pi, 40, endpoint=False)
    ]
    tone = rng.uniform()  # from dark to light skin, a little off in each channel
    skin = tuple(
        int(np.clip(d + (light - d) * tone + rng.normal(0, 8), 0, 255))
        for d, light in ((95, 250), (60, 205), (40, 175))
    )
    pen.polygon(outline, fill=skin)
    dark = tuple(int(v * 0.35) for v in skin)
    left_eye, right_eye, nose, mouth_left, mouth_right = face["points"]
    for ex, ey in (left_eye, right_eye):
        pen.ellipse([ex - 2, ey - 1.5, ex + 2, ey + 1.5], fill=(250, 250, 250))
        pen.ellipse([ex - 1, ey - 1, ex + 1, ey + 1], fill=dark)
    pen.polygon(
        [
            _place(0, -0.22 * b, nose[0], nose[1], tilt),
            _place(-1.6, 0.6, nose[0], nose[1], tilt),
            nose,
        ],
        fill=dark,
    )
    lip = (int(rng.integers(120, 200)), 40, 50)
    smile = rng.uniform(-2.0, 2.5)
    middle = ((mouth_left[0] + mouth_right[0]) / 2, (mouth_left[1] + mouth_right[1]) / 2)
    bottom = _place(0, smile, middle[0], middle[1], tilt)
    pen.line([mouth_left, bottom, mouth_right], fill=lip, width=2)
    return np.asarray(image)


def _colour(rng: Any) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, 3))
    return r, g, b


def write_data(folder: Path | str, count: int, seed: int) -> common.Generated:
    """``count`` face PNGs under ``folder/images`` and ``folder/landmarks.json`` (COCO
    keypoints with the landmark names)."""
    import numpy as np

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    files, notes = [], []
    for i in range(count):
        face = make_face(rng)
        name = f"face-{seed}-{i:05d}.png"
        common.save_png(draw(face, rng), folder / "images" / name)
        (cx, cy), (a, b) = face["centre"], face["axes"]
        r = max(a, b)
        box = [max(0.0, cx - r), max(0.0, cy - r)]
        box += [min(SIZE, cx + r) - box[0], min(SIZE, cy + r) - box[1]]
        notes.append(keypoints.annotation(i, face["points"], box))
        files.append(name)
    category = {"id": 1, "name": "face", "keypoints": list(LANDMARKS), "skeleton": SKELETON}
    labels = common.write_coco(folder / "landmarks.json", files, (SIZE, SIZE), [category], notes)
    return common.Generated(folder / "images", labels, "coco")


def prepare(settings: Settings, count: int = 1000, seed: int = 0) -> str:
    """The zoo's face dataset version (made on first use); returns its ref."""
    return common.prepare_dataset(
        settings, DATASET, "zoo-face", "keypoints", lambda f: write_data(f, count, seed)
    )


# -- metric --------------------------------------------------------------------------------------


def nme(pred: Any, target: Any) -> tuple[Any, Any]:
    """(summed NME, faces): each face's mean landmark error over its inter-ocular distance."""
    interocular = (target[:, 0, :2] - target[:, 1, :2]).norm(dim=-1).clamp(min=1e-6)
    error = (pred - target[..., :2]).norm(dim=-1).mean(-1) / interocular
    return error.sum(), error.new_tensor(len(error))


def failures(pred: Any, target: Any, limit: float = 0.1) -> tuple[Any, Any]:
    """(faces with an NME above ``limit``, faces)."""
    interocular = (target[:, 0, :2] - target[:, 1, :2]).norm(dim=-1).clamp(min=1e-6)
    error = (pred - target[..., :2]).norm(dim=-1).mean(-1) / interocular
    return (error > limit).sum(), error.new_tensor(len(error))


# -- training ------------------------------------------------------------------------------------


SPEC = keypoints.Spec(
    category=CATEGORY,
    model="face-integral",
    names=LANDMARKS,
    key="landmarks",
    channels=3,
    size=SIZE,
    prepare=prepare,
    metric=METRIC,
    about="NME over the inter-ocular distance",
    scores={METRIC: nme, "val/fr10": failures},
)
DEFAULTS = common.Options(SPEC.model, **PRESETS["tiny"])


def train(**arguments: Unpack[common.Arguments]) -> str:
    """Train and log; returns the run id. ``dataset`` is a lake version with five COCO
    keypoints per face (default: the zoo's generated one, made on first use); the rest
    default to ``tiny``."""
    return keypoints.train(SPEC, dataclasses.replace(DEFAULTS, **arguments))


def main(argv: list[str] | None = None) -> None:
    common.main(train, common.parse(argv, __doc__, PRESETS, "zoo", SPEC.model, "zoo-face@1"))


if __name__ == "__main__":
    main()
