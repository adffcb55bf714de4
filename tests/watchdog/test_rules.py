"""The watchdog's rules on synthetic numpy curves: healthy curves of many shapes (warm-up,
cosine, step decay, warm restarts, noisy small batches, loss scales from 1e-3 to 1e4) raise
nothing; each fault raises its kind at a plausible step; and every rule is causal: on a
growing run, a finding, once reported, keeps its kind and step, and nothing flickers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from daybreak.tracking.points import History
from daybreak.watchdog import rules
from daybreak.watchdog.findings import Finding

T0 = 1_790_000_000.0
SCHEDULES = ("constant", "warmup_cosine", "cosine", "step", "restarts", "warmup_constant")


def lr_of(schedule: str, n: int) -> np.ndarray:
    """The learning-rate multiplier per step."""
    t = np.arange(n) / n
    warm = np.minimum(1.0, (np.arange(n) + 1) / max(1, n // 20))
    if schedule == "constant":
        return np.ones(n)
    if schedule == "warmup_constant":
        return warm
    if schedule == "warmup_cosine":
        return warm * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * t)))
    if schedule == "cosine":
        return 0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * t))
    if schedule == "step":
        return 0.1 ** ((t >= 0.5).astype(int) + (t >= 0.75).astype(int))
    if schedule == "restarts":  # SGDR, four cycles
        phase = (np.arange(n) % (n // 4)) / (n // 4)
        return 0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * phase))
    raise ValueError(schedule)


def loss_of(
    schedule: str = "constant",
    n: int = 2000,
    scale: float = 1.0,
    noise: float = 0.05,
    seed: int = 0,
    heavy: bool = False,
) -> np.ndarray:
    """A loss that learns at the pace of its learning rate, with multiplicative noise
    (log-normal for small batches: heavy-tailed), and a bump at each warm restart."""
    rng = np.random.default_rng(seed)
    lr = lr_of(schedule, n)
    progress = np.cumsum(lr) / n
    base = 0.15 + 0.85 * np.exp(-6 * progress)
    if schedule == "restarts":  # the loss climbs back a little when the LR jumps up
        jumps = np.flatnonzero(np.diff(lr) > 0.5) + 1
        for at in jumps:
            bump = np.zeros(n)
            bump[at:] = 0.08 * np.exp(-np.arange(n - at) / (n / 40))
            base = base + bump
    if heavy:
        wiggle = np.exp(2 * noise * rng.standard_normal(n) - 2 * noise**2)
    else:
        wiggle = 1 + noise * rng.standard_normal(n)
    return scale * base * wiggle


def history(
    values: np.ndarray, key: str = "train/loss", every: int = 1, pace: float = 0.2, seed: int = 0
) -> History:
    steps = np.arange(len(values)) * every
    rng = np.random.default_rng(seed + 1)
    stamps = T0 + np.cumsum(pace * every * np.exp(0.1 * rng.standard_normal(len(values))))
    return History(key, steps, stamps, np.asarray(values, dtype=float))


def lr_history(schedule: str, n: int, every: int = 1) -> History:
    return history(1e-3 * lr_of(schedule, n), "lr", every)


def prefix(h: History, n: int) -> History:
    return History(h.key, h.steps[:n], h.timestamps[:n], h.values[:n])


# -- healthy curves raise nothing -------------------------------------------------------------


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(
    ("scale", "noise", "heavy"),
    [(1e-3, 0.02, False), (1.0, 0.3, False), (1e4, 0.05, False), (2.5, 0.4, True)],
)
def test_healthy_curves_raise_nothing(
    schedule: str, scale: float, noise: float, heavy: bool
) -> None:
    for seed in range(3):
        for n in (60, 700, 5000):
            values = loss_of(schedule, n, scale, noise, seed, heavy)
            loss = history(values, seed=seed)
            lr = lr_history(schedule, n)
            found = [
                rules.divergence(loss),
                rules.loss_spike(loss),
                rules.no_learning(loss, lr),
                rules.throughput_drop(loss),
            ]
            assert found == [None] * 4, (schedule, scale, noise, heavy, seed, n, found)


def test_healthy_pauses_restarts_and_resumes_raise_nothing() -> None:
    """Evaluation pauses, checkpoint pauses, a preemption gap and jittery steps are not a
    throughput drop; an SGDR bump is not a divergence."""
    n = 3000
    loss = history(loss_of("restarts", n, noise=0.1), pace=0.5)
    stamps = loss.timestamps.copy()
    pauses = np.zeros(n)
    pauses[::100] = 300.0  # a 5-minute evaluation every 100 steps
    pauses[1500] = 3600.0  # preempted for an hour, resumed
    pauses[::7] += 20.0  # a slow batch now and then
    slow = History(loss.key, loss.steps, stamps + np.cumsum(pauses), loss.values)
    assert rules.throughput_drop(slow) is None
    assert rules.divergence(slow) is None and rules.loss_spike(slow) is None


# -- each fault raises its kind at a plausible step ---------------------------------------------


def spiked(n: int = 2000, at: int = 1200, length: int = 3) -> History:
    values = loss_of("warmup_cosine", n, noise=0.05, seed=4)
    values[at : at + length] *= 12
    return history(values)


def diverged(n: int = 2000, at: int = 1100, ramp: int = 1) -> History:
    values = loss_of("warmup_cosine", n, scale=3.0, noise=0.05, seed=5)
    climb = np.clip((np.arange(n) - at + 1) / ramp, 0, 1)
    values = values + climb * 3.0 * (1 + 0.05 * np.random.default_rng(6).standard_normal(n))
    return history(values)


def flat(n: int = 600, level: float = 2.3, noise: float = 0.05) -> History:
    rng = np.random.default_rng(7)
    return history(level * (1 + noise * rng.standard_normal(n)))


def slowed(n: int = 1500, at: int = 900, factor: float = 5.0) -> History:
    base = history(loss_of("constant", n, noise=0.05, seed=8))
    pace = np.diff(base.timestamps, prepend=T0)
    pace[at:] *= factor
    return History(base.key, base.steps, T0 + np.cumsum(pace), base.values)


def test_nan_at_its_step() -> None:
    values = loss_of("constant", 500)
    values[321:] = np.nan
    found = rules.nan(history(values), "loss")
    assert found is not None and found.kind == "nan" and found.step == 321


def test_divergence_after_a_jump_and_after_a_ramp() -> None:
    for ramp, latest in ((1, 1100 + 150), (300, 1100 + 450)):
        found = rules.divergence(diverged(ramp=ramp))
        assert found is not None and found.kind == "divergence" and found.severity == "critical"
        assert 1100 <= found.step <= latest, (ramp, found)
        assert 1100 <= found.evidence["onset_step"] <= found.step
        assert rules.loss_spike(diverged(ramp=ramp)) is None  # a jump that stays is no spike


def test_loss_spike_recovers() -> None:
    for length in (1, 4):
        loss = spiked(length=length)
        found = rules.loss_spike(loss)
        assert found is not None and found.kind == "loss_spike" and found.severity == "warning"
        assert found.evidence["spike_step"] == 1200
        assert 1200 < found.step <= 1200 + 20
        assert rules.divergence(loss) is None


def test_no_learning_when_flat_not_while_warming_up() -> None:
    found = rules.no_learning(flat(), None)
    assert found is not None and found.kind == "no_learning" and 200 <= found.step < 260
    noisy = rules.no_learning(flat(3000, noise=0.2), None)
    assert noisy is not None and noisy.step > 500  # noisier: known later, once it can be
    warm = np.minimum(1.0, (np.arange(1500) + 1) / 300)  # the LR ramps up over 300 steps
    found = rules.no_learning(flat(1500), history(1e-3 * warm, "lr"))
    assert found is not None and found.step >= 600  # as long again after the warm-up
    assert rules.no_learning(history(loss_of("warmup_cosine", 600)), None) is None


def test_overfitting_val_rises_while_train_falls() -> None:
    train = history(loss_of("constant", 4000, noise=0.05))
    evals = np.arange(99, 4000, 100)
    drop = 1.0 + np.exp(-evals / 400)
    val = np.where(evals > 1000, drop + (evals - 1000) / 2000, drop)
    val = val * (1 + 0.005 * np.random.default_rng(9).standard_normal(len(evals)))
    found = rules.overfitting(train, History("val/loss", evals, T0 + evals * 0.2, val))
    assert found is not None and found.kind == "overfitting"
    assert 1000 < found.step <= 2000 and found.evidence["best_step"] >= 800
    healthy = History("val/loss", evals, T0 + evals * 0.2, drop * (1 + 0.01 * np.sin(evals)))
    assert rules.overfitting(train, healthy) is None


def test_throughput_drop() -> None:
    found = rules.throughput_drop(slowed())
    assert found is not None and found.kind == "throughput_drop"
    assert 900 <= found.step <= 900 + 150 and 3.5 < found.evidence["recent_s"] / 0.2 < 7


def test_stalled() -> None:
    intervals = np.full(100, 2.0)
    assert rules.stalled(T0, intervals, T0 + 30, 99) is None
    found = rules.stalled(T0, intervals, T0 + 3600, 99)
    assert found is not None and found.kind == "stalled" and found.step == 99


def utilisation(
    train_ts: np.ndarray,
    idle_from: float | None = None,
    every: float = 5.0,
    pauses: list[tuple[float, float]] = (),
) -> History:
    """GPU samples every few seconds at ~85% while training, ~0% inside ``pauses`` (an
    evaluation on the CPU, a checkpoint) and, from ``idle_from`` on, ~5%."""
    stamps = np.arange(train_ts[0] - 30, train_ts[-1], every)
    rng = np.random.default_rng(10)
    values = 85 + 3 * rng.standard_normal(len(stamps))
    for start, end in pauses:
        values[(stamps >= start) & (stamps < end)] = 1.0
    values[stamps < train_ts[0]] = 0.5  # start-up
    if idle_from is not None:
        values[stamps >= idle_from] = 5 + rng.standard_normal(int((stamps >= idle_from).sum()))
    return History("sys/gpu0/util_percent", np.arange(len(stamps)), stamps, values)


def paused(n: int = 2000, every: int = 200, pause: float = 600.0) -> tuple[History, list]:
    """A run with a long evaluation (GPU idle) every ``every`` steps."""
    loss = history(loss_of("constant", n), pace=1.0)
    gaps = np.diff(loss.timestamps, prepend=T0)
    gaps[every::every] += pause
    stamps = T0 + np.cumsum(gaps)
    spans = [(stamps[i - 1], stamps[i]) for i in range(every, n, every)]
    return History(loss.key, loss.steps, stamps, loss.values), spans


def test_gpu_idle_mid_run_and_from_the_start_not_during_evaluations() -> None:
    loss, spans = paused()
    ts, steps = loss.timestamps, loss.steps
    assert rules.gpu_idle(utilisation(ts, pauses=spans), ts, steps) is None
    found = rules.gpu_idle(utilisation(ts, idle_from=ts[1200], pauses=spans), ts, steps)
    assert found is not None and found.kind == "gpu_idle" and 1200 <= found.step <= 1400
    found = rules.gpu_idle(utilisation(ts, idle_from=ts[0], pauses=spans), ts, steps)
    assert found is not None and found.step <= 100
    dip = [(ts[700], ts[700] + 20)]  # 4 samples at 1% while training: a dip, not idleness
    assert rules.gpu_idle(utilisation(ts, pauses=spans + dip), ts, steps) is None
    assert rules.gpu_idle(utilisation(ts, idle_from=ts[1200]), ts, 2000).step == 2000


# -- causality: a growing run keeps its findings -----------------------------------------------


Rule = Callable[[History], Finding | None]
CASES: dict[str, tuple[Rule, History]] = {
    "divergence": (rules.divergence, diverged()),
    "slow divergence": (rules.divergence, diverged(ramp=300)),
    "loss_spike": (rules.loss_spike, spiked()),
    "no_learning": (lambda h: rules.no_learning(h, None), flat(2000, noise=0.2)),
    "throughput_drop": (rules.throughput_drop, slowed()),
    "healthy divergence": (rules.divergence, history(loss_of("restarts", 3000, noise=0.2))),
    "healthy spike": (rules.loss_spike, history(loss_of("cosine", 3000, noise=0.3, heavy=True))),
    "healthy learning": (
        lambda h: rules.no_learning(h, None),
        history(loss_of("warmup_cosine", 3000, noise=0.3)),
    ),
    "healthy pace": (rules.throughput_drop, paused()[0]),
}


def lengths(total: int) -> list[int]:
    return sorted({*range(5, total + 1, max(1, total // 150)), total})


@pytest.mark.parametrize("case", list(CASES))
def test_findings_do_not_move_or_flicker_as_the_run_grows(case: str) -> None:
    rule, full = CASES[case]
    final = rule(full)
    assert (final is None) == case.startswith("healthy")
    for n in lengths(len(full)):
        found = rule(prefix(full, n))
        if final is None or full.steps[n - 1] < final.step:
            assert found is None, (case, n, found)
        else:
            assert found is not None and (found.kind, found.step) == (final.kind, final.step)


def test_overfitting_and_gpu_idle_do_not_move_as_the_run_grows() -> None:
    train = history(loss_of("constant", 4000, noise=0.05))
    evals = np.arange(99, 4000, 100)
    val_values = 1.0 + np.exp(-evals / 400) + np.maximum(evals - 1000, 0) / 2000
    val = History("val/loss", evals, T0 + evals * 0.2, val_values)
    final = rules.overfitting(train, val)
    assert final is not None
    for n in lengths(len(train)):
        step = train.steps[n - 1]
        found = rules.overfitting(prefix(train, n), prefix(val, int((evals <= step).sum())))
        assert (found is None) if step < final.step else (found.step == final.step)
    loss, spans = paused()
    util = utilisation(loss.timestamps, idle_from=loss.timestamps[1200], pauses=spans)
    final = rules.gpu_idle(util, loss.timestamps, loss.steps)
    assert final is not None
    for n in lengths(len(loss)):
        ts = loss.timestamps[:n]
        seen = prefix(util, int((util.timestamps <= ts[-1]).sum()))
        found = rules.gpu_idle(seen, ts, loss.steps[:n])
        assert (found is None) if loss.steps[n - 1] < final.step else (found.step == final.step)


def test_trend_is_causal() -> None:
    values = loss_of("step", 7000, noise=0.3, heavy=True)
    full = rules.trend(values)
    for n in (40, 319, 320, 321, 641, 2000, 5120, 6999):
        part = rules.trend(values[:n])
        keep = full.ends < n
        assert np.array_equal(part.ends, full.ends[keep])
        for column in ("level", "noise", "width", "tail"):
            assert np.allclose(getattr(part, column), getattr(full, column)[keep]), (n, column)
    assert len(rules.trend(values[:32])) == 0 and len(rules.trend(np.empty(0))) == 0


def test_rules_share_a_trend_only_for_the_same_points() -> None:
    """divergence and loss_spike reuse the loss's trend within a pass, never across runs or
    across a run that grew."""
    rose, spike = diverged(ramp=1), spiked()
    assert len(rose) == len(spike)
    for _ in range(2):
        assert rules.divergence(rose) is not None and rules.loss_spike(rose) is None
        assert rules.divergence(spike) is None and rules.loss_spike(spike) is not None
    grown = History(rose.key, rose.steps, rose.timestamps, rose.values)
    assert rules.divergence(prefix(grown, 1000)) is None and rules.divergence(grown) is not None
