"""One function per kind of finding, over numpy arrays of a run's points.

Every threshold is relative to the run itself, so nothing needs tuning per run: the level of
its points (medians over a trailing window), their noise (from successive differences) and
its tail (the largest recent excursion), how much it had learned (its initial loss minus its
best so far), its own step interval and its own longest pause.

Every rule is causal: it scans the run point by point (in blocks, see :func:`trend`) and
reports the first point at which its evidence was complete, using only the points up to
there, with windows that depend on how many points came before, never on how many follow.
So a finding's step is the step at which it could first be known, and a run that grows (the
incremental watchdog calls the rules on longer and longer prefixes) keeps the same finding
at the same step once it has it. Each rule costs O(n) numpy work on n points.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from daybreak.tracking.points import History
from daybreak.watchdog.findings import Finding

MIN_POINTS = 30  # fewer points say nothing about the loss's shape
LEVEL_BLOCKS = 8  # a level is the median of the last 8 block medians
NOISE_BLOCKS = 32  # the noise, from the mean |difference| over the last 32 blocks' points
SPAN = 160  # blocks of one point up to point 2 x SPAN, of 2 up to 4 x SPAN, ...
MAX_BLOCK = 32  # ... up to 32 points a block: a level then summarises 256 points
MAD_TO_SIGMA = 1 / 0.954  # median |x[i] - x[i-1]| of white noise is 0.954 sigma
MEAN_TO_SIGMA = np.sqrt(np.pi) / 2  # and the mean is 2 sigma / sqrt(pi)
MEDIAN_SE = 1.25  # the median of n points varies 1.25 / sqrt(n) sigma
TAIL_BLOCKS = 128  # the noise's tail: its largest excursion over the last 128 blocks


def finite_prefix(history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, timestamps and values up to the first non-finite value."""
    bad = np.flatnonzero(~np.isfinite(history.values))
    end = int(bad[0]) if len(bad) else len(history.values)
    return history.steps[:end], history.timestamps[:end], history.values[:end]


@dataclasses.dataclass(frozen=True)
class Trend:
    """A series summarised at its decision points, each from the points up to it only.

    Decision points are the ends of blocks: blocks of one point up to point 320, of two up
    to 640, of four up to 1280, ... of 32 from 5120 on, so a level always summarises about
    the last 1/40 to 1/80 of the points so far (at most 256) and a series of n points has at
    most about 1000 + n/32 decision points."""

    ends: np.ndarray  # index of the last point of each decision's block
    level: np.ndarray  # median of the last LEVEL_BLOCKS block medians
    noise: np.ndarray  # sigma of the points, from their mean |difference| (heavy tails count)
    width: np.ndarray  # points the level summarises
    tail: np.ndarray  # the largest excursion above the level over the last TAIL_BLOCKS blocks

    def __len__(self) -> int:
        return len(self.ends)

    def before(self, index: np.ndarray) -> np.ndarray:
        """For each point index, the last decision strictly before it (-1: none yet)."""
        return np.searchsorted(self.ends, index, side="left") - 1


def trend(values: np.ndarray) -> Trend:
    """Block medians at dyadic scales, then trailing medians over the last few blocks: O(n),
    a step function with a step every block (1/320 to 1/160 of the points so far). The noise
    is the mean |difference| between successive points over the last NOISE_BLOCKS blocks: a
    mean, not a median, so that heavy-tailed noise (small batches) counts fully."""
    n = len(values)
    ends_of, levels, tops, sizes, counts = [], [], [], [], []
    window = np.arange(LEVEL_BLOCKS)
    size, lo = 1, NOISE_BLOCKS + 1  # decisions at e with lo <= e + 1 < hi, (e + 1) % size == 0
    while lo <= n:
        hi = n + 1 if size == MAX_BLOCK else min(2 * SPAN * size, n + 1)
        count = (hi - lo + size - 1) // size
        last = lo - 1 + (count - 1) * size  # the last decision's end
        rows = values[lo - LEVEL_BLOCKS * size : last + 1].reshape(-1, size)
        medians = _block_medians(rows)
        level = _row_medians(medians[np.arange(count)[:, None] + window])
        ends_of.append(np.arange(lo - 1, last + 1, size))
        levels.append(level)
        tops.append(rows[LEVEL_BLOCKS - 1 :].max(axis=1) - level)
        sizes.append(size)
        counts.append(count)
        if size == MAX_BLOCK or hi > n:
            break
        size, lo = 2 * size, 2 * SPAN * size
    if not levels:
        empty = np.empty(0)
        return Trend(empty.astype(np.int64), empty, empty, empty.astype(np.int64), empty)
    ends = np.concatenate(ends_of)
    span = NOISE_BLOCKS * np.repeat(sizes, counts)  # the noise's window, in points
    sums = np.concatenate(([0.0], np.cumsum(np.abs(np.diff(values[: ends[-1] + 1])))))
    noise = MEAN_TO_SIGMA * (sums[ends] - sums[ends - span]) / span
    tail = _sliding_max(np.concatenate(tops), TAIL_BLOCKS)
    return Trend(ends, np.concatenate(levels), noise, LEVEL_BLOCKS * span // NOISE_BLOCKS, tail)


_LAST: list[tuple[np.ndarray, int, Trend]] = []  # the last loss's trend, and its array


def _trend_of(history: History, values: np.ndarray) -> Trend:
    """The trend of ``values`` (a prefix of ``history.values``), computed once for the rules
    that judge the same loss one after the other (divergence, then loss_spike)."""
    last = _LAST[0] if _LAST else None
    if last is not None and last[0] is history.values and last[1] == len(values):
        return last[2]
    shape = trend(values)
    _LAST[:] = [(history.values, len(values), shape)]
    return shape


def _sliding_max(values: np.ndarray, width: int) -> np.ndarray:
    """For each index, the maximum of the ``width`` values up to it (fewer at the start), in
    O(n): the running maxima within chunks of ``width``, forwards and backwards (van Herk)."""
    n = len(values)
    pad = (-n) % width
    padded = np.concatenate((values, np.full(pad, -np.inf))).reshape(-1, width)
    forward = np.maximum.accumulate(padded, axis=1).ravel()
    backward = np.maximum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].ravel()
    out = forward[:n].copy()
    i = np.arange(width - 1, n)
    out[width - 1 :] = np.maximum(backward[i - width + 1], forward[i])
    return out


def _block_medians(rows: np.ndarray) -> np.ndarray:
    """The median of each row (the upper one for an even width; the mean of two)."""
    size = rows.shape[1]
    if size == 1:
        return rows[:, 0]
    if size == 2:
        return rows.mean(axis=1)
    return np.partition(rows, size // 2, axis=1)[:, size // 2]


def _row_medians(rows: np.ndarray) -> np.ndarray:
    """Medians of the rows of a 2-D array; upper median for even widths."""
    middle = rows.shape[1] // 2
    return np.partition(rows, middle, axis=1)[:, middle]


def _streaks(flags: np.ndarray, lengths: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """The decisions at which ``flags`` has held, unbroken, over at least ``lengths`` points
    (measured with ``ends``), and for each, the first decision of its streak."""
    index = np.arange(len(flags))
    broken = np.maximum.accumulate(np.where(flags, -1, index))  # the last False so far
    began = np.minimum(broken + 1, len(flags) - 1)  # the first decision of the streak
    held = np.where(flags, ends - ends[began] + 1, 0)
    hits = np.flatnonzero(flags & (held >= lengths))
    return hits, began[hits]


# -- the rules --------------------------------------------------------------------------------


def nan(history: History, role: str) -> Finding | None:
    bad = np.flatnonzero(~np.isfinite(history.values))
    if not len(bad):
        return None
    index = int(bad[0])
    step = int(history.steps[index])
    what = "NaN" if np.isnan(history.values[index]) else "infinite"
    return Finding(
        "nan",
        "critical",
        step,
        f"{history.key} became {what} at step {step}",
        "lower the learning rate, enable gradient clipping, check for log(0) or a division by "
        "zero in the loss, or train in fp32/bf16 instead of fp16",
        {"key": history.key, "role": role, "last_finite": _last_finite(history.values, index)},
    )


def _last_finite(values: np.ndarray, index: int) -> float | None:
    before = values[:index][np.isfinite(values[:index])]
    return float(before[-1]) if len(before) else None


def divergence(history: History) -> Finding | None:
    """The loss climbs well above its best and stays there: its level stays above its best
    by half of what it had learned (and well clear of the noise, and 5% of the best) for 3
    windows or 5% of the points so far, and has not fallen half-way back meanwhile."""
    steps, _, values = finite_prefix(history)
    if len(values) < MIN_POINTS:
        return None
    shape = _trend_of(history, values)
    if not len(shape):
        return None
    level = shape.level
    best = np.minimum.accumulate(level)
    start = float(np.median(values[:NOISE_BLOCKS]))
    learned = np.maximum(start - best, 0.0)
    at_best = np.maximum.accumulate(np.where(level <= best, np.arange(len(level)), 0))
    noise = shape.noise[at_best] * MEDIAN_SE / np.sqrt(shape.width[at_best])
    tiny = 1e-9 * max(abs(start), float(np.abs(best).max()), 1e-30)
    margin = np.maximum.reduce(
        [RISEN_SHARE * learned, 8 * noise, 0.05 * np.abs(best), np.full_like(best, tiny)]
    )
    above = level - best > margin
    confirm = np.maximum(3 * shape.width, (shape.ends + 1) // 20)
    found = _staying_up(level, best, learned, *_streaks(above, confirm, shape.ends))
    if found is None:
        return None
    hit, began = found
    known, onset = int(shape.ends[hit]), int(shape.ends[began])
    return Finding(
        "divergence",
        "critical",
        int(steps[known]),
        f"{history.key} rose from its best {best[began]:.4g} to {level[hit]:.4g} from step "
        f"{int(steps[onset])} on",
        "restart from the last checkpoint before the onset with a lower learning rate "
        "(x 0.5) and gradient clipping on",
        {
            "key": history.key,
            "onset_step": int(steps[onset]),
            "best": float(best[began]),
            "level": float(level[hit]),
        },
    )


RISEN_SHARE = 0.4  # a divergence gives back this share of what the loss had learned


def _staying_up(
    level: np.ndarray, best: np.ndarray, learned: np.ndarray, hits: np.ndarray, began: np.ndarray
) -> tuple[int, int] | None:
    """The first long streak up that stays up: it gave back most of what it had learned (it
    is about where it started, or higher), or it is not half-way back down from its top (a
    warm restart's bump comes down): (decision, its streak's first decision)."""
    for first in np.unique(began).tolist():
        mine = hits[began == first]
        top = np.maximum.accumulate(level[first : mine[-1] + 1])[mine - first]
        floor = best[first]
        lost = level[mine] - floor >= GIVEN_BACK * learned[mine]
        staying = lost | (level[mine] >= floor + 0.5 * (top - floor))
        if staying.any():
            return int(mine[np.argmax(staying)]), first
    return None


GIVEN_BACK = 0.8  # a loss that gave back 80% of what it learned has not recovered


def loss_spike(history: History) -> Finding | None:
    """A point far above the level just before it (by many times the noise there and a good
    part of the loss's scale) after which the loss is back in its band within a few points."""
    steps, _, values = finite_prefix(history)
    if len(values) < MIN_POINTS:
        return None
    shape = _trend_of(history, values)
    if not len(shape):
        return None
    start = float(np.median(values[:NOISE_BLOCKS]))
    scale = np.maximum(start - np.minimum.accumulate(shape.level), np.abs(shape.level))
    tail = TAIL_FACTOR * shape.tail  # its largest excursion lately
    floor = np.maximum.reduce([SPIKE_NOISE * shape.noise, SPIKE_SCALE * scale, tail])
    # each decision judges the points after it, up to the next decision, from SPIKE_HISTORY
    first = int(shape.ends[0]) + 1
    floor[shape.ends + 1 < SPIKE_HISTORY] = np.inf
    reach = np.diff(np.append(shape.ends, len(values) - 1))
    above = values[first:] - np.repeat(shape.level, reach) > np.repeat(floor, reach)
    for i in (first + np.flatnonzero(above)[:MAX_CANDIDATES]).tolist():
        after = values[i + 1 : i + 1 + SPIKE_AFTER]
        if len(after) < SPIKE_AFTER:
            break  # not known yet
        at = int(shape.before(np.array([i]))[0])
        level, noise = float(shape.level[at]), float(shape.noise[at])
        excess = float(values[i]) - level
        if np.median(after) > level + max(3 * noise, 0.3 * excess):
            continue  # not back in its band: not a spike (a jump, or the noise)
        return Finding(
            "loss_spike",
            "warning",
            int(steps[i + SPIKE_AFTER]),
            f"{history.key} spiked to {values[i]:.4g} at step {int(steps[i])} "
            f"(around {level:.4g}) and recovered",
            "usually a bad batch: check the data around that step; if spikes repeat, "
            "lower the learning rate or clip gradients",
            {
                "key": history.key,
                "spike_step": int(steps[i]),
                "peak": float(values[i]),
                "level": level,
                "noise": noise,
            },
        )
    return None


SPIKE_NOISE = 17.0  # a spike is this many times the noise above the level before it
SPIKE_SCALE = 0.25  # ... and this share of the loss's scale (its level, or what it learned)
TAIL_FACTOR = 3.0  # ... and 3x the largest excursion of the last 128 blocks (heavy tails)
SPIKE_HISTORY = 64  # points before one can be a spike: the noise's tail must be known
SPIKE_AFTER = 10  # points after a spike whose median must be back in the band
MAX_CANDIDATES = 256  # points above the band looked at for a recovery (a jump has many)


def no_learning(history: History, lr: History | None) -> Finding | None:
    """The loss has not moved from where it started. Checked at growing checkpoints (128,
    160, 200, 250, ... points, once 200 steps have passed), each over the points so far cut
    in 8 blocks: it learned (for good: no finding, ever) once a block's median is 2% below
    the first block's plus well beyond the noise; it is not learning when no block got 3%
    below the first (nor well above it), the noise is small enough to tell, and the blocks
    show no downward trend (a plateau before the loss starts to fall has one); else, or
    while the learning rate is warming up, the next checkpoint decides."""
    steps, _, values = finite_prefix(history)
    checkpoints = _checkpoints(len(values))
    if not checkpoints:
        return None
    for count in checkpoints:
        if steps[count - 1] - steps[0] < MIN_STEPS or (
            lr is not None and _warming_up(lr, int(steps[count - 1]))
        ):
            continue
        stride = max(1, count // SAMPLE)  # a long run: every stride-th point will do
        size = count // 8 // stride
        blocks = _block_medians(values[: 8 * size * stride : stride].reshape(8, size))
        start = float(blocks[0])
        drop = start - float(blocks[1:].min())
        pairs = np.arange(0, count - 1, stride)
        noise = MAD_TO_SIGMA * float(np.median(np.abs(values[pairs + 1] - values[pairs])))
        spread = noise * MEDIAN_SE / np.sqrt(size)  # of one block's median
        if drop > LEARNED * abs(start) + 3.5 * spread:
            return None  # it learned
        rise = float(blocks[1:].max()) - start  # up well beyond the noise: it moved too
        if (
            drop > FLAT * abs(start)
            or 3.5 * spread > SURE * abs(start)  # too noisy to tell yet
            or rise > FLAT * abs(start) + 3.5 * spread
            or (drop > STILL * abs(start) and _trend_down(values[:count:stride]))
        ):
            continue  # too soon to tell: a plateau the loss is slowly leaving
        return Finding(
            "no_learning",
            "warning",
            int(steps[count - 1]),
            f"{history.key} has not moved from {start:.4g} in its first {count} points",
            "check that the learning rate is not ~0, that gradients reach the weights (frozen "
            "layers, detached tensors), and that labels match inputs",
            {"key": history.key, "start": start, "best": float(blocks[1:].min()), "points": count},
        )
    return None


LEARNED = 0.02  # a loss that got 2% (and well beyond its noise) below its start learned
FLAT = 0.03  # one that never got 3% below it, with no downward trend, did not, ...
STILL = 0.01  # ... nor, trend or not, one that never got 1% below it, ...
SURE = 0.08  # ... once the noise would have let a drop of 8% show
MIN_STEPS = 200  # optimizer steps: a plateau at the start can last a few hundred
FIRST_CHECK = 128  # points before no_learning is judged: plateaus at the start are common
SAMPLE = 4096  # points a checkpoint looks at, at most


def _checkpoints(count: int) -> list[int]:
    """128 points, then a quarter more each time: 128, 160, 200, 250, 312, ..."""
    out, at = [], FIRST_CHECK
    while at <= count:
        out.append(at)
        at += at // 4
    return out


def _trend_down(values: np.ndarray, blocks: int = 16) -> bool:
    """Whether the medians of ``blocks`` blocks fall with time (Spearman's rank correlation
    below -0.5: a stationary series gets there about 2% of the time)."""
    size = len(values) // blocks
    medians = _block_medians(values[: blocks * size].reshape(blocks, size))
    ranks = np.argsort(np.argsort(medians))
    order = np.arange(blocks)
    rho = 1 - 6 * float(((ranks - order) ** 2).sum()) / (blocks * (blocks * blocks - 1))
    return rho < -0.5


def _warming_up(lr: History, step: int) -> bool:
    """Whether the learning rate at ``step`` is above the highest it had been in the first
    half of the points up to there: warming up, or not warmed up for as long again yet (the
    loss barely moves while the learning rate is tiny)."""
    upto = int(np.searchsorted(lr.steps, step, side="right"))
    values = lr.values[:upto]
    first = values[: len(values) // 2]
    first = first[np.isfinite(first)]
    if len(values) < 4 or not len(first) or not np.isfinite(values[-1]):
        return False
    return bool(values[-1] > first.max() * (1 + 1e-9))


def overfitting(train: History, val: History) -> Finding | None:
    """Validation loss rises from its best while the training loss keeps falling: the first
    evaluation that is the third in a row above the best so far by 30% of the drop to it
    (and 2% of the best), not below the median of those since the best (still rising, not
    coming back down), with the training loss lower than it was at the best."""
    steps, _, values = finite_prefix(val)
    if len(values) < 4:
        return None
    index = np.arange(len(values))
    best = np.minimum.accumulate(values)
    best_at = np.maximum.accumulate(np.where(values <= best, index, 0))
    limit = np.maximum(RISE * (values[0] - best), RISE_FLOOR * np.abs(best))
    above = values - best > limit
    in_a_row = np.convolve(above, np.ones(RISEN, dtype=int))[: len(above)] == RISEN
    t_steps, _, t_values = finite_prefix(train)
    for j in np.flatnonzero(in_a_row & (index - best_at >= RISEN)).tolist():
        first = int(best_at[j])
        if values[j] < np.median(values[first + 1 : j + 1]):
            continue  # on its way back down: a bump, not a rise
        noise = MAD_TO_SIGMA * float(np.median(np.abs(np.diff(values[: j + 1]))))
        if (values[j - RISEN + 1 : j + 1] - best[j] <= RISE_NOISE * noise).any():
            continue  # within the validation loss's own noise
        if not _falling(t_steps, t_values, int(steps[first]), int(steps[j])):
            continue
        return Finding(
            "overfitting",
            "warning",
            int(steps[j]),
            f"{val.key} rose from its best {best[j]:.4g} (step {int(steps[first])}) to "
            f"{values[j]:.4g} while {train.key} kept falling",
            "keep the checkpoint from the best validation step; add regularisation or data, or "
            "stop earlier",
            {
                "key": val.key,
                "best_step": int(steps[first]),
                "best": float(best[j]),
                "now": float(values[j]),
            },
        )
    return None


RISE = 0.3  # the share of its drop the validation loss must climb back ...
RISE_FLOOR = 0.02  # ... and at least this share of its best
RISEN = 3  # ... for this many evaluations in a row
RISE_NOISE = 3.0  # ... each this many times its own noise above the best


def _falling(steps: np.ndarray, values: np.ndarray, since: int, upto: int) -> bool:
    """Whether the training loss is lower at ``upto`` than it was at ``since`` (medians of a
    quarter of the points between, 3 to 32, up to each)."""
    between = int(np.count_nonzero((steps > since) & (steps <= upto)))
    width = min(max(3, between // 4), 32)
    then = values[: int(np.searchsorted(steps, since, side="right"))][-width:]
    now = values[: int(np.searchsorted(steps, upto, side="right"))][-width:]
    if len(then) < 3 or between < 3:
        return False
    return bool(np.median(now) < np.median(then))


def throughput_drop(history: History) -> Finding | None:
    """Steps became several times slower and stayed so: the time per step (its rolling
    median, so evaluation and checkpoint pauses do not count) stays at 3x or more of the
    fastest it had sustained, for 2 windows and 5% of the points so far."""
    steps, stamps = history.steps, history.timestamps
    if len(steps) < 2 * MIN_POINTS:
        return None
    per_step = np.diff(stamps) / np.maximum(np.diff(steps), 1)
    shape = trend(per_step)
    if not len(shape):
        return None
    baseline = np.minimum.accumulate(shape.level)
    slow = shape.level > SLOWER * baseline
    confirm = np.maximum.reduce([2 * shape.width, (shape.ends + 1) // 20, np.full(len(shape), 10)])
    hits, began = _streaks(slow & (baseline > 0), confirm, shape.ends)
    if not len(hits):
        return None
    hit, first = int(hits[0]), int(began[0])
    onset, known = int(shape.ends[first]) + 1, int(shape.ends[hit]) + 1
    fast, recent = float(baseline[first]), float(shape.level[hit])
    return Finding(
        "throughput_drop",
        "warning",
        int(steps[known]),
        f"steps take {recent / fast:.1f}x as long since about step {int(steps[onset])} "
        f"({recent:.3g} s against {fast:.3g} s)",
        "look for a data loader bottleneck, another job on the same GPU, thermal throttling or "
        "a slow disk",
        {"baseline_s": fast, "recent_s": recent, "onset_step": int(steps[onset])},
    )


SLOWER = 3.0  # steps this many times slower than the fastest sustained pace


def stalled(last_ts: float, intervals: np.ndarray, now: float, last_step: int) -> Finding | None:
    """No new step for much longer than the run's own cadence and longest pause."""
    if len(intervals) < 3:
        return None
    typical = float(np.median(intervals[:: max(1, len(intervals) // 4096)]))  # ~4k suffice
    longest = float(intervals.max())
    limit = max(60.0, 20 * typical, 3 * longest)
    silent = now - last_ts
    if silent <= limit:
        return None
    return Finding(
        "stalled",
        "critical",
        last_step,
        f"no new step for {silent:.0f} s (it usually takes {typical:.3g} s; the longest pause "
        f"was {longest:.0f} s) while the process is alive",
        "look at the log for a hang (a deadlock in data loading, a collective waiting on a "
        "dead rank); stop and restart it from its last checkpoint",
        {"silent_s": silent, "typical_s": typical, "longest_s": longest},
    )


IDLE_PERCENT = 20.0
IDLE_SAMPLES = 5  # at least this many samples in a row while training, ...
IDLE_SHARE = 0.1  # ... and this share of the training samples so far


def gpu_idle(util: History, train_ts: np.ndarray, step_at: int | np.ndarray) -> Finding | None:
    """GPU utilisation low while training steps arrive, and staying low: samples taken while
    steps arrive at their usual pace (not inside evaluation, checkpoint or start-up pauses)
    below 20% for 5 samples in a row and 10% of such samples so far.

    ``step_at``: the training steps of ``train_ts`` (then the finding's step is the step at
    which it was known), or one step to report."""
    if len(util.values) < IDLE_SAMPLES or len(train_ts) < 2:
        return None
    training = _while_training(util.timestamps, train_ts)
    stamps, values = util.timestamps[training], util.values[training]
    if len(values) < IDLE_SAMPLES:
        return None
    idle = values < IDLE_PERCENT
    number = np.arange(1, len(values) + 1)
    lengths = np.maximum(IDLE_SAMPLES, np.ceil(IDLE_SHARE * number))
    hits, began = _streaks(idle, lengths, number)
    if not len(hits):
        return None
    hit, first = int(hits[0]), int(began[0])
    low = float(np.median(values[first : hit + 1]))
    before = values[:first]
    usual = float(np.median(before)) if len(before) else None
    if isinstance(step_at, np.ndarray):
        where = min(int(np.searchsorted(train_ts, stamps[hit], side="left")), len(step_at) - 1)
        step = int(step_at[where])
    else:
        step = int(step_at)
    since = "from the start" if usual is None else f"(it was {usual:.0f}% before)"
    return Finding(
        "gpu_idle",
        "warning",
        step,
        f"{util.key} was {low:.0f}% (median) while the run trained, {since}",
        "the GPU waits for data: more DataLoader workers, pinned memory, the lake's pre-decoded "
        "cache or GPU decoding; or a larger batch",
        {
            "key": util.key,
            "median_percent": low,
            "before_percent": usual,
            "since_ts": float(stamps[first]),
        },
    )


def _while_training(samples: np.ndarray, train_ts: np.ndarray) -> np.ndarray:
    """Which samples were taken while a training step ran: in the last stretch before a
    training point as long as a usual step (the median of the 16 gaps before), not earlier
    in a longer gap (an evaluation, a checkpoint, start-up: they come after a point is
    logged, before the next step starts) nor after the last point (a hang)."""
    train_ts = np.maximum.accumulate(train_ts)  # a clock that went back: no time passed
    gaps = np.diff(train_ts)
    after = np.searchsorted(train_ts, samples, side="left")  # the next training point
    inside = (after >= 1) & (after < len(train_ts))
    gap = after[inside] - 1
    earlier = np.maximum(gap[:, None] - np.arange(1, USUAL_GAPS + 1), 0)  # the gaps before
    usual = np.median(gaps[earlier], axis=1) if len(gap) else np.empty(0)
    out = np.zeros(len(samples), dtype=bool)
    out[inside] = train_ts[after[inside]] - samples[inside] <= STEP_SLACK * usual
    return out


STEP_SLACK = 1.5  # a step may take this many times the usual time between points
USUAL_GAPS = 16  # the usual time between points: the median of the 16 gaps before
