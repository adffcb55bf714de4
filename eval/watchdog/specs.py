"""What each corpus run is: the shape of a healthy run (task, model, optimizer, schedule, loss
scale, metric names, cadence, pauses, GPUs) and, for a faulty one, the fault and where it is
injected. Everything is drawn from one seeded generator per run, so a corpus is reproducible.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

from daybreak.watchdog.findings import KINDS as FINDING_KINDS

# the kinds the corpus injects: every finding kind but those only an error text shows
KINDS = tuple(k for k in FINDING_KINDS if k not in ("oom", "known_error"))
HEALTHY = "healthy"

VARIANTS: dict[str, tuple[str, ...]] = {
    HEALTHY: ("finished", "running", "stopped", "resumed"),
    "nan": ("lr_blowup_fp16", "log_zero", "zero_std", "inf_target"),
    "divergence": ("lr_jump", "lr_ramp"),
    "loss_spike": ("bad_batches",),
    "no_learning": ("lr_tiny", "frozen", "dead_relu", "shuffled_labels", "grads_cleared"),
    "overfitting": ("tiny_train_set",),
    "stalled": ("deadlock", "collective_hang"),
    "crashed": ("exception", "killed", "vanished"),
    "throughput_drop": ("slow_io", "shared_gpu", "slow_io_idle_gpu"),
    "gpu_idle": ("input_bound", "idle_from_onset"),
}

# runs per kind: the full corpus and the quick one (for tests)
FULL = {HEALTHY: 150, **{kind: 14 for kind in KINDS}}
QUICK = {HEALTHY: 12, **{kind: 2 for kind in KINDS}}

SCHEDULES = ("constant", "warmup_cosine", "step", "sgdr", "linear", "warmup_constant")
# a held-out ("wide") corpus also draws schedules the committed corpus never has
WIDE_SCHEDULES = (*SCHEDULES, "cosine", "step3", "exp", "onecycle", "cyclic", "sgdr_fixed")
WARMED = ("warmup_cosine", "linear", "warmup_constant")
STYLES = ("plain", "slash", "under", "hf", "declared")
BASE_TIME = 1_700_000_000.0  # 2023-11-14: the corpus starts well in the past


@dataclasses.dataclass
class Spec:
    """One corpus run: its shape and, for a faulty run, its fault."""

    index: int
    seed: int
    kind: str  # "healthy" or one of KINDS
    variant: str
    quick: bool
    corpus: int = 0  # the corpus seed
    wide: bool = False  # a held-out corpus: shapes beyond the committed corpus's (see _widen)
    task: str = "cls"  # cls (MLP classifier), reg (MLP regression), cnn (small CNN classifier)
    n_train: int = 20000
    classes: int = 0  # 0: drawn with the data
    label_noise: float = 0.0
    width: int = 64
    depth: int = 2
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch: int = 32
    clip: float = 0.0  # gradient clipping at this norm (of the unscaled loss); 0: none
    steps: int = 500
    schedule: str = "constant"
    warmup: int = 0
    loss_scale: float = 1.0
    style: str = "plain"
    log_every: int = 1
    log_mode: str = "last"  # last: the step's loss; mean: the mean since the last log
    eval_every: int = 0  # 0: no validation
    log_grad_norm: bool = True
    log_lr: bool = True
    cadence: float = 0.1  # seconds per step
    jitter: float = 0.1  # sigma of the log-normal step time noise
    startup: float = 10.0  # seconds before the first step ends (loading, compiling)
    eval_pause: float = 0.0  # seconds per evaluation
    ckpt_every: int = 0
    ckpt_pause: float = 0.0
    gpus: int = 0
    gpu_util: float = 90.0
    eval_util: float = -1.0  # GPU utilisation during evaluations, x gpu_util; < 0: 0.6-0.95
    gpu_key: str = "util_percent"
    status: str = "finished"  # what the run record says at the end: finished, running, stopped
    stop_at: int | None = None  # last step trained when the run does not reach the end
    onset: int | None = None  # where the fault is injected (a step)
    fault: dict[str, Any] = dataclasses.field(default_factory=dict)
    review: float = 3600.0  # seconds between the run's last sign of life and `now`
    t0: float = BASE_TIME

    @property
    def last_step(self) -> int:
        return self.steps - 1 if self.stop_at is None else self.stop_at


def plan(
    quick: bool,
    seed: int = 0,
    wide: bool = False,
    healthy: int | None = None,
    per_kind: int | None = None,
) -> list[Spec]:
    """Every run of a corpus, kinds interleaved so any prefix covers them. ``wide`` draws
    shapes beyond the committed corpus's (a held-out corpus); ``healthy`` and ``per_kind``
    override how many runs of each there are."""
    counts = dict(QUICK if quick else FULL)
    if healthy is not None:
        counts[HEALTHY] = healthy
    if per_kind is not None:
        counts.update({kind: per_kind for kind in KINDS})
    queues = {kind: _variants(kind, count) for kind, count in counts.items()}
    order: list[tuple[str, str]] = []
    while any(queues.values()):
        for kind in (HEALTHY, *KINDS):
            if queues[kind]:
                order.append((kind, queues[kind].pop(0)))
            if kind == HEALTHY:  # healthy runs are the bulk: several per round
                for _ in range(max(0, counts[HEALTHY] // max(1, counts["nan"]) - 1)):
                    if queues[HEALTHY]:
                        order.append((HEALTHY, queues[HEALTHY].pop(0)))
    return [
        make(i, kind, variant, quick, seed, wide=wide) for i, (kind, variant) in enumerate(order)
    ]


def _variants(kind: str, count: int) -> list[str]:
    if kind == HEALTHY:  # mostly finished; some still running, stopped by hand or resumed
        running = max(1, round(count * 0.12))
        stopped = max(1, round(count * 0.06))
        resumed = max(1, round(count * 0.06))
        pool = ["running"] * running + ["stopped"] * stopped + ["resumed"] * resumed
        pool += ["finished"] * (count - len(pool))
        random.Random(count).shuffle(pool)
        return pool
    names = VARIANTS[kind]
    return [names[i % len(names)] for i in range(count)]


def make(
    index: int,
    kind: str,
    variant: str,
    quick: bool,
    seed: int,
    attempt: int = 0,
    wide: bool = False,
) -> Spec:
    """The spec of run ``index``; ``attempt`` > 0 draws it again (when a draw did not show
    the fault it was meant to, or a healthy draw was not healthy)."""
    spec_seed = seed * 1_000_003 + index * 7919 + attempt * 104_729 + (55_555_333 if wide else 0)
    rng = random.Random(spec_seed)
    spec = Spec(index, spec_seed, kind, variant, quick, seed, wide)
    _shape(spec, rng)
    if wide:
        _widen(spec, rng)
    if kind == HEALTHY:
        _healthy(spec, rng)
    else:
        FAULTS[kind](spec, rng)
    _derive(spec, rng)
    _fit_logging(spec, rng)
    return spec


def loguniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _shape(spec: Spec, rng: random.Random) -> None:
    """A healthy run of a random shape."""
    spec.task = rng.choices(("cls", "reg", "cnn"), (0.55, 0.25, 0.2))[0]
    top = 600 if spec.quick else 5000
    spec.steps = round(loguniform(rng, 50, top))
    if spec.task == "cnn":  # slower per step
        spec.steps = min(max(spec.steps, 150), 400 if spec.quick else 1000)
    spec.batch = rng.choice((4, 8, 16, 32, 32, 64, 64, 128))
    spec.width = rng.choice((32, 64, 128)) if spec.task != "cnn" else rng.choice((12, 16))
    spec.depth = rng.choice((1, 2, 3))
    spec.n_train = rng.choice((8000, 20000, 50000))
    spec.label_noise = rng.choice((0.0, 0.0, 0.05, 0.1)) if spec.task != "reg" else 0.0
    spec.optimizer = rng.choices(("adamw", "adam", "sgd"), (0.45, 0.25, 0.3))[0]
    if spec.optimizer == "sgd":
        spec.lr = loguniform(rng, 0.02, 0.1)
        spec.weight_decay = rng.choice((0.0, 1e-4, 5e-4))
    else:
        spec.lr = loguniform(rng, 5e-4, 3e-3)
        spec.weight_decay = rng.choice((0.01, 0.05)) if spec.optimizer == "adamw" else 0.0
    spec.clip = rng.choice((0.0, 0.0, 1.0, 5.0))
    spec.schedule = rng.choice(SCHEDULES)
    if spec.schedule in ("warmup_cosine", "linear", "warmup_constant") or rng.random() < 0.2:
        spec.warmup = -1  # drawn once the length is known (-1 here and below)
    spec.loss_scale = 1.0 if rng.random() < 0.45 else loguniform(rng, 1e-3, 1e3)
    spec.style = rng.choice(STYLES)
    spec.log_mode = rng.choices(("last", "mean"), (0.6, 0.4))[0]
    spec.eval_every = -1 if rng.random() < 0.7 else 0
    spec.log_grad_norm = rng.random() < 0.6
    spec.log_lr = rng.random() < 0.85
    spec.cadence = loguniform(rng, 0.02, 15.0)
    spec.jitter = rng.uniform(0.03, 0.3)
    spec.ckpt_every = -1 if rng.random() < 0.3 else 0
    spec.gpus = rng.choices((0, 1, 2), (0.35, 0.5, 0.15))[0]
    spec.gpu_util = rng.uniform(55, 70) if rng.random() < 0.1 else rng.uniform(70, 98)
    spec.gpu_key = "util" if rng.random() < 0.2 else "util_percent"
    spec.review = loguniform(rng, 1, 12 * 3600)
    spec.t0 = BASE_TIME + spec.index * 20_000 + rng.uniform(0, 10_000)


def _widen(spec: Spec, rng: random.Random) -> None:
    """A held-out shape, beyond the committed corpus's: very short and very long runs, losses
    up to 1e4, batches of 2, more label noise, more schedules (cosine without warm-up, three
    step decays, exponential decay, one-cycle, triangular cycles, fixed-length restarts),
    longer warm-ups, more jitter, GPUs that idle during evaluations, longer pauses."""
    top = 900 if spec.quick else 12000
    spec.steps = round(loguniform(rng, 30, top))
    if spec.task == "cnn":
        spec.steps = min(max(spec.steps, 150), 500 if spec.quick else 1500)
    spec.batch = rng.choice((2, 4, 4, 8, 16, 32, 64, 128, 256))
    if spec.task != "reg":
        spec.label_noise = rng.choice((0.0, 0.05, 0.1, 0.2))
    spec.schedule = rng.choice(WIDE_SCHEDULES)
    warmed = spec.schedule in WARMED or rng.random() < 0.3
    spec.warmup = -1 if warmed and spec.schedule != "onecycle" else 0
    spec.loss_scale = 1.0 if rng.random() < 0.35 else loguniform(rng, 1e-3, 1e4)
    spec.jitter = rng.uniform(0.03, 0.5)
    spec.gpu_util = rng.uniform(40, 98)
    spec.eval_util = rng.uniform(0.0, 0.9)
    spec.ckpt_every = -1 if rng.random() < 0.5 else 0


def _derive(spec: Spec, rng: random.Random) -> None:
    """What depends on the run's length and cadence, once a fault has set them: warm-up,
    start-up, evaluations (5-60% of the training time between them, or now and then a long
    one of 5-30 minutes in a long run) and checkpoint pauses."""
    if spec.warmup < 0:
        spec.warmup = max(1, round(spec.steps * rng.uniform(0.02, 0.2 if spec.wide else 0.1)))
    train_time = spec.steps * spec.cadence
    spec.startup = min(rng.uniform(2, 60), max(2.0, 0.25 * train_time))
    if spec.eval_every < 0:
        spec.eval_every = max(5, round(spec.steps / rng.uniform(6, 30)))
        spec.eval_pause = spec.cadence * spec.eval_every * rng.uniform(0.05, 0.6)
        long_eval = (600, 0.6, 3600) if spec.wide else (1200, 0.6, 1800)
        if train_time >= long_eval[0] and rng.random() < long_eval[1]:  # generation, mAP
            spec.eval_pause = rng.uniform(300, long_eval[2])
            spec.eval_every = max(spec.eval_every, round(spec.eval_pause / spec.cadence / 2))
            spec.eval_every = max(1, min(spec.eval_every, spec.steps // 3))
    if spec.ckpt_every < 0:
        spec.ckpt_every = max(10, round(spec.steps / rng.uniform(3, 10)))
        most = 300 if spec.wide else 90
        spec.ckpt_pause = min(rng.uniform(2, most), max(1.0, 0.25 * spec.ckpt_every * spec.cadence))


def _fit_logging(spec: Spec, rng: random.Random) -> None:
    """Log every step for short runs, every few steps for long ones (a few hundred points)."""
    if (spec.steps <= 600 and rng.random() < 0.7) or (spec.wide and rng.random() < 0.3):
        spec.log_every = 1  # a wide corpus also logs every step of long runs (up to 12k points)
    else:
        spec.log_every = max(1, round(spec.steps / rng.uniform(150, 600)))
    if spec.kind == "loss_spike" and spec.onset is not None:  # the bad batches get logged:
        every, length = spec.log_every, int(spec.fault["length"])  # they end at a logged step
        spec.onset = max(every, spec.onset - spec.onset % every) + every - length


def _at_least(spec: Spec, rng: random.Random, low: int, high: int) -> None:
    """Faults need room before and after their onset."""
    top = min(high, 900) if spec.quick else high
    if spec.steps < low:
        spec.steps = round(loguniform(rng, low, max(low + 1, top)))


def _healthy(spec: Spec, rng: random.Random) -> None:
    spec.status = "finished" if spec.variant == "resumed" else spec.variant
    if spec.variant == "resumed":  # preempted, requeued, resumed from its checkpoint: a gap
        spec.steps = max(spec.steps, 200)
        spec.fault["resume_at"] = round(spec.steps * rng.uniform(0.3, 0.7))
        spec.fault["down"] = rng.uniform(120, 3600)
    if spec.variant == "running":  # looked at while training (sometimes inside an evaluation)
        spec.steps = max(spec.steps, 200)
        spec.stop_at = round(spec.steps * rng.uniform(0.3, 0.95))
        spec.fault["in_eval"] = bool(spec.eval_every) and rng.random() < 0.4
    elif spec.variant == "stopped":  # Ctrl-C or SIGTERM: stopped, not crashed
        spec.steps = max(spec.steps, 200)
        spec.stop_at = round(spec.steps * rng.uniform(0.3, 0.9))


def _nan(spec: Spec, rng: random.Random) -> None:
    _at_least(spec, rng, 300, 2500)
    spec.onset = round(spec.steps * rng.uniform(0.3, 0.75))
    if spec.variant == "inf_target":
        spec.task = "reg"
    elif spec.variant in ("log_zero",):
        spec.task = rng.choice(("cls", "cnn"))
    elif spec.task == "cnn":
        spec.task = "cls"
    spec.fault["guard"] = rng.random() < 0.3  # the script stops on a NaN loss: failed, too
    if spec.variant == "lr_blowup_fp16":  # SGD in fp16, the LR set 300-3000x too high
        spec.optimizer, spec.clip = "sgd", 0.0
        spec.lr = loguniform(rng, 0.02, 0.1)
        spec.weight_decay = 0.0
        spec.fault["factor"] = loguniform(rng, 300, 3000)


def _divergence(spec: Spec, rng: random.Random) -> None:
    _at_least(spec, rng, 400, 3000)
    spec.onset = round(spec.steps * rng.uniform(0.3, 0.65))
    if spec.optimizer == "sgd":
        spec.fault["factor"] = loguniform(rng, 8, 30)
    else:
        spec.fault["factor"] = loguniform(rng, 30, 300)
    spec.fault["ramp"] = round(spec.steps * rng.uniform(0.05, 0.2))


def _loss_spike(spec: Spec, rng: random.Random) -> None:
    _at_least(spec, rng, 300, 3000)
    spec.onset = round(spec.steps * rng.uniform(0.3, 0.8))
    spec.fault["length"] = rng.randint(1, 4)
    spec.fault["factor"] = rng.uniform(8, 30)


def _no_learning(spec: Spec, rng: random.Random) -> None:
    _at_least(spec, rng, 150, 3000)
    spec.onset = 0
    if spec.variant == "lr_tiny":  # a typo'd exponent
        spec.lr *= loguniform(rng, 1e-5, 1e-4)
    if spec.variant in ("dead_relu", "shuffled_labels") and spec.task == "cnn":
        spec.task = "cls"
    if spec.variant == "shuffled_labels":
        spec.task = "cls"
        spec.n_train = 50000
        spec.width = 32


def _overfitting(spec: Spec, rng: random.Random) -> None:
    """A small, noisily labelled training set, a wide model, no regularisation, long."""
    spec.task = "cls"
    spec.classes = rng.choice((2, 3))
    spec.n_train = rng.randint(300, 1000)
    spec.label_noise = rng.uniform(0.2, 0.3)
    spec.width = rng.choice((256, 384))
    spec.depth = 2
    spec.optimizer = rng.choice(("adam", "adamw"))
    spec.weight_decay = 0.0
    spec.clip = 0.0
    spec.lr = loguniform(rng, 7e-5, 2e-4) * (2 if spec.quick else 1)
    spec.schedule = rng.choice(("constant", "warmup_constant"))
    spec.warmup = 0 if spec.schedule == "constant" else rng.randint(10, 50)
    spec.steps = rng.randint(1000, 1500) if spec.quick else rng.randint(2500, 4000)
    spec.batch = rng.choice((16, 32))
    spec.eval_every = max(10, round(spec.steps / rng.uniform(25, 40)))
    spec.eval_pause = spec.cadence * spec.eval_every * rng.uniform(0.05, 0.6)
    spec.onset = 0  # replaced by the step of the best validation loss once trained


def _stalled(spec: Spec, rng: random.Random) -> None:
    _at_least(spec, rng, 200, 3000)
    spec.status = "running"
    spec.stop_at = round(spec.steps * rng.uniform(0.2, 0.9))
    spec.onset = spec.stop_at
    spec.fault["stall_factor"] = loguniform(rng, 1.2, 8)


def _crashed(spec: Spec, rng: random.Random) -> None:
    _at_least(spec, rng, 100, 3000)
    spec.stop_at = round(spec.steps * rng.uniform(0.1, 0.95))
    spec.onset = spec.stop_at
    spec.fault["error"] = rng.choice(ERRORS)
    spec.status = {"exception": "failed", "killed": "crashed", "vanished": "running"}[spec.variant]
    spec.review = loguniform(rng, 120, 8 * 3600)


def _throughput_drop(spec: Spec, rng: random.Random) -> None:
    _at_least(spec, rng, 400, 4000)
    spec.onset = round(spec.steps * rng.uniform(0.25, 0.7))
    spec.fault["factor"] = rng.uniform(3, 10)
    if spec.variant == "shared_gpu":
        spec.gpus = max(spec.gpus, 1)
    elif spec.variant == "slow_io_idle_gpu":  # the GPU waits for data: idle, too
        spec.gpus = max(spec.gpus, 1)
        spec.fault["factor"] = rng.uniform(6, 10)
    else:  # no GPU metrics (a CPU job, or no NVML)
        spec.gpus = 0


def _gpu_idle(spec: Spec, rng: random.Random) -> None:
    _at_least(spec, rng, 200, 3000)
    spec.gpus = max(spec.gpus, 1)
    spec.onset = 0 if spec.variant == "input_bound" else round(spec.steps * rng.uniform(0.3, 0.7))
    spec.fault["idle_util"] = rng.uniform(1, 15)
    spec.cadence = max(spec.cadence, 900 / spec.steps)  # 15 min or more: many system samples


FAULTS = {
    "nan": _nan,
    "divergence": _divergence,
    "loss_spike": _loss_spike,
    "no_learning": _no_learning,
    "overfitting": _overfitting,
    "stalled": _stalled,
    "crashed": _crashed,
    "throughput_drop": _throughput_drop,
    "gpu_idle": _gpu_idle,
}

# what a crashed run's script raised (the process-killed variants have no traceback)
ERRORS = (
    "data",
    "nccl",
    "disk",
    "shape",
    "key",
    "connection",
)
