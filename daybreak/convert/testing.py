"""Small real models and real samples for the conversion tests and ``bench/convert.py``: the
zoo's classifier and pose net, and a MobileNetV2-like classifier, each trained briefly on the
zoo's generated data so that INT8 calibration sees realistic activations."""

from __future__ import annotations

from typing import Any


def shapes(count: int, seed: int, size: int = 16) -> tuple[Any, Any]:
    """The zoo's shapes images (numpy [N, 1, size, size]) and labels."""
    from torch.nn import functional

    from daybreak.zoo import classifier

    images, labels = classifier.make_shapes(count, seed)
    if size != 16:
        images = functional.interpolate(
            images, size=(size, size), mode="bilinear", align_corners=False
        )
    return images.numpy(), labels.numpy()


def poses(count: int, seed: int) -> tuple[Any, Any]:
    """Stick-figure images (numpy [N, 1, 48, 48], 0-1) and keypoints [N, 14, 3] (x, y as
    fractions, visibility), drawn as the zoo's pose dataset draws them."""
    import numpy as np

    from daybreak.zoo import pose

    rng = np.random.default_rng(seed)
    images, points = [], []
    for _ in range(count):
        figure = pose.make_figure(rng)
        images.append(pose.draw(figure, rng))
        points.append([[x / pose.SIZE, y / pose.SIZE, 1.0] for x, y in figure])
    return (np.stack(images)[:, None] / 255.0).astype(np.float32), np.asarray(
        points, dtype=np.float32
    )


def mobilenet_like(classes: int = 4, width: int = 16) -> Any:
    """A MobileNetV2-like classifier: a stem, inverted residual blocks (1x1 expand, 3x3
    depthwise, 1x1 project, BatchNorm, ReLU6, skip where shapes allow), pooling, a linear head."""
    from torch import nn

    class Inverted(nn.Module):
        def __init__(self, a: int, b: int, stride: int, expand: int = 4) -> None:
            super().__init__()
            mid = a * expand
            self.skip = stride == 1 and a == b
            self.body = nn.Sequential(
                nn.Conv2d(a, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                nn.Conv2d(mid, b, 1, bias=False), nn.BatchNorm2d(b),
            )  # fmt: skip

        def forward(self, x: Any) -> Any:
            return x + self.body(x) if self.skip else self.body(x)

    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU6(),
        Inverted(w, w, 1), Inverted(w, 2 * w, 2), Inverted(2 * w, 2 * w, 1),
        Inverted(2 * w, 4 * w, 2), Inverted(4 * w, 4 * w, 1), Inverted(4 * w, 6 * w, 2),
        Inverted(6 * w, 6 * w, 1),
        nn.Conv2d(6 * w, 16 * w, 1, bias=False), nn.BatchNorm2d(16 * w), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16 * w, classes),
    )  # fmt: skip


def fit(
    model: Any, inputs: Any, targets: Any, loss: Any, steps: int, batch: int = 32, lr: float = 3e-3
) -> Any:
    """A few optimiser steps on random batches (one thread, seeded); returns the model in eval mode."""
    import torch

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few dozen small steps: more threads only contend
    x, y = torch.as_tensor(inputs), torch.as_tensor(targets)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    try:
        for _ in range(steps):
            idx = torch.randint(0, len(x), (batch,))
            value = loss(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def trained_classifier(steps: int = 60) -> Any:
    """The zoo classifier after ``steps`` steps on generated shapes."""
    from torch.nn import functional

    from daybreak.zoo import classifier

    images, labels = shapes(1024, 0)
    return fit(classifier.build_model(), images, labels, functional.cross_entropy, steps, batch=64)


def trained_pose(steps: int = 40, width: int = 12) -> Any:
    """The zoo's pose net (14 keypoints) after ``steps`` steps on generated figures."""
    from daybreak.zoo import keypoints, pose

    images, points = poses(256, 0)
    return fit(
        keypoints.build_model(len(pose.KEYPOINTS), width), images, points, keypoints.loss, steps
    )


def trained_mobilenet(steps: int = 40, size: int = 64) -> Any:
    """The MobileNetV2-like classifier after ``steps`` steps on shapes scaled to ``size``."""
    from torch.nn import functional

    images, labels = shapes(512, 0, size)
    return fit(mobilenet_like(), images, labels, functional.cross_entropy, steps)
