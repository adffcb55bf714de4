"""Checkpoints and resuming a run where it stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

import daybreak


def new_run(**kwargs):
    return daybreak.init(project="p", system_metrics=False, capture_output=False, **kwargs)


def test_save_and_load_latest_checkpoint(home, tmp_path):
    torch = pytest.importorskip("torch")
    run = new_run()
    assert run.latest_checkpoint() is None
    for step in (10, 20, 30):
        run.save_checkpoint({"w": torch.full((2,), float(step)), "step": step}, step=step)
    latest = run.latest_checkpoint()
    assert latest.step == 30
    assert torch.equal(latest.load()["w"], torch.full((2,), 30.0))
    path = tmp_path / "ckpt.bin"
    path.write_bytes(b"abc")
    from_path = run.save_checkpoint(path, step=40, name="raw")
    assert from_path.path.read_bytes() == b"abc"
    run.finish()
    assert len(daybreak.get_run(run.id).checkpoints()) == 4


def test_keep_prunes_old_checkpoints_and_their_bytes(home):
    run = new_run()
    saved = [run.save_checkpoint({"step": s}, step=s, keep=2) for s in range(5)]
    run.finish()
    left = daybreak.get_run(run.id).checkpoints()
    assert [c["step"] for c in left] == [3, 4]
    assert not Path(saved[0].uri).exists() and not Path(saved[0].uri).parent.exists()
    assert Path(saved[4].uri).read_bytes() == saved[4].path.read_bytes()


def test_saving_the_same_step_twice_keeps_the_bytes_the_newest_row_needs(home):
    run = new_run()
    for step in (9, 19, 19, 29, 39):  # a resumed attempt saves step 19 again
        run.save_checkpoint({"step": step}, step=step, keep=2)
    run.finish()
    left = daybreak.get_run(run.id).checkpoints()
    assert [c["step"] for c in left] == [29, 39]
    assert run.latest_checkpoint().load() == {"step": 39}


def test_resume_continues_the_same_run(home):
    run = new_run(name="r")
    for i in range(50):
        run.log({"loss": float(i)}, step=i)
    run.save_checkpoint({"step": 49}, step=49)
    run.finish("crashed", error="simulated")

    resumed = daybreak.init(resume=run.id[:6], system_metrics=False, capture_output=False)
    assert resumed.id == run.id and resumed.step == 50
    assert resumed.latest_checkpoint().load()["step"] == 49
    resumed.log({"loss": 50.0})
    resumed.finish()
    view = daybreak.get_run(run.id)
    assert view.status == "finished" and view.record.attempts == 2 and view.error is None
    assert view.history("loss").steps.tolist() == list(range(51))


def test_steps_written_twice_after_a_resume_keep_the_later_value(home):
    run = new_run()
    for i in range(10):
        run.log({"loss": 1.0}, step=i)
    run.finish("crashed")
    resumed = daybreak.init(resume=run.id, system_metrics=False, capture_output=False)
    for i in range(5, 12):  # the checkpoint was at step 4: steps 5..9 are redone
        resumed.log({"loss": 2.0}, step=i)
    resumed.finish()
    history = daybreak.get_run(run.id).history("loss")
    assert history.steps.tolist() == list(range(12))
    assert history.values.tolist() == [1.0] * 5 + [2.0] * 7


def test_resume_of_unknown_run_is_an_error(home):
    with pytest.raises(daybreak.DaybreakError, match="no run"):
        daybreak.init(resume="nope", system_metrics=False)
