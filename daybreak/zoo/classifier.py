"""A tiny real image-classification trainer: a small CNN on generated 16x16 shapes.

Used by the demo and the tests: it trains in seconds on a CPU, logs through the SDK, and
checkpoints and resumes. Run it with ``python -m daybreak.zoo.classifier --steps 300``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

CLASSES = ("square", "cross", "ring", "bar")
CATEGORY = "classification"
METRIC = "val/acc"
GOAL = "max"
DATASET = "shapes"


def make_shapes(count: int, seed: int) -> tuple[Any, Any]:
    """Noisy 16x16 images of four shapes at random positions, and their labels."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(CLASSES), (count,), generator=gen)
    images = torch.rand(count, 1, 16, 16, generator=gen) * 0.3
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    for i in range(count):
        cy, cx = (int(v) for v in torch.randint(5, 11, (2,), generator=gen))
        kind = int(labels[i])
        if kind == 0:
            mask = ((yy - cy).abs() <= 3) & ((xx - cx).abs() <= 3)
        elif kind == 1:
            mask = (((yy - cy).abs() <= 1) & ((xx - cx).abs() <= 4)) | (
                ((xx - cx).abs() <= 1) & ((yy - cy).abs() <= 4)
            )
        elif kind == 2:
            radius = ((yy - cy) ** 2 + (xx - cx) ** 2).float().sqrt()
            mask = (radius >= 2.5) & (radius <= 4.0)
        else:
            mask = ((yy - cy).abs() <= 4) & ((xx - cx).abs() <= 1)
        images[i, 0][mask] += 0.7
    return images, labels


def load_split(ref: str, split: str) -> tuple[Any, Any]:
    """A split of a lake dataset version as tensors (N, 1, 16, 16) and class indices, read
    from the pre-decoded cache (built on first use)."""
    import torch

    from daybreak.lake.torch import TorchDataset

    data = TorchDataset(ref, split=split, cache=(16, 16))
    items = data.__getitems__(list(range(len(data))))
    images = torch.stack([image[:1] for image, _ in items]).float().div(255)  # gray: one channel
    return images, torch.tensor([label for _, label in items])


def dataset_classes(ref: str) -> list[str]:
    """The class names of a dataset version in the order of its label indices (the lake sorts
    them: bar, cross, ring, square), which is what a model trained on it predicts."""
    from daybreak.config import get_settings
    from daybreak.lake import datasets

    settings = get_settings()
    rows = datasets.rows(settings, datasets.get(settings, ref)).column("labels").to_pylist()
    return sorted({label for labels in rows for label in labels})  # as TorchDataset.classes


def write_shapes(folder: Any, count: int, seed: int) -> None:
    """Generated shapes as PNG files in one folder per class (what the demo ingests)."""
    from pathlib import Path

    from PIL import Image

    images, labels = make_shapes(count, seed)
    pixels = (images.clamp(0, 1) * 255).to(dtype=__import__("torch").uint8).squeeze(1).numpy()
    for i in range(count):
        target = Path(folder) / CLASSES[int(labels[i])]
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i], mode="L").save(target / f"shape-{seed}-{i:05d}.png")


def prepare(settings: Any, count: int = 2560, seed: int = 0) -> str:
    """The ``shapes`` dataset version the demo trains on (made on first use, as the demo makes
    it: one folder per class); returns its ref."""
    from daybreak.zoo import common

    def write(folder: Any) -> common.Generated:
        write_shapes(folder / "shapes", count, seed)
        return common.Generated(folder / "shapes")

    return common.prepare_dataset(settings, DATASET, "demo-shapes", "class", write)


def build_model() -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 32),
        nn.ReLU(),
        nn.Linear(32, len(CLASSES)),
    )


def train(
    steps: int = 300,
    lr: float = 3e-3,
    batch: int = 64,
    project: str = "demo",
    name: str = "shapes-cnn",
    resume: str | None = None,
    eval_every: int = 25,
    checkpoint_every: int = 100,
    seed: int = 0,
    dataset: str | None = None,
    lr_jump_at: int | None = None,
    lr_jump: float = 1.0,
    keep_checkpoints: int = 2,
) -> str:
    """Train and log; returns the run id. With ``dataset`` ("shapes@1") the images come from
    that lake dataset version's train and val splits, else they are generated in memory.
    ``lr_jump_at``/``lr_jump``: from that step on the schedule's learning rate is multiplied
    by that factor (a bad warm restart: the demo's fault for the watchdog to catch)."""
    import torch
    from torch import nn

    import daybreak

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    config = {
        "model": "shapes-cnn",
        "steps": steps,
        "lr": lr,
        "batch": batch,
        "seed": seed,
        "classes": dataset_classes(dataset) if dataset else list(CLASSES),
        "dataset": dataset,
        **({"lr_jump_at": lr_jump_at, "lr_jump": lr_jump} if lr_jump_at is not None else {}),
    }
    run = daybreak.init(
        project=project, name=name, config=config, tags=["zoo", "classification"], resume=resume
    )
    model = build_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / 20)
            * 0.5
            * (1 + math.cos(math.pi * s / steps))
            * (lr_jump if lr_jump_at is not None and s >= lr_jump_at else 1.0)
        ),
    )
    start = 0
    latest = run.latest_checkpoint()  # a restarted job resumes from its checkpoint
    if latest is not None:
        state = latest.load()
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start = int(state["step"]) + 1
        print(f"resumed from checkpoint at step {state['step']}")
    from daybreak.zoo.common import apply_remedy

    clip = apply_remedy(lr, 10.0, optimizer, schedule)
    if dataset:
        train_x, train_y = load_split(dataset, "train")
        val_x, val_y = load_split(dataset, "val")
    else:
        train_x, train_y = make_shapes(2048, seed)
        val_x, val_y = make_shapes(512, seed + 1)
    loss_fn = nn.CrossEntropyLoss()
    accuracy: float | None = None
    with run:
        for step in range(start, steps):
            idx = torch.randint(0, len(train_x), (batch,))
            logits = model(train_x[idx])
            loss = loss_fn(logits, train_y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            schedule.step()
            run.log(
                {
                    "train/loss": loss.detach(),
                    "train/grad_norm": grad_norm,
                    "lr": schedule.get_last_lr()[0],
                },
                step=step,
            )
            if step % eval_every == 0 or step == steps - 1:
                with torch.no_grad():
                    val_logits = model(val_x)
                    val_loss = float(loss_fn(val_logits, val_y))
                    accuracy = float((val_logits.argmax(1) == val_y).float().mean())
                run.log({"val/loss": val_loss, "val/acc": accuracy}, step=step)
                print(
                    f"step {step}: train/loss {float(loss.detach()):.3f} val/loss {val_loss:.3f} val/acc {accuracy:.3f}"
                )
            if checkpoint_every and (step + 1) % checkpoint_every == 0:
                state = {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "step": step,
                }
                run.save_checkpoint(state, step=step, keep=keep_checkpoints)
        if accuracy is None:  # the checkpoint was at the end: nothing left to train
            with torch.no_grad():
                accuracy = float((model(val_x).argmax(1) == val_y).float().mean())
        run.summary["val/acc"] = accuracy
    return run.id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--project", default="demo")
    parser.add_argument("--name", default="shapes-cnn")
    parser.add_argument("--resume", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default=None, help="a lake dataset version, e.g. shapes@1")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--lr-jump-at", type=int, help="from this step the LR is multiplied...")
    parser.add_argument("--lr-jump", type=float, default=1.0, help="...by this (a bad restart)")
    parser.add_argument("--keep-checkpoints", type=int, default=2, help="the newest N are kept")
    args = parser.parse_args(argv)
    train(
        args.steps,
        args.lr,
        args.batch,
        args.project,
        args.name,
        args.resume,
        seed=args.seed,
        dataset=args.dataset,
        checkpoint_every=args.checkpoint_every,
        lr_jump_at=args.lr_jump_at,
        lr_jump=args.lr_jump,
        keep_checkpoints=args.keep_checkpoints,
    )


if __name__ == "__main__":
    main()
