"""Every zoo trainer, end to end on a small generated dataset in a fresh home: prepared into
the lake, trained, killed after a checkpoint, restarted with the same run id (it must pick up
at the step after the checkpoint, exactly where the killed attempt was then), and continued
with more steps. The loss must fall and the category metric must beat its trivial baseline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import daybreak
from daybreak.lake import datasets
from daybreak.tracking import points
from daybreak.tracking.readers import backend
from daybreak.tracking.run import Run
from daybreak.zoo import CATEGORIES, trainer

torch = pytest.importorskip("torch")


class Killed(Exception):
    """Stands in for the process dying in the middle of a step."""


@dataclasses.dataclass(frozen=True)
class Case:
    count: int  # generated rows
    steps: int  # the first run's steps; a multiple of `every`
    more: int  # steps of the run continued after it
    killed_at: int  # the step whose logging "kills" the first attempt
    every: int  # checkpoint_every
    better: float  # the metric must beat the baseline by this much
    drop: float = 0.7  # the late training loss must be below this share of the early one
    exact: bool = True  # a resumed step repeats the killed attempt's loss exactly


CASES = {
    "classification": Case(240, 96, 144, 50, 16, 0.2, exact=False),  # no sampler state saved
    "pose": Case(200, 40, 60, 27, 10, 0.15),
    "face": Case(200, 40, 60, 27, 10, 0.15),
    "segmentation": Case(160, 40, 60, 27, 10, 0.1, drop=0.85),  # the Dice term falls slowly
    "detection": Case(400, 60, 100, 37, 10, 0.15),
    "text": Case(300, 40, 60, 27, 10, 0.3),
}
BASELINES = {  # what a trainer that learnt nothing scores, where the trainer does not log it
    "classification": 0.25,  # four balanced classes
    "detection": 0.0,
}


def test_the_registry_lists_every_trainer():
    assert set(CATEGORIES) == set(CASES)
    for category in CATEGORIES:
        module = trainer(category)
        assert category == module.CATEGORY
        assert module.GOAL in ("max", "min")
        assert callable(module.prepare) and callable(module.train) and callable(module.main)


def train_losses(settings, run_id: str) -> np.ndarray:
    """Every train/loss point in the order written, repeats included (the read side keeps
    only the last value of a step)."""
    return points.read_records(settings.runs_dir / run_id, "train/loss")


@pytest.mark.parametrize("category", list(CASES))
def test_trains_learns_and_resumes_after_a_kill(settings, category, monkeypatch):
    module, case = trainer(category), CASES[category]
    ref = module.prepare(settings, count=case.count, seed=0)
    assert module.prepare(settings, count=case.count, seed=1) == ref  # reused, not made again
    common = {"dataset": ref, "project": "zoo-test", "checkpoint_every": case.every}
    if category != "classification":
        common["eval_every"] = 10

    log = Run.log

    def dying(self, metrics, step=None, timestamp=None):
        if step == case.killed_at and "train/loss" in metrics:
            raise Killed
        return log(self, metrics, step=step, timestamp=timestamp)

    monkeypatch.setattr(Run, "log", dying)
    with pytest.raises(Killed):
        module.train(steps=case.steps, **common)
    monkeypatch.setattr(Run, "log", log)
    (killed,) = backend(settings).list_runs(project="zoo-test")
    assert killed.status == "failed" and killed.attempts == 1
    assert killed.tags == ["zoo", category]

    # the job system restarts it with the same run id and the same arguments
    run_id = module.train(steps=case.steps, resume=killed.id, **common)
    assert run_id == killed.id
    # ... and later someone continues it for longer
    assert module.train(steps=case.more, resume=run_id, **common) == run_id

    view = daybreak.get_run(run_id)
    assert view.status == "finished" and view.record.attempts == 3
    checkpoint = (case.killed_at // case.every) * case.every - 1  # the last one before the kill
    written = train_losses(settings, run_id)
    assert written["step"].tolist() == [
        *range(case.killed_at),  # the killed attempt
        *range(checkpoint + 1, case.steps),  # restarted at the step after its checkpoint
        *range(case.steps, case.more),  # continued after the checkpoint at its end
    ]
    if case.exact:  # model, optimizer, schedule and sampler all came back from the checkpoint
        first = written["value"][checkpoint + 1 : case.killed_at]
        again = written["value"][case.killed_at : case.killed_at + len(first)]
        np.testing.assert_allclose(again, first, rtol=1e-4)
    losses = view.history("train/loss")
    assert losses.steps.tolist() == list(range(case.more))
    assert view.history("lr").steps.tolist() == list(range(case.more))
    assert len(view.history("train/grad_norm")) == case.more
    early, late = losses.values[:8].mean(), losses.values[-8:].mean()
    assert late < case.drop * early, (early, late)

    metric = module.METRIC
    assert view.metrics()["val/loss"].last_step == case.more - 1
    assert view.metrics()[metric].last_step == case.more - 1
    value = view.summary[metric]
    assert value == pytest.approx(view.metrics()[metric].last)
    name = metric.split("/")[1]
    baseline = view.summary.get(f"baseline/{name}", BASELINES.get(category))
    assert baseline is not None
    if module.GOAL == "max":
        assert value > baseline + case.better, (value, baseline)
    else:  # an error: at most (1 - better) of the baseline's
        assert value < baseline * (1 - case.better), (value, baseline)
    assert datasets.used_by_run(settings, run_id) == [ref]
