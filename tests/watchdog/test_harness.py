"""The watchdog's evaluation harness (eval/watchdog/): a slice of the quick corpus, generated
by training real tiny models, lines up with its labels; the scorer imports it and scores the
baseline; and the scorer's arithmetic is right on hand-made cases."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.watchdog import generate, score
from eval.watchdog.specs import KINDS

SLICE = 15  # the quick plan's first round: every kind once, and six healthy runs


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slice, generated once per session, shared by the xdist workers through a lock."""
    shared = tmp_path_factory.getbasetemp().parent
    out = shared / "watchdog-corpus"
    with _locked(shared / "watchdog-corpus.lock"):
        if not (out / generate.MANIFEST_FILE).is_file():
            generate.generate(out, quick=True, workers=1, limit=SLICE, progress=False)
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_runs(corpus: Path) -> dict[str, dict[str, Any]]:
    """run id -> {"run": record, "keys": {key: (steps, timestamps, values)}}."""
    runs: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    with gzip.open(corpus / generate.RUNS_FILE, "rt") as handle:
        for line in handle:
            data = json.loads(line)
            if "run" in data:
                current = runs[data["run"]["id"]] = {"run": data["run"], "keys": {}}
            else:
                steps, stamps, values = current["keys"].setdefault(data["key"], ([], [], []))
                steps.append(data["step"])
                stamps.append(data["ts"])
                values.append(data["value"])
    for run in runs.values():
        run["keys"] = {
            k: tuple(np.asarray(c, dtype=float) for c in v) for k, v in run["keys"].items()
        }
    return runs


LOSS_KEYS = ("loss", "train/loss", "train_loss", "objective/total")


def loss_of(run: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    declared = (run["run"]["config"].get("watchdog") or {}).get("loss")
    key = declared or next(k for k in LOSS_KEYS if k in run["keys"])
    return run["keys"][key]


def test_corpus_lines_up_with_its_labels(corpus: Path) -> None:
    labels = score.load_labels(corpus)
    runs = read_runs(corpus)
    manifest = json.loads((corpus / generate.MANIFEST_FILE).read_text())
    assert len(labels) == len(runs) == manifest["runs"] == SLICE
    assert {label["run_id"] for label in labels} == set(runs)
    kinds = {x["kind"] for label in labels for x in label["labels"]}
    assert kinds == set(KINDS)
    for label in labels:
        run = runs[label["run_id"]]
        steps, stamps, _ = loss_of(run)
        assert label["now"] >= stamps.max()  # `now` is never before a point
        for fault in label["labels"]:
            assert 0 <= fault["onset_step"] <= steps.max(), label
            check_fault(fault["kind"], fault["onset_step"], run, label)
        if not label["labels"]:
            check_healthy(run, label)


def check_fault(kind: str, onset: int, run: dict[str, Any], label: dict[str, Any]) -> None:
    steps, stamps, values = loss_of(run)
    record = run["run"]
    if kind == "nan":
        nonfinite = [
            s
            for k, (ks, _, kv) in run["keys"].items()
            if not k.startswith("sys/")
            for s in ks[~np.isfinite(kv)]
        ]
        assert nonfinite and min(nonfinite) == onset
    elif kind == "divergence":
        assert np.isfinite(values).all()
        tail = np.median(values[-max(5, len(values) // 10) :])
        before = np.median(values[steps < onset][-10:])
        assert tail > 1.5 * before
    elif kind == "stalled":
        assert record["status"] == "running" and record["ended_at"] is None
        assert onset == steps.max()
        assert label["now"] - stamps.max() >= 300
        assert label["now"] - record["last_heartbeat"] < 10  # alive: its heart still beats
    elif kind == "crashed":
        assert onset == steps.max()
        if record["status"] == "running":  # gone without a word: its heart stopped
            assert label["now"] - record["last_heartbeat"] >= 60
        else:
            assert record["status"] in ("crashed", "failed") and record["error"]
    elif kind == "throughput_drop":
        gaps = np.diff(stamps) / np.diff(steps)
        assert np.median(gaps[steps[1:] > onset]) > 2.5 * np.median(gaps[steps[1:] <= onset])
    elif kind == "gpu_idle":
        utils = [v for k, v in run["keys"].items() if k.startswith("sys/gpu0/util")]
        assert utils and np.median(utils[0][2][utils[0][1] > stamps[steps >= onset][0]]) < 20
    elif kind == "no_learning":
        head, tail = np.median(values[:10]), np.median(values[-10:])
        assert abs(tail - head) < 0.1 * abs(head)


def check_healthy(run: dict[str, Any], label: dict[str, Any]) -> None:
    record = run["run"]
    # finished, still running, stopped by hand, or finished after a preemption and a resume
    resumed = label["variant"] == "resumed"
    assert record["status"] == ("finished" if resumed else label["variant"])
    assert record["attempts"] == (2 if resumed else 1)
    if record["status"] == "finished":
        assert record["ended_at"] is not None and not record["error"]
    values = loss_of(run)[2]
    assert np.isfinite(values).all()
    assert np.median(values[-5:]) < np.median(values[:5])  # it learned


def test_scorer_imports_the_corpus_and_scores_the_baseline(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert score.main(["--corpus", str(corpus), "--detector", "baseline", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["runs"] == SLICE and not report["errors"]
    assert set(report["kinds"]) == set(KINDS)
    assert report["kinds"]["nan"]["recall"] == 1.0  # a NaN check finds NaNs...
    for kind in ("loss_spike", "no_learning", "overfitting", "throughput_drop", "gpu_idle"):
        assert report["kinds"][kind]["tp"] == 0  # ...and it has no rule for these
    assert report["macro_f1"] < score.FLOORS["macro_f1"] and not report["passed"]
    assert score.main(["--corpus", str(corpus), "--detector", "baseline"]) == 1
    table = capsys.readouterr().out
    assert "macro-F1" in table and "FAIL" in table


ORACLE: dict[str, list[dict[str, Any]]] = {}


def oracle(run: Any, now: float | None = None) -> list[dict[str, Any]]:
    """A detector that knows the labels: the scorer must give it full marks."""
    return [
        {"kind": x["kind"], "severity": "critical", "step": x["onset_step"]} for x in ORACLE[run.id]
    ]


def test_a_detector_that_knows_the_labels_passes(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ORACLE.update({x["run_id"]: x["labels"] for x in score.load_labels(corpus)})
    detector = f"{__name__}:oracle"
    assert score.main(["--corpus", str(corpus), "--detector", detector, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["macro_f1"] == 1.0 and report["false_alarms"] == 0
    assert report["median_delay"] == 0.0


def test_unknown_detector_and_missing_corpus(tmp_path: Path) -> None:
    assert score.main(["--corpus", str(tmp_path), "--detector", "baseline"]) == 2
    (tmp_path / generate.LABELS_FILE).write_text("")
    assert score.main(["--corpus", str(tmp_path), "--detector", "nope"]) == 2


# -- the arithmetic ---------------------------------------------------------------------------


def f(kind: str, step: int | None, severity: str = "critical") -> dict[str, Any]:
    return {"kind": kind, "severity": severity, "step": step}


def lab(run_id: str, *faults: tuple[str, int], allow: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "labels": [{"kind": k, "onset_step": s} for k, s in faults],
        "allow": list(allow),
    }


def test_score_arithmetic() -> None:
    labels = [
        lab("n1", ("nan", 100)),
        lab("n2", ("nan", 50)),
        lab("n3", ("nan", 10), allow=("divergence",)),
        lab("d1", ("divergence", 200)),
        lab("s1", ("stalled", 70)),
        lab("h1"),
        lab("h2"),
        lab("h3"),
        lab("h4"),
    ]
    findings = {
        "n1": [f("nan", 104)],  # hit, 4 steps late
        "n2": [f("nan", 40)],  # before the onset: a miss and a false positive
        "n3": [f("nan", None), f("divergence", 9)],  # hit with no step; divergence allowed
        "d1": [f("divergence", 230), f("nan", 231)],  # hit, 30 late; nan is a false positive
        "s1": [f("stalled", 70, "warning"), f("gpu_idle", 1, "info")],  # hit; info ignored
        "h1": [f("loss_spike", 5, "warning")],  # a false alarm
        "h2": [f("no_learning", 0, "info")],  # info: not an alarm
        "h3": [],
        # h4: no findings at all (the detector returned nothing for it)
    }
    report = score.score(labels, findings)
    nan = report["kinds"]["nan"]
    assert (nan["runs"], nan["tp"], nan["fp"], nan["fn"]) == (3, 2, 2, 1)
    assert nan["precision"] == pytest.approx(0.5)
    assert nan["recall"] == pytest.approx(2 / 3)
    assert nan["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert nan["delays"] == [4] and nan["median_delay"] == 4.0
    div = report["kinds"]["divergence"]
    assert (div["tp"], div["fp"], div["fn"], div["f1"]) == (1, 0, 0, 1.0)
    assert div["median_delay"] == 30.0
    stalled = report["kinds"]["stalled"]
    assert (stalled["tp"], stalled["fp"], stalled["f1"], stalled["median_delay"]) == (1, 0, 1.0, 0)
    spike = report["kinds"]["loss_spike"]  # no labelled runs, one false positive: F1 0, scored
    assert (spike["runs"], spike["fp"], spike["precision"], spike["f1"]) == (0, 1, 0.0, 0.0)
    # scored kinds: nan, divergence, stalled (labelled) and loss_spike (a false positive)
    assert report["macro_f1"] == pytest.approx((nan["f1"] + 1.0 + 1.0 + 0.0) / 4)
    assert report["healthy"] == 4 and report["false_alarms"] == 1
    assert report["false_alarm_rate"] == pytest.approx(0.25)
    assert report["median_delay"] == 4.0  # of 4, 30, 0
    assert report["false_alarm_runs"] == [{"run_id": "h1", "kinds": ["loss_spike"]}]
    assert not report["passed"]


def test_score_floors() -> None:
    labels = [lab("a", ("crashed", 5))] + [lab(f"h{i}") for i in range(50)]
    perfect = score.score(labels, {"a": [f("crashed", 5)]})
    assert perfect["macro_f1"] == 1.0 and perfect["false_alarm_rate"] == 0.0
    assert perfect["passed"]
    # kinds without a column (oom, known_error) still count as false alarms on healthy runs
    one = score.score(labels, {"a": [f("crashed", 5)], "h0": [f("oom", None, "warning")]})
    assert one["macro_f1"] == 1.0
    assert one["false_alarm_rate"] == pytest.approx(0.02) and one["passed"]  # 2% is allowed
    two = score.score(
        labels,
        {"a": [f("crashed", 5)], "h0": [f("oom", None)], "h1": [f("known_error", 3)]},
    )
    assert two["false_alarm_rate"] == pytest.approx(0.04) and not two["passed"]
    fp = score.score(labels, {"a": [f("crashed", 5)], "h0": [f("crashed", 9)]})
    assert fp["kinds"]["crashed"]["precision"] == 0.5 and not fp["passed"]
    errored = score.score(labels, {"a": [f("crashed", 5)]}, {"h3": "ValueError: boom"})
    assert not errored["passed"]
    assert math.isclose(score.score([], {})["macro_f1"], 0.0)


def test_a_held_out_plan_draws_beyond_the_committed_shapes() -> None:
    """``--wide`` (a held-out corpus) draws shapes the committed corpus never has; without it
    the plan is the committed corpus's, draw for draw."""
    from eval.watchdog import specs

    committed = specs.plan(False, 0)
    assert len(committed) == 276 and not any(s.wide for s in committed)
    assert all(s.eval_util < 0 and s.schedule in specs.SCHEDULES for s in committed)
    assert max(s.loss_scale for s in committed) <= 1e3 and min(s.batch for s in committed) >= 4
    wide = specs.plan(False, 2, wide=True, healthy=150, per_kind=10)
    assert len(wide) == 150 + 10 * len(KINDS) and all(s.wide for s in wide)
    assert max(s.loss_scale for s in wide) > 1e3 and min(s.batch for s in wide) == 2
    assert max(s.steps for s in wide) > 5000 and min(s.steps for s in wide) < 50
    assert set(specs.WIDE_SCHEDULES) - set(specs.SCHEDULES) <= {s.schedule for s in wide}
    assert any(s.log_every == 1 and s.steps > 2000 for s in wide)
    assert all(0 <= s.eval_util <= 0.9 for s in wide)
    labels = score.load_labels(score.DEFAULT_CORPUS)  # the committed corpus's own draws
    for spec, label in zip(committed, labels, strict=True):
        draws = (specs.make(spec.index, spec.kind, spec.variant, False, 0, a) for a in range(12))
        assert any(generate.shape_of(d) == label["shape"] for d in draws), label["run_id"]
    assert generate.run_id_of(committed[0]) != generate.run_id_of(wide[0])
