"""The SDK's write and read paths, in process, on the real store."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

import daybreak
from daybreak.errors import ConfigError, InvalidMetricError, NotFoundError
from daybreak.tracking.run import DaybreakWarning


def new_run(**kwargs):
    kwargs.setdefault("system_metrics", False)
    kwargs.setdefault("capture_output", False)
    return daybreak.init(project=kwargs.pop("project", "p"), **kwargs)


def test_logged_points_read_back_exactly(home):
    run = new_run(name="exact", config={"lr": 0.1}, tags=["t1"])
    values = np.random.default_rng(0).normal(size=500)
    for i, value in enumerate(values):
        run.log({"train/loss": float(value), "lr": 0.1}, step=i * 2)
    run.finish()

    view = daybreak.get_run(run.id)
    assert view.status == "finished"
    assert view.config == {"lr": 0.1} and view.tags == ["t1"] and view.name == "exact"
    history = view.history("train/loss")
    np.testing.assert_array_equal(history.values, values)
    np.testing.assert_array_equal(history.steps, np.arange(500) * 2)
    assert np.all(np.diff(history.timestamps) >= 0)
    stats = view.metrics()["train/loss"]
    assert stats.count == 500 and stats.last == values[-1]
    assert stats.min == values.min() and stats.max == values.max() and stats.last_step == 998


def test_numbers_numpy_and_torch_values(home):
    torch = pytest.importorskip("torch")
    run = new_run()
    run.log(
        {
            "int": 3,
            "bool": True,
            "np32": np.float32(1.5),
            "np_int": np.int64(7),
            "np_0d": np.array(2.25),
            "tensor": torch.tensor(4.5),
            "grad_tensor": (torch.ones(1, requires_grad=True) * 2).sum(),
            "nested": {"inner": 6},
        },
        step=0,
    )
    run.finish()
    got = {k: s.last for k, s in daybreak.get_run(run.id).metrics().items()}
    assert got == {
        "int": 3,
        "bool": 1,
        "np32": 1.5,
        "np_int": 7,
        "np_0d": 2.25,
        "tensor": 4.5,
        "grad_tensor": 2.0,
        "nested/inner": 6,
    }


def test_nan_and_infinity_are_values(home):
    run = new_run()
    sequence = [1.0, math.nan, math.inf, -math.inf, 2.0]
    for i, value in enumerate(sequence):
        run.log({"loss": value}, step=i)
    run.log({"last_nan": math.nan}, step=5)
    run.finish()
    view = daybreak.get_run(run.id)
    values = view.history("loss").values
    assert (
        values[0] == 1.0
        and math.isnan(values[1])
        and values[2] == math.inf
        and values[3] == -math.inf
    )
    stats = view.metrics()["loss"]
    assert stats.nonfinite == 3 and stats.min == 1.0 and stats.max == 2.0
    assert math.isnan(view.metrics()["last_nan"].last)


def test_step_defaults_to_one_past_the_last(home):
    run = new_run()
    run.log({"a": 1.0})
    run.log({"a": 2.0})
    run.log({"a": 3.0}, step=10)
    run.log({"a": 4.0})
    run.log({"b": 5.0}, step=3)  # an explicit earlier step does not move the counter back
    run.log({"a": 6.0})
    run.finish()
    assert daybreak.get_run(run.id).history("a").steps.tolist() == [0, 1, 10, 11, 12]


def test_explicit_timestamps_are_kept(home):
    run = new_run()
    run.log({"val/loss": 0.5}, step=1, timestamp=1_600_000_000.25)
    run.finish()
    assert daybreak.get_run(run.id).history("val/loss").timestamps.tolist() == [1_600_000_000.25]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"loss": "abc"}, "non-numeric"),
        ({"loss": None}, "non-numeric"),
        ({"loss": [1, 2]}, "non-numeric"),
        ({"loss": np.ones(3)}, "array of 3"),
        ({"bad key!": 1.0}, "may use letters"),
        ({"a//b": 1.0}, "empty"),
        ({"../x": 1.0}, "must"),
        ({"": 1.0}, "1 to 200"),
    ],
)
def test_bad_metrics_warn_and_keep_the_rest(home, metrics, message):
    run = new_run()
    with pytest.warns(DaybreakWarning, match=message):
        run.log({**metrics, "good": 1.0}, step=0)
    run.finish()
    assert daybreak.get_run(run.id).metric_keys() == ["good"]


def test_strict_mode_raises_with_a_hint(home):
    run = new_run(strict=True)
    with pytest.raises(InvalidMetricError) as caught:
        run.log({"loss": "abc"})
    assert caught.value.hint
    run.log({"loss": 1.0})
    run.finish()
    assert daybreak.get_run(run.id).history("loss").values.tolist() == [1.0]


def test_configs_of_many_shapes(home):
    import argparse
    import pathlib

    @dataclasses.dataclass
    class Cfg:
        lr: float = 0.1
        path: pathlib.Path = pathlib.Path("/data")
        layers: tuple[int, ...] = (1, 2)

    run = new_run(config=Cfg())
    run.finish()
    assert daybreak.get_run(run.id).config == {"lr": 0.1, "path": "/data", "layers": [1, 2]}
    run = new_run(config=argparse.Namespace(epochs=3, decay=math.nan))
    run.finish()
    assert daybreak.get_run(run.id).config == {"epochs": 3, "decay": "nan"}


def test_config_that_cannot_be_saved_says_where(home):
    with pytest.raises(ConfigError, match=r"config\.optimizer\.fn cannot be saved"):
        new_run(config={"optimizer": {"fn": object()}})


def test_summary_is_saved_on_finish(home):
    run = new_run()
    run.summary["best/acc"] = 0.93
    run.summary["nan"] = math.nan
    run.finish()
    assert daybreak.get_run(run.id).summary == {"best/acc": 0.93, "nan": "nan"}


def test_context_manager_marks_failure_with_traceback(home):
    with pytest.raises(ZeroDivisionError), new_run() as run:
        run.log({"loss": 1.0})
        1 / 0  # noqa: B018
    view = daybreak.get_run(run.id)
    assert view.status == "failed"
    assert "ZeroDivisionError" in view.error and "Traceback" in view.error
    assert view.history("loss").values.tolist() == [1.0]


def test_context_manager_marks_ctrl_c_stopped(home):
    with pytest.raises(KeyboardInterrupt), new_run() as run:
        raise KeyboardInterrupt
    assert daybreak.get_run(run.id).status == "stopped"


def test_a_live_run_can_be_read(home):
    run = new_run()
    for i in range(100):
        run.log({"loss": 1.0 / (i + 1)}, step=i)
    view = daybreak.get_run(run.id)
    assert view.status == "running"
    assert len(view.history("loss")) == 100
    run.log({"loss": 0.001}, step=100)
    run.flush()
    assert len(view.history("loss")) == 101
    run.finish()


def test_points_reach_disk_within_a_second_without_flush(home):
    from daybreak.tracking import points

    run = new_run()
    run.log({"loss": 1.0}, step=0)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and not len(points.read_records(run.dir, "loss")):
        time.sleep(0.02)
    assert len(points.read_records(run.dir, "loss")) == 1
    run.finish()


def test_prefix_lookup_and_unknown_ids(home):
    run = new_run()
    run.finish()
    assert daybreak.get_run(run.id[:5]).id == run.id
    with pytest.raises(NotFoundError, match="no run"):
        daybreak.get_run("zzzzzz")
    with pytest.raises(NotFoundError, match="no metric"):
        daybreak.get_run(run.id).history("missing")


def test_logging_after_finish_is_refused(home):
    run = new_run()
    run.log({"known": 1.0})
    run.log({"known": 2.0})  # now on the fast path
    run.finish()
    with pytest.raises(daybreak.DaybreakError, match="has finished"):
        run.log({"x": 1.0})
    with pytest.raises(daybreak.DaybreakError, match="has finished"):
        run.log({"known": 3.0})


def test_bad_database_url_fails_fast(home, monkeypatch):
    monkeypatch.setenv("DAYBREAK_DB", "mysql://localhost/x")
    with pytest.raises(ConfigError, match="unsupported database"):
        new_run()


def test_unreachable_database_does_not_stop_training(home, monkeypatch, capfd):
    monkeypatch.setenv("DAYBREAK_DB", "postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    run = new_run()
    for i in range(10):
        run.log({"loss": float(i)}, step=i)
    run.flush(timeout=10)
    from daybreak.tracking import points

    assert len(points.read_records(run.dir, "loss")) == 10
    run.finish(timeout=10)
    assert "could not register the run" in capfd.readouterr().err


def test_log_artifact_files_and_folders(home, tmp_path):
    run = new_run()
    file = tmp_path / "weights.bin"
    file.write_bytes(b"\x00" * 1000)
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    row = run.log_artifact(file, name="weights")
    run.log_artifact(folder)
    run.finish()
    artifacts = daybreak.get_run(run.id).artifacts()
    assert [a["name"] for a in artifacts] == ["weights", "samples"]
    assert artifacts[0]["size"] == 1000 and row["sha256"] == artifacts[0]["sha256"]
    assert artifacts[1]["meta"] == {"archive": "zip"}
    with pytest.raises(NotFoundError):
        run2 = new_run()
        try:
            run2.log_artifact(tmp_path / "missing.bin")
        finally:
            run2.finish()


def test_notes_attach_to_the_run(home):
    run = new_run()
    run.note("tried warmup 500, loss still spiky", author="ana")
    run.finish()
    notes = daybreak.get_run(run.id).notes()
    assert [(n["author"], n["body"]) for n in notes] == [
        ("ana", "tried warmup 500, loss still spiky")
    ]


def test_a_full_disk_is_reported_and_nothing_is_lost_once_space_is_back(home, capfd):
    from daybreak.tracking import points

    run = new_run()
    folder = points.metrics_dir(run.dir)
    folder.mkdir(parents=True)
    full = folder / points.key_filename("loss")
    full.symlink_to("/dev/full")  # every write there fails with ENOSPC, like a full disk
    for i in range(20):
        run.log({"loss": float(i), "other": 1.0}, step=i)
    time.sleep(0.6)
    err = capfd.readouterr().err
    assert "No space left on device" in err and "is full: free some space" in err
    full.unlink()  # space is back
    for i in range(20, 30):
        run.log({"loss": float(i), "other": 1.0}, step=i)
    run.finish()
    view = daybreak.get_run(run.id)
    assert view.history("loss").values.tolist() == [float(i) for i in range(30)]
    assert view.metrics()["other"].count == 30


def test_a_key_logged_in_calls_of_different_shapes_keeps_its_order(home):
    run = new_run()
    for i in range(30):
        metrics = {"loss": float(i)}
        if i % 3 == 0:
            metrics["val/loss"] = float(-i)
        if i % 5 == 0:
            metrics = {"lr": 0.1, **metrics}
        run.log(metrics, step=i)
    run.finish()
    view = daybreak.get_run(run.id)
    assert view.history("loss").values.tolist() == [float(i) for i in range(30)]
    assert view.history("val/loss").steps.tolist() == list(range(0, 30, 3))
    assert view.history("lr").steps.tolist() == list(range(0, 30, 5))
