"""Real tiny PyTorch trainers (MLPs and a small CNN on generated data) with the corpus's faults
injected into the loop, logging through the Daybreak SDK.

Time is virtual: every point carries the timestamp a real run of the spec's cadence would have
given it (step times with log-normal noise, start-up, evaluation and checkpoint pauses, slow
phases), passed to ``run.log(..., timestamp=...)``. Nothing sleeps, so a run of 5000 steps at
15 s a step trains in seconds. System metrics (``sys/...``) are synthesised on the same clock,
since the machine that generates the corpus has no GPU.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import traceback
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from eval.watchdog.specs import Spec

# metric names per naming style: role -> key
STYLES: dict[str, dict[str, str]] = {
    "plain": {
        "loss": "loss",
        "val_loss": "val_loss",
        "acc": "val_acc",
        "lr": "lr",
        "grad_norm": "grad_norm",
    },
    "slash": {
        "loss": "train/loss",
        "val_loss": "val/loss",
        "acc": "val/acc",
        "lr": "train/lr",
        "grad_norm": "train/grad_norm",
    },
    "under": {
        "loss": "train_loss",
        "val_loss": "val_loss",
        "acc": "val_accuracy",
        "lr": "learning_rate",
        "grad_norm": "grad_norm",
    },
    "hf": {
        "loss": "loss",
        "val_loss": "eval_loss",
        "acc": "eval_accuracy",
        "lr": "learning_rate",
        "grad_norm": "grad_norm",
        "epoch": "epoch",
    },
    # names nobody could guess; the run declares them in config["watchdog"]
    "declared": {
        "loss": "objective/total",
        "val_loss": "dev/nll",
        "acc": "dev/top1",
        "lr": "optim/lr",
        "grad_norm": "optim/gnorm",
    },
}

Series = dict[str, tuple[list[int], list[float], list[float]]]


@dataclasses.dataclass
class Trained:
    """What one training run produced, besides what went into Daybreak."""

    series: Series  # every logged key: steps, timestamps, values (as logged)
    step_ts: list[float]  # when each trained step ended
    segments: list[tuple[float, float, str]]  # (start, end, "startup" | "train" | "eval" | "ckpt")
    end_ts: float  # when the script stopped (finished, crashed) or the last step (alive)
    error: str | None = None  # the traceback of a script that raised


# -- data ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Task:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: int  # 0 for regression
    in_shape: tuple[int, ...]


def make_task(spec: Spec, gen: torch.Generator) -> Task:
    n_val = 256 if spec.task == "cnn" else 512
    total = spec.n_train + n_val
    if spec.task == "cnn":
        x, y, classes = _bars(total, gen)
    elif spec.task == "cls":
        x, y, classes = _teacher_classes(total, gen, spec.classes)
    else:
        x, y, classes = _teacher_regression(total, gen)
    if classes and spec.label_noise:
        flip = torch.rand(total, generator=gen) < spec.label_noise
        y = torch.where(flip, torch.randint(0, classes, (total,), generator=gen), y)
    if spec.variant == "shuffled_labels":  # labels that have nothing to do with the inputs
        y = torch.randint(0, classes, (total,), generator=gen)
    return Task(x[n_val:], y[n_val:], x[:n_val], y[:n_val], classes, tuple(x.shape[1:]))


def _teacher_classes(
    total: int, gen: torch.Generator, classes: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Inputs and the classes a random teacher network gives them."""
    pick = (2, 3, 5, 10)[int(torch.randint(0, 4, (1,), generator=gen))]
    classes = classes or pick
    x = torch.randn(total, 20, generator=gen)
    w1 = torch.randn(20, 24, generator=gen) / math.sqrt(20)
    w2 = torch.randn(24, classes, generator=gen)
    return x, torch.argmax(torch.tanh(x @ w1 * 2) @ w2, dim=1), classes


def _teacher_regression(total: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
    outputs = [1, 2, 4][int(torch.randint(0, 3, (1,), generator=gen))]
    x = torch.randn(total, 16, generator=gen)
    w1 = torch.randn(16, 24, generator=gen) / math.sqrt(16)
    w2 = torch.randn(24, outputs, generator=gen) / math.sqrt(24)
    y = torch.tanh(x @ w1 * 2) @ w2
    y = y / y.std()
    noise = 0.05 + 0.25 * float(torch.rand(1, generator=gen))
    return x, y + noise * torch.randn(y.shape, generator=gen), 0


def _bars(total: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
    """8x8 images of a bar, horizontal, vertical or along either diagonal, shifted, noisy."""
    size = 8
    eye = torch.eye(size)
    templates = torch.zeros(4, size, size)
    templates[0, size // 2, :] = 1
    templates[1, :, size // 2] = 1
    templates[2] = eye
    templates[3] = eye.flip(1)
    y = torch.randint(0, 4, (total,), generator=gen)
    images = templates[y]
    shifts = torch.randint(-2, 3, (total, 2), generator=gen)
    rolled = torch.stack(
        [
            torch.roll(img, (int(dy), int(dx)), (0, 1))
            for img, (dy, dx) in zip(images, shifts, strict=True)
        ]
    )
    noisy = rolled + 0.5 * torch.randn(rolled.shape, generator=gen)
    return noisy.unsqueeze(1), y, 4


# -- models ---------------------------------------------------------------------------------


class Standardize(nn.Module):
    """Per-batch feature standardisation without an epsilon: a constant batch divides by 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(0)) / x.std(0)


def make_model(spec: Spec, task: Task, gen_seed: int) -> nn.Module:
    torch.manual_seed(gen_seed)
    out = task.classes or int(task.y_train.shape[1])
    if spec.task == "cnn":
        w = spec.width
        return nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * w, out),
        )
    act = {0: nn.ReLU, 1: nn.GELU, 2: nn.Tanh}[spec.seed % 3]
    if spec.variant == "dead_relu":
        act = nn.ReLU
    layers: list[nn.Module] = [Standardize()] if spec.variant == "zero_std" else []
    width_in = task.in_shape[0]
    for _ in range(spec.depth):
        layers += [nn.Linear(width_in, spec.width), act()]
        width_in = spec.width
    layers.append(nn.Linear(width_in, out))
    model = nn.Sequential(*layers)
    if spec.variant == "lr_blowup_fp16":  # every layer's output through fp16, as under autocast
        for layer in model:
            if isinstance(layer, nn.Linear):
                layer.register_forward_hook(_through_fp16)
    if spec.variant == "dead_relu":  # every hidden unit starts (and stays) dead
        with torch.no_grad():
            for layer in model:
                if isinstance(layer, nn.Linear) and layer is not layers[-1]:
                    layer.bias.fill_(-10.0)
    return model


def _through_fp16(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    return output.half().float()  # beyond 65504: inf


# -- the schedule and the virtual clock -------------------------------------------------------


def schedule(spec: Spec, step: int) -> float:
    """The LR multiplier of the spec's schedule at ``step``."""
    total = max(1, spec.steps)
    warm = min(1.0, (step + 1) / spec.warmup) if spec.warmup else 1.0
    progress = min(1.0, step / total)
    name = spec.schedule
    if name == "warmup_cosine":
        return warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))
    if name == "step":
        return warm * (0.1 ** int(progress >= 0.5)) * (0.1 ** int(progress >= 0.75))
    if name == "sgdr":  # cosine with warm restarts, cycles doubling (SGDR)
        cycle = max(10, total // 7)
        position = step
        while position >= cycle:
            position -= cycle
            cycle *= 2
        return warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * position / cycle)))
    if name == "linear":
        return warm * max(0.02, 1 - progress)
    return warm * _wide_schedule(name, step, total, progress)  # constant, warmup_constant, ...


def _wide_schedule(name: str, step: int, total: int, progress: float) -> float:
    """The schedules only a held-out (wide) corpus draws; 1 for constant and warmup_constant."""
    if name == "cosine":  # no warm-up
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))
    if name == "step3":  # x0.3 at 30%, 60% and 90%
        return float(0.3 ** sum(progress >= edge for edge in (0.3, 0.6, 0.9)))
    if name == "exp":  # exponential decay to 1%
        return float(0.01**progress)
    if name == "onecycle":  # up for 30% from 4%, then cosine down to 0.1%
        if progress < 0.3:
            return 0.04 + 0.96 * progress / 0.3
        return 0.001 + 0.999 * 0.5 * (1 + math.cos(math.pi * (progress - 0.3) / 0.7))
    if name == "cyclic":  # triangular cycles between 10% and 100%, five of them
        period = max(10, total // 5)
        phase = (step % period) / period
        return 0.1 + 0.9 * (1 - abs(2 * phase - 1))
    if name == "sgdr_fixed":  # cosine restarts every quarter of the run
        cycle = max(10, total // 4)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (step % cycle) / cycle))
    return 1.0


def lr_factor(spec: Spec, step: int) -> float:
    """The LR multiplier at ``step``: the schedule's, or from a fault's onset on, the bad LR
    it set (a resume that lost the scheduler and set the LR by hand, a warm-up that never
    stopped), which no schedule brings down again."""
    onset = spec.onset
    if onset is None or step < onset or spec.variant not in LR_FAULTS:
        return schedule(spec, step)
    factor = float(spec.fault["factor"])
    if spec.variant == "lr_ramp":
        ramp = max(1, int(spec.fault["ramp"]))
        return float(factor ** min(1.0, (step - onset + 1) / ramp))
    return factor


LR_FAULTS = ("lr_blowup_fp16", "lr_jump", "lr_ramp")


class Clock:
    """When each step ends, on a virtual clock."""

    def __init__(self, spec: Spec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.t = spec.t0
        self.segments: list[tuple[float, float, str]] = []
        self.pause("startup", spec.startup)

    def pause(self, what: str, seconds: float) -> None:
        if seconds > 0:
            self.segments.append((self.t, self.t + seconds, what))
            self.t += seconds

    def step(self, step: int) -> float:
        spec = self.spec
        seconds = spec.cadence * math.exp(self.rng.normal(0, spec.jitter))
        if self.rng.random() < 0.003:  # a rare hiccup (GC, a slow batch)
            seconds *= self.rng.uniform(2, 6)
        if spec.kind == "throughput_drop" and spec.onset is not None and step >= spec.onset:
            seconds *= float(spec.fault["factor"])
        start = self.t
        self.t += seconds
        if self.segments and self.segments[-1][2] == "train" and self.segments[-1][1] == start:
            self.segments[-1] = (self.segments[-1][0], self.t, "train")
        else:
            self.segments.append((start, self.t, "train"))
        return self.t


# -- training ---------------------------------------------------------------------------------


def rounded(value: float) -> float:
    """Six significant digits keep the files small and lose nothing a detector could use."""
    return float(f"{value:.6g}") if math.isfinite(value) else value


class Recorder:
    """Logs through the SDK and keeps what it logged."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.series: Series = {}

    def log(self, values: dict[str, float], step: int, ts: float) -> None:
        values = {k: rounded(float(v)) for k, v in values.items()}
        ts = round(ts, 3)
        self.run.log(values, step=step, timestamp=ts)
        for key, value in values.items():
            steps, stamps, points = self.series.setdefault(key, ([], [], []))
            steps.append(step)
            stamps.append(ts)
            points.append(value)


def train(spec: Spec, run: Any) -> Trained:
    """Train the spec's model, faults included, logging to ``run``."""
    torch.manual_seed(spec.seed % (2**31))
    gen = torch.Generator().manual_seed(spec.seed % (2**31))
    rng = np.random.default_rng(spec.seed)
    task = make_task(spec, gen)
    model = make_model(spec, task, spec.seed % (2**31))
    names = STYLES[spec.style]
    scale = spec.loss_scale
    sgd = spec.optimizer == "sgd"
    base_lr = spec.lr / scale if sgd else spec.lr  # SGD: the same dynamics at any loss scale
    trained = model if spec.variant != "frozen" else copy.deepcopy(model)  # the bug: a copy
    params = list(trained.parameters())
    if sgd:
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=base_lr, momentum=0.9, weight_decay=spec.weight_decay * scale
        )
    elif spec.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=base_lr)
    else:
        optimizer = torch.optim.AdamW(params, lr=base_lr, weight_decay=spec.weight_decay)
    clip = spec.clip * scale if spec.clip else float("inf")
    clock = Clock(spec, rng)
    recorder = Recorder(run)
    step_ts: list[float] = []
    window: list[tuple[float, float]] = []
    guard_tripped: int | None = None
    error: str | None = None
    last = spec.last_step
    raises = spec.kind == "crashed" and spec.variant == "exception"
    crash_at = spec.stop_at if raises else None  # killed or vanished: it just stops
    try:
        for step in range(last + 1):
            if step == spec.fault.get("resume_at"):  # the process was gone, then restarted
                clock.pause("down", float(spec.fault["down"]))
                clock.pause("startup", spec.startup)
            x, y = batch(spec, task, gen, step)
            if crash_at is not None and step == crash_at:
                fail(str(spec.fault["error"]), step)
            lr = base_lr * lr_factor(spec, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            loss = scale * loss_of(spec, model(x), y, task)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if spec.variant == "grads_cleared":  # the bug: zero_grad between backward and step
                optimizer.zero_grad(set_to_none=True)
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            window.append((float(loss.detach()), float(grad_norm)))
            ts = clock.step(step)
            step_ts.append(ts)
            if (step + 1) % spec.log_every == 0 or step == last:
                values = logged_values(spec, names, window, lr, step, task)
                recorder.log(values, step, ts)
                window = []
                if guard_tripped is not None:
                    raise FloatingPointError(
                        f"non-finite loss at step {guard_tripped}: training stopped"
                    )
                if spec.fault.get("guard") and not math.isfinite(values[names["loss"]]):
                    guard_tripped = step  # the script checks at its next log
            evaluate_now = spec.eval_every and (
                (step + 1) % spec.eval_every == 0 or step == spec.steps - 1
            )
            in_eval = bool(spec.fault.get("in_eval")) and step == last
            if evaluate_now and not in_eval:
                clock.pause("eval", spec.eval_pause * float(rng.uniform(0.85, 1.15)))
                recorder.log(evaluate(spec, names, model, task), step, clock.t)
            if spec.ckpt_every and (step + 1) % spec.ckpt_every == 0 and step != last:
                clock.pause("ckpt", spec.ckpt_pause * float(rng.uniform(0.7, 1.3)))
    except Exception as exc:
        if not isinstance(exc, FloatingPointError) and not getattr(exc, "injected", False):
            raise  # a bug here, not a crash the spec asked for
        error = "".join(traceback.format_exception(exc))
    end = clock.t + (float(rng.uniform(0.05, 0.6)) * spec.cadence if error else 0.0)
    return Trained(recorder.series, step_ts, clock.segments, end, error)


def batch(
    spec: Spec, task: Task, gen: torch.Generator, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.randint(0, task.x_train.shape[0], (spec.batch,), generator=gen)
    x, y = task.x_train[rows], task.y_train[rows]
    onset = spec.onset
    if onset is None or spec.kind not in ("nan", "loss_spike"):
        return x, y
    if spec.kind == "loss_spike" and onset <= step < onset + int(spec.fault["length"]):
        factor = float(spec.fault["factor"])
        if task.classes:  # a few corrupted batches: blown-up inputs, wrong labels
            return x * factor, (y + 1) % task.classes
        return x, y * factor
    if step != onset:
        return x, y
    if spec.variant == "log_zero":  # one corrupted sample batch: huge inputs
        return x * 1e4, y
    if spec.variant == "zero_std":  # a batch of one repeated row
        return x[:1].expand_as(x).clone(), y[:1].expand_as(y).clone()
    if spec.variant == "inf_target":  # a corrupted label
        y = y.clone()
        y[0] = float("inf")
    return x, y


def loss_of(spec: Spec, out: torch.Tensor, y: torch.Tensor, task: Task) -> torch.Tensor:
    if spec.variant == "lr_blowup_fp16":  # activations through fp16, as under autocast
        out = out.half().float()
    if not task.classes:
        return F.mse_loss(out, y)
    if spec.variant == "log_zero":  # a hand-written cross-entropy: log of a softmax
        probs = torch.softmax(out, dim=1)
        return -torch.log(probs[torch.arange(len(y)), y]).mean()
    return F.cross_entropy(out, y)


def logged_values(
    spec: Spec,
    names: dict[str, str],
    window: list[tuple[float, float]],
    lr: float,
    step: int,
    task: Task,
) -> dict[str, float]:
    if spec.log_mode == "mean":
        loss = sum(v for v, _ in window) / len(window)
        grad = sum(g for _, g in window) / len(window)
    else:
        loss, grad = window[-1]
    values = {names["loss"]: loss}
    if spec.log_grad_norm:
        values[names["grad_norm"]] = grad
    if spec.log_lr:
        values[names["lr"]] = lr
    if "epoch" in names:
        values[names["epoch"]] = (step + 1) * spec.batch / task.x_train.shape[0]
    return values


def evaluate(spec: Spec, names: dict[str, str], model: nn.Module, task: Task) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        out = model(task.x_val)
        if spec.variant == "lr_blowup_fp16":
            out = out.half().float()
        if task.classes:
            loss = float(F.cross_entropy(out, task.y_val))
            acc = float((out.argmax(1) == task.y_val).float().mean())
            return {names["val_loss"]: spec.loss_scale * loss, names["acc"]: acc}
        return {names["val_loss"]: spec.loss_scale * float(F.mse_loss(out, task.y_val))}


# -- what a crashing script raises -------------------------------------------------------------


def fail(kind: str, step: int) -> None:
    """Raise the error a real script would, from a plausible place."""
    try:
        RAISERS[kind](step)
    except Exception as exc:
        exc.injected = True  # type: ignore[attr-defined]
        raise


def _load_sample(step: int) -> None:
    path = f"/data/shards/train-{step % 97:05d}.tar"
    raise ValueError(f"could not decode sample 'img_{step * 31 % 100000:06d}.jpg' in {path}")


def _all_reduce(step: int) -> None:
    raise RuntimeError(
        "NCCL communicator was aborted on rank 1. Original reason for failure was: "
        "[Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum="
        f"{step * 2}, OpType=ALLREDUCE, Timeout(ms)=600000) ran for 600083 milliseconds"
    )


def _save_checkpoint(step: int) -> None:
    raise OSError(28, "No space left on device", f"/ckpt/run/step-{step}.pt")


def _forward_head(step: int) -> None:
    raise RuntimeError(
        "mat1 and mat2 shapes cannot be multiplied (32x1024 and 512x10)"
        f" [batch {step} had a different image size]"
    )


def _lookup_label(step: int) -> None:
    labels: dict[str, int] = {"cat": 0, "dog": 1}
    _ = labels[f"class_{step % 13}"]


def _fetch_shard(step: int) -> None:
    raise ConnectionResetError(104, f"Connection reset by peer while reading shard {step % 97}")


RAISERS = {
    "data": _load_sample,
    "nccl": _all_reduce,
    "disk": _save_checkpoint,
    "shape": _forward_head,
    "key": _lookup_label,
    "connection": _fetch_shard,
}


# -- system metrics ----------------------------------------------------------------------------


def system_metrics(
    spec: Spec,
    segments: list[tuple[float, float, str]],
    end: float,
    alive_after: float,
    idle_from: float | None,
    slow_from: float | None,
    rng: np.random.Generator,
) -> Series:
    """``sys/...`` points as the SDK's sampler would take them every few seconds from the
    run's start to ``end``: CPU and, for a run with GPUs, utilisation and memory per GPU.
    After ``alive_after`` the process is alive but not training (a hang). From ``idle_from``
    the GPU idles while training goes on (input-bound); from ``slow_from`` it waits for slow
    data. The interval is the SDK's 5 s, coarser for long runs so no run has more than about
    200 samples (``system_metrics_interval`` is a setting)."""
    start = spec.t0
    interval = max(5.0, (end - start) / 200)
    times = np.arange(start + interval, end + 1e-9, interval)
    edges = np.array([s for s, _, _ in segments])
    states = [what for _, _, what in segments]
    series: Series = {}
    memory = [float(rng.uniform(3, 40)) for _ in range(spec.gpus)]
    number = 0
    for t in times:
        index = int(np.searchsorted(edges, t, side="right")) - 1
        state = states[index] if 0 <= index < len(states) else "train"
        if t > alive_after:
            state = "hang"
        if state == "down":  # no process, no sampler
            continue
        busy = {"train": 1.0, "eval": 0.6, "ckpt": 0.1, "startup": 0.02, "hang": 0.0}[state]
        values = {"sys/cpu_percent": 8 + 70 * busy + rng.normal(0, 4)}
        for gpu in range(spec.gpus):
            util = _gpu_util(spec, state, t, idle_from, slow_from, rng) - 3 * gpu
            values[f"sys/gpu{gpu}/{spec.gpu_key}"] = float(np.clip(util, 0, 100))
            used = 0.4 if state == "startup" else memory[gpu] + rng.normal(0, 0.02)
            values[f"sys/gpu{gpu}/mem_used_gb"] = used
        for name, value in values.items():
            steps, stamps, points = series.setdefault(name, ([], [], []))
            steps.append(number)
            stamps.append(round(float(t), 3))
            points.append(rounded(float(value)))
        number += 1
    return series


def _gpu_util(
    spec: Spec,
    state: str,
    t: float,
    idle_from: float | None,
    slow_from: float | None,
    rng: np.random.Generator,
) -> float:
    base = spec.gpu_util
    if state == "hang":  # a deadlocked loader idles the GPU; a hung collective spins it
        if spec.variant == "collective_hang":
            return float(99.5 + rng.normal(0, 0.3))
        return float(rng.uniform(0, 1))
    if state == "startup":
        return float(rng.uniform(0, 4))
    if state == "ckpt":
        return float(rng.uniform(0, 10))
    if idle_from is not None and t >= idle_from:
        return float(spec.fault["idle_util"] + rng.normal(0, 1.5))
    if slow_from is not None and t >= slow_from:
        return float(base / spec.fault["factor"] + rng.normal(0, 1.5))
    if state == "eval":
        if spec.eval_util >= 0:  # a wide corpus: some evaluations leave the GPU nearly idle
            return float(base * spec.eval_util * rng.uniform(0.8, 1.2))
        return float(base * rng.uniform(0.6, 0.95))
    return float(base + rng.normal(0, 2.5))
