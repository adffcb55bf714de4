"""What every zoo trainer shares: putting generated data into the lake as a dataset version,
reading a version's images and labels back, and the one training loop (logging, evaluation,
checkpoints, resume).

A trainer module supplies the data generator, the model, a loss over a batch of training rows
and an evaluation over the validation split; :func:`fit` does the rest the same way for all of
them, so a job restarted with the same run id picks up at the step after its last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from daybreak.config import Settings, get_settings
from daybreak.errors import ConfigError

SPLITS = {"train": 0.8, "val": 0.2}


@dataclasses.dataclass(frozen=True)
class Generated:
    """What a ``write_data`` wrote: the folder to ingest and the labels file to import
    (``None`` when the folder names are the labels, as for text classes)."""

    files: Path
    labels: Path | None = None
    format: str | None = None


# -- into the lake -------------------------------------------------------------------------------


def prepare_dataset(
    settings: Settings,
    name: str,
    source: str,
    kind: str,
    write: Callable[[Path], Generated],
) -> str:
    """The latest version of dataset ``name``, or, when there is none, a new one made from
    what ``write(folder)`` generates: ingested with ``source``, labels imported, and the assets
    of that source with a ``kind`` label split train/val. Returns its ref (``zoo-pose@1``)."""
    from daybreak.lake import datasets
    from daybreak.lake.ingest import ingest
    from daybreak.lake.labels import import_labels
    from daybreak.lake.tables import Lake

    existing = datasets.list_versions(settings, name)
    if existing:
        return existing[-1].ref
    lake = Lake(settings)
    with tempfile.TemporaryDirectory(prefix="daybreak-zoo-") as folder:
        generated = write(Path(folder))
        report = ingest(
            lake, [generated.files], source=source, folder_labels=generated.labels is None
        )
        if report.skipped:
            raise ConfigError(
                f"{len(report.skipped)} generated files were not ingested: {report.skipped[:3]}",
                "this is a bug in the generator",
            )
        if generated.labels is not None:
            import_labels(
                lake,
                generated.labels,
                generated.format or "coco",
                source=source,
                images_dir=generated.files,
            )
    where = f"source = '{source}' AND label_kind = '{kind}'"
    return datasets.create(lake, settings, name, where, SPLITS).ref


def save_png(pixels: Any, path: Path) -> None:
    """An HxW (gray) or HxWx3 (RGB) uint8 array as a PNG file (lossless: the lake keeps the
    exact pixels the labels were drawn from)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")


def write_coco(
    path: Path,
    files: list[str],
    size: tuple[int, int],
    categories: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
) -> Path:
    """A COCO JSON file: ``files[i]`` is image id ``i + 1``; ``annotations`` carry their
    ``image_id``, ids are filled in."""
    width, height = size
    images = [
        {"id": i + 1, "file_name": name, "width": width, "height": height}
        for i, name in enumerate(files)
    ]
    notes = [{"id": i + 1, **note} for i, note in enumerate(annotations)]
    path.write_text(json.dumps({"images": images, "categories": categories, "annotations": notes}))
    return path


# -- out of the lake -----------------------------------------------------------------------------


@dataclasses.dataclass
class Split:
    """One split of a dataset version, in memory: ``images`` a float tensor [N, C, H, W] in
    [0, 1] at the training size (``None`` for text), ``sizes`` each asset's own (width,
    height), which its labels' pixels refer to, ``texts`` the texts of text assets, ``labels``
    the chosen annotation rows of each row, ``targets`` the class index of each row (-1: none)."""

    sha256: list[str]
    images: Any
    labels: list[list[dict[str, Any]]]
    targets: list[int]
    classes: list[str]
    sizes: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    texts: list[str] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sha256)


def load_split(
    ref: str,
    split: str,
    kind: str | None,
    size: tuple[int, int] | None = None,
    channels: int = 3,
    settings: Settings | None = None,
) -> Split:
    """A split of ``ref`` with its ``kind`` labels (the latest round of each asset's labels).
    Images come from the pre-decoded cache at ``size`` (height, width), built on first use;
    with ``size=None`` the assets are texts. Made inside a run, the run records the version."""
    import torch

    from daybreak.lake.reader import read_assets
    from daybreak.lake.tables import Lake
    from daybreak.lake.torch import TorchDataset

    settings = settings or get_settings()
    if size is None:
        data = TorchDataset(ref, split=split, decode=False, settings=settings)
    else:
        data = TorchDataset(ref, split=split, cache=size, settings=settings)
    if len(data) == 0:
        raise ConfigError(
            f"{data.version.ref} has no rows in its {split!r} split",
            "prepare a larger dataset (more rows give every split some)",
        )
    items = data.__getitems__(list(range(len(data))))
    by_sha = labels_by_asset(ref, kind, settings) if kind else {}
    out = Split(
        sha256=list(data.sha256),
        images=None,
        labels=[by_sha.get(sha, []) for sha in data.sha256],
        targets=list(data.targets),
        classes=list(data.classes),
    )
    if size is None:
        out.texts = [bytes(raw).decode("utf-8") for raw, _ in items]
        return out
    out.images = torch.stack([image[:channels] for image, _ in items]).float().div(255)
    found = read_assets(
        Lake(settings), data.version.assets_version, out.sha256, ["width", "height"]
    )
    out.sizes = [(int(row["width"]), int(row["height"])) for row in found]
    return out


def labels_by_asset(
    ref: str, kind: str, settings: Settings | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The ``kind`` annotation rows of each asset of ``ref``, as they were when the version was
    made. Where an asset was labelled more than once, the latest round (by time) wins, so a
    relabelling replaces the labels instead of adding to them."""
    from daybreak.lake import datasets
    from daybreak.lake.tables import Lake

    settings = settings or get_settings()
    record = datasets.get(settings, ref)
    groups: dict[str, dict[tuple[str, int], list[dict[str, Any]]]] = {}
    for row in datasets.labels_of(Lake(settings), settings, record):
        if row["kind"] == kind:
            groups.setdefault(row["sha256"], {}).setdefault(
                (row["source"], row["round"]), []
            ).append(row)
    return {
        sha: max(rounds.values(), key=lambda rows: max(r["created_at"] for r in rows))
        for sha, rounds in groups.items()
    }


# -- training ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Hyper:
    """The loop's settings, the same for every trainer."""

    steps: int
    lr: float
    batch: int
    eval_every: int = 50
    checkpoint_every: int = 100
    warmup: int = 20
    weight_decay: float = 1e-4
    clip: float = 10.0


Prepare = Callable[..., str]  # (settings, count=, seed=) -> the ref of the zoo's own dataset
# (model, indices of training rows as a CPU tensor, generator for augmentation) -> loss
Loss = Callable[[Any, Any, Any], Any]
Evaluate = Callable[[Any], dict[str, float]]  # model -> {"val/loss": ..., "val/<metric>": ...}


@dataclasses.dataclass(frozen=True)
class Options:
    """What a trainer's ``train`` takes (the classifier's aside); a trainer's defaults are its
    ``tiny`` preset."""

    name: str
    steps: int
    lr: float
    batch: int
    width: int
    count: int
    project: str = "zoo"
    resume: str | None = None
    seed: int = 0
    dataset: str | None = None
    checkpoint_every: int = 100
    eval_every: int = 50
    device: str = "cpu"
    threads: int = 1

    def hyper(self, warmup: int = 20) -> Hyper:
        return Hyper(
            self.steps, self.lr, self.batch, self.eval_every, self.checkpoint_every, warmup
        )


class Arguments(TypedDict, total=False):
    """:class:`Options` as ``train``'s keyword arguments, each one optional."""

    steps: int
    lr: float
    batch: int
    project: str
    name: str
    resume: str | None
    seed: int
    dataset: str | None
    checkpoint_every: int
    eval_every: int
    width: int
    device: str
    threads: int
    count: int


def start(
    category: str, options: Options, prepare: Prepare, model: str, metric: str, **config: Any
) -> tuple[Any, str]:
    """Get the dataset (see :func:`dataset_or_prepare`), seed, set the CPU threads, and start
    (or continue) the tracked run; returns it and the dataset's ref. The run's config holds
    ``model``, the options that shape training, the dataset, ``config`` and the ``metric`` in
    words."""
    import torch

    import daybreak

    dataset = dataset_or_prepare(
        options.dataset, options.count, options.seed, prepare, options.device
    )
    shape = {name: getattr(options, name) for name in ("steps", "lr", "batch", "width", "seed")}
    settings = {"model": model, **shape, "dataset": dataset, **config, "metric": metric}
    torch.manual_seed(options.seed)
    if options.threads > 0:
        torch.set_num_threads(options.threads)
    run = daybreak.init(
        project=options.project,
        name=options.name,
        config=settings,
        tags=["zoo", category],
        resume=options.resume,
    )
    return run, dataset


def load_splits(
    ref: str, kind: str | None, size: tuple[int, int] | None = None, channels: int = 3
) -> tuple[Split, Split]:
    """The train and val splits of ``ref`` (see :func:`load_split`)."""
    train = load_split(ref, "train", kind, size, channels)
    return train, load_split(ref, "val", kind, size, channels)


def fit(
    run: Any,
    model: Any,
    hyper: Hyper,
    train_rows: int,
    loss_of: Loss,
    evaluate: Evaluate,
    metric: str,
    seed: int = 0,
    extra: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Train ``model`` for ``hyper.steps`` steps, logging to ``run``; returns the last
    evaluation. Always looks for the run's latest checkpoint first: found, the model,
    optimizer, LR schedule and batch sampler continue from it, at the step after it.
    ``extra`` goes into every checkpoint (what a model needs besides its weights)."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=hyper.lr, weight_decay=hyper.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(hyper))
    sampler = torch.Generator().manual_seed(seed + 1)
    start_step = restore(run, model, optimizer, schedule, sampler)
    hyper = dataclasses.replace(hyper, clip=apply_remedy(hyper.lr, hyper.clip, optimizer, schedule))
    results: dict[str, float] = {}
    for step in range(start_step, hyper.steps):
        model.train()
        rows = torch.randint(0, train_rows, (hyper.batch,), generator=sampler)
        loss = loss_of(model, rows, sampler)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), hyper.clip)
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
        if step == hyper.steps - 1 or (hyper.eval_every and (step + 1) % hyper.eval_every == 0):
            results = _evaluate(model, evaluate)
            run.log(results, step=step)
            print(
                f"step {step}: train/loss {float(loss.detach()):.4f} " + _show(results), flush=True
            )
        if step == hyper.steps - 1 or (
            hyper.checkpoint_every and (step + 1) % hyper.checkpoint_every == 0
        ):
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "sampler": sampler.get_state(),
                "step": step,
                **(extra or {}),
            }
            run.save_checkpoint(state, step=step, keep=2)
    if not results:  # nothing left to train: the checkpoint was already at the end
        results = _evaluate(model, evaluate)
        print(f"nothing left to train after step {start_step - 1}: " + _show(results), flush=True)
    run.summary[metric] = results[metric]
    run.summary["val/loss"] = results["val/loss"]
    return results


def restore(run: Any, model: Any, optimizer: Any, schedule: Any, sampler: Any) -> int:
    """Load the run's latest checkpoint, if it has one; returns the step to start at."""
    latest = run.latest_checkpoint()
    if latest is None:
        return 0
    state = latest.load(map_location=next(model.parameters()).device)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"the checkpoint at step {state['step']} of run {run.id} does not fit this model: "
            f"{str(exc).splitlines()[0]}",
            "resume with the settings the run started with (`daybreak runs show RUN`)",
        ) from exc
    schedule.load_state_dict(state["schedule"])
    if "sampler" in state:
        sampler.set_state(state["sampler"].cpu())
    print(f"resumed from the checkpoint at step {state['step']}", flush=True)
    return int(state["step"]) + 1


def apply_remedy(lr: float, clip: float, optimizer: Any, schedule: Any) -> float:
    """Apply the change the watchdog restarted this job with (see
    ``daybreak.jobs.runtime.remedy``) to a restored optimizer and LambdaLR schedule: the
    learning rate scaled from the configured ``lr``; returns the gradient clip to use."""
    from daybreak.jobs.runtime import remedy

    change = remedy()
    if "lr_scale" in change:
        scaled = lr * change["lr_scale"]
        schedule.base_lrs = [scaled for _ in schedule.base_lrs]
        factor = schedule.lr_lambdas[0](max(schedule.last_epoch, 0))
        for group in optimizer.param_groups:
            group["initial_lr"], group["lr"] = scaled, scaled * factor
    if change:
        print(f"the watchdog restarted this job with {change}", flush=True)
    return min(clip, change.get("clip_grad", clip))


def _warmup_cosine(hyper: Hyper) -> Callable[[int], float]:
    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, hyper.warmup))
        return warm * 0.5 * (1 + math.cos(math.pi * min(step, hyper.steps) / max(1, hyper.steps)))

    return factor


def _evaluate(model: Any, evaluate: Evaluate) -> dict[str, float]:
    import torch

    model.eval()
    with torch.no_grad():
        return {k: float(v) for k, v in evaluate(model).items()}


def _show(results: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in results.items())


def batches(count: int, size: int) -> list[slice]:
    """Slices covering ``range(count)`` in chunks of ``size`` (for evaluation)."""
    return [slice(i, min(count, i + size)) for i in range(0, count, size)]


# -- the command line ----------------------------------------------------------------------------


def main(train: Callable[..., str], args: dict[str, Any]) -> None:
    """A trainer's command line: the flags :func:`parse` read, into ``train``; a Daybreak
    error is shown as its message and hint, with its exit code, not as a traceback."""
    import sys

    from daybreak.errors import DaybreakError

    args.pop("preset")
    try:
        run_id = train(**args)
    except DaybreakError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from exc
    print(f"run {run_id} done", flush=True)


def parse(
    argv: list[str] | None,
    description: str | None,
    presets: dict[str, dict[str, Any]],
    project: str,
    name: str,
    dataset_hint: str,
) -> dict[str, Any]:
    """The trainers' shared flags; a preset (``tiny``, the default, or ``full``) fills in
    every flag not given. Returns keyword arguments for ``train``, and ``preset``."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=sorted(presets), default="tiny")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--width", type=int, help="channels of the model's first layer")
    parser.add_argument("--project", default=project)
    parser.add_argument("--name", default=name)
    parser.add_argument("--resume", default=None, help="a run id: continue that run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dataset", default=None, help=f"a lake dataset version, e.g. {dataset_hint}"
    )
    parser.add_argument("--count", type=int, help="rows to generate when there is no --dataset")
    parser.add_argument("--checkpoint-every", type=int)
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--device", default=None, help="cpu (default for tiny) or cuda")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (0: torch's default)")
    args = vars(parser.parse_args(argv))
    chosen = presets[args["preset"]]
    return {k: chosen.get(k) if v is None else v for k, v in args.items()}


def check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} asked for, but this torch sees no CUDA GPU", "use --device cpu"
        )


def dataset_or_prepare(
    dataset: str | None, count: int, seed: int, prepare: Prepare, device: str = "cpu"
) -> str:
    """``dataset`` as given, or the zoo's own generated version (made on first use); the
    device is checked first, so a wrong one fails before anything is generated."""
    check_device(device)
    if dataset:
        return dataset
    started = time.monotonic()
    ref = prepare(get_settings(), count=count, seed=seed)
    print(f"dataset {ref} ready in {time.monotonic() - started:.1f}s", flush=True)
    return str(ref)
