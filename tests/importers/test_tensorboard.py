"""``daybreak import tensorboard``: real event files written by torch's SummaryWriter and by
TensorBoard's own writer; every point comes back, corrupt files are refused with nothing
left behind, and a second import skips what the first brought in."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import daybreak
from daybreak.cli.main import main
from daybreak.config import Settings
from daybreak.errors import ConfigError, ImportFormatError, InvalidMetricError, NotFoundError
from daybreak.importers import tensorboard as tb
from daybreak.importers.common import KeyMap, metric_key
from daybreak.tracking.values import check_key

pytest.importorskip("tensorboard")
T0 = 1_790_000_000.0
LONG = 12_345  # more than EventAccumulator's reservoir keeps (1,000 scalars a tag)


def torch_run(folder: Path, points: int = LONG, hparams: bool = True) -> None:
    """A run as torch.utils.tensorboard writes it: simple_value scalars, new-style tensor
    scalars, a histogram, an image, a tag Daybreak cannot take as is, and add_hparams."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder), max_queue=10_000, flush_secs=3600)
    for i in range(points):
        writer.add_scalar("train/loss", 1.0 / (i + 1), i, walltime=T0 + i)
    for i in range(50):
        writer.add_scalar("val/acc", i / 50, i * 10, walltime=T0 + i * 10, new_style=True)
        writer.add_scalar("top-1 %", i, i, walltime=T0 + i)
    writer.add_histogram("weights", np.arange(10.0), 0)
    writer.add_image("sample", np.zeros((3, 4, 4)), 0)
    if hparams:
        writer.add_hparams(
            {"lr": 0.001, "batch": 32, "arch": "resnet", "pretrained": True},
            {"hparam/best_acc": 0.75},
            run_name="hp",
        )
    writer.close()


def tf2_run(folder: Path) -> None:
    """A run as TF2 writes it: tensor scalars whose metadata comes with the first point only
    (float, double in tensor_content, int64), and hparams with an end status."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
    from tensorboard.plugins.hparams import summary_v2 as hp
    from tensorboard.plugins.scalar import summary_v2 as scalar
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder))

    def put(step: int, summary: summary_pb2.Summary) -> None:
        writer.add_event(event_pb2.Event(wall_time=T0 + step, step=step, summary=summary))

    put(0, hp.hparams_pb({"optimizer": "sgd", "layers": 4, "dropout": 0.5}))
    scalars = scalar.scalar_pb("m", 0.0).value[0].metadata
    for step in range(20):
        loss = scalar.scalar_pb("epoch_loss", 2.0 - step / 10)
        if step:
            loss.value[0].ClearField("metadata")
        double = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_DOUBLE, tensor_content=np.float64(step / 3).tobytes()
        )
        count = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64, int64_val=[step * 7])
        extra = summary_pb2.Summary()
        extra.value.add(tag="precise", tensor=double, metadata=scalars if not step else None)
        extra.value.add(tag="seen", tensor=count, metadata=scalars if not step else None)
        loss.value.extend(extra.value)
        put(step, loss)
    end = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_FAILURE)
    )
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=metadata.SESSION_END_INFO_TAG,
        metadata=metadata.create_summary_metadata(end),
        tensor=metadata.NULL_TENSOR,
    )
    put(20, summary)
    writer.close()


def runs_by_name(settings: Settings, result: tb.ImportResult) -> dict[str, daybreak.RunView]:
    return {
        r.name: daybreak.get_run(r.id, home=settings.home, db=settings.db) for r in result.imported
    }


def test_every_point_of_every_scalar_comes_back(settings: Settings, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    before = time.time()
    torch_run(logs / "torch")
    tf2_run(logs / "tf2" / "train")
    after = time.time()

    result = tb.import_tensorboard(settings, logs, project="vision")

    runs = runs_by_name(settings, result)
    assert sorted(runs) == ["tf2/train", "torch", "torch/hp"]
    torch = runs["torch"]
    assert torch.record.project == "vision"
    assert torch.record.status == "finished"
    loss = torch.history("train/loss")
    assert len(loss) == LONG  # nothing sampled away
    np.testing.assert_array_equal(loss.steps, np.arange(LONG))
    np.testing.assert_array_equal(loss.timestamps, T0 + np.arange(LONG))
    np.testing.assert_array_equal(loss.values, (1.0 / np.arange(1, LONG + 1)).astype(np.float32))
    acc = torch.history("val/acc")  # new_style: a tensor summary
    np.testing.assert_array_equal(acc.steps, np.arange(50) * 10)
    np.testing.assert_array_equal(acc.values, (np.arange(50) / 50).astype(np.float32))
    assert torch.history("top-1 _").values.tolist() == list(range(50))
    assert torch.metric_keys() == ["top-1 _", "train/loss", "val/acc"]
    assert torch.metrics()["train/loss"].count == LONG
    # add_hparams writes to a subfolder: that folder's run and the parent both get the config
    config = {"lr": 0.001, "batch": 32, "arch": "resnet", "pretrained": True}
    assert torch.record.config == config
    assert runs["torch/hp"].record.config == config
    assert runs["torch/hp"].history("hparam/best_acc").values.tolist() == [0.75]
    # the first event (the writer's file_version) is when the run started; the last, its end
    assert before <= torch.record.started_at <= torch.record.ended_at <= after
    assert torch.record.environment["imported"]["path"] == str((logs / "torch").resolve())

    tf2 = runs["tf2/train"]
    assert tf2.record.config == {"dropout": 0.5, "layers": 4, "optimizer": "sgd"}
    assert tf2.record.status == "failed"  # the hparams session ended with STATUS_FAILURE
    np.testing.assert_array_equal(
        tf2.history("epoch_loss").values, (2.0 - np.arange(20) / 10).astype(np.float32)
    )
    np.testing.assert_array_equal(tf2.history("precise").values, np.arange(20) / 3)
    np.testing.assert_array_equal(tf2.history("seen").values, np.arange(20) * 7.0)
    np.testing.assert_array_equal(tf2.history("seen").timestamps, T0 + np.arange(20))

    assert result.points == LONG + 100 + 1 + 60
    assert result.renamed == {"top-1 %": "top-1 _"}
    assert any("histo: 1" in w and "image: 1" in w for w in result.warnings)


def test_a_second_import_skips_runs_already_imported(
    settings: Settings, tmp_path: Path, state
) -> None:
    logs = tmp_path / "logs"
    torch_run(logs / "a", points=100, hparams=False)
    first = tb.import_tensorboard(settings, logs)
    assert [r.project for r in first.imported] == ["imported"]
    before = state()

    again = tb.import_tensorboard(settings, logs)
    assert again.imported == []
    assert [(s.source, s.id) for s in again.skipped] == [("a", first.imported[0].id)]
    assert "already imported" in again.skipped[0].reason
    assert state() == before

    # the same run in a moved folder is recognised too; a new run next to it is imported
    moved = tmp_path / "archive"
    shutil.move(logs, moved)
    torch_run(moved / "b", points=10, hparams=False)
    third = tb.import_tensorboard(settings, moved)
    assert [r.name for r in third.imported] == ["b"]
    assert [s.source for s in third.skipped] == ["a"]
    assert len(state()[0]) == 2


def test_a_copied_folder_is_the_same_run(settings: Settings, tmp_path: Path) -> None:
    torch_run(tmp_path / "logs" / "a", points=5, hparams=False)
    shutil.copytree(tmp_path / "logs" / "a", tmp_path / "logs" / "b")
    result = tb.import_tensorboard(settings, tmp_path / "logs")
    assert [r.name for r in result.imported] == ["a"]
    assert [(s.source, s.id) for s in result.skipped] == [("b", result.imported[0].id)]
    assert "a copy of a" in result.skipped[0].reason


def test_missing_or_empty_source_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no folder"):
        tb.import_tensorboard(settings, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(NotFoundError, match=r"no TensorBoard event files \(events\.out"):
        tb.import_tensorboard(settings, tmp_path / "empty")
    with pytest.raises(ConfigError, match="not a folder"):
        tb.import_tensorboard(settings, tmp_path / "empty" / "notes.txt")
    with pytest.raises(ConfigError, match="project"):
        tb.import_tensorboard(settings, tmp_path, project="a/b")


def event_file(folder: Path) -> Path:
    (found,) = folder.glob("events.out.tfevents.*")
    return found


@pytest.mark.parametrize("damage", ["flip", "garbage"])
def test_a_corrupt_file_is_refused_and_nothing_is_imported(
    settings: Settings, tmp_path: Path, state, damage: str
) -> None:
    logs = tmp_path / "logs"
    torch_run(logs / "good", points=200, hparams=False)
    torch_run(logs / "bad", points=200, hparams=False)
    path = event_file(logs / "bad")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    else:
        data[:] = np.random.default_rng(1).bytes(len(data))
    path.write_bytes(bytes(data))

    with pytest.raises(ImportFormatError, match="not a readable TensorBoard event file") as caught:
        tb.import_tensorboard(settings, logs)
    assert str(path) in caught.value.message
    assert "fails the checksum" in caught.value.message
    assert state() == ([], [], [])


def test_a_file_cut_off_mid_record_imports_what_is_whole(
    settings: Settings, tmp_path: Path
) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "logs" / "cut"))
    for i in range(100):
        writer.add_scalar("loss", i, i)
    writer.close()
    path = event_file(tmp_path / "logs" / "cut")
    path.write_bytes(path.read_bytes()[:-7])  # the writer died while writing the last point

    result = tb.import_tensorboard(settings, tmp_path / "logs")
    run = daybreak.get_run(result.imported[0].id)
    assert run.history("loss").values.tolist() == list(range(99))
    assert any("partial record" in w for w in result.warnings)


def test_folders_without_scalars_are_skipped(settings: Settings, tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "logs" / "images"))
    writer.add_image("x", np.zeros((3, 2, 2)), 0)
    writer.close()
    torch_run(tmp_path / "logs" / "scalars", points=3, hparams=False)
    result = tb.import_tensorboard(settings, tmp_path / "logs")
    assert [r.name for r in result.imported] == ["scalars"]
    assert [(s.source, s.reason) for s in result.skipped] == [
        ("images", "holds no scalars or hparams")
    ]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("train/loss", "train/loss"),
        ("Loss/train", "Loss/train"),
        ("acc%", "acc_"),
        ("λ/rate", "_/rate"),
        ("/leading//double/", "leading/double"),
        ("a/../b/./c", "a/__/b/_/c"),
        (".hidden", "_.hidden"),
        ("ends with space ", "ends with space"),
        ("", "_"),
        ("#", "_"),
    ],
)
def test_tag_names_become_allowed_metric_keys(name: str, key: str) -> None:
    assert metric_key(name) == key
    assert check_key(key) == key


def test_long_and_clashing_tags_stay_distinct() -> None:
    long = "x/" * 150 + "loss"
    key = metric_key(long)
    assert check_key(key) == key and len(key) <= 200
    assert metric_key(long + "2") != key
    renamed: dict[str, str] = {}
    keys = KeyMap(renamed)
    assert [keys("a%"), keys("a#"), keys("a_"), keys("a%")] == ["a_", "a__2", "a__3", "a_"]
    assert renamed == {"a%": "a_", "a#": "a__2", "a_": "a__3"}
    with pytest.raises(InvalidMetricError):
        check_key("a#")


def test_cli_json_summary_and_errors(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch_run(tmp_path / "logs" / "r1", points=30, hparams=False)
    with pytest.raises(SystemExit) as done:
        main(["import", "tensorboard", str(tmp_path / "logs"), "--project", "p", "--json"])
    assert done.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["points"] == 130
    assert [(r["name"], r["project"], r["points"]) for r in summary["imported"]] == [
        ("r1", "p", 130)
    ]
    assert summary["renamed"] == {"top-1 %": "top-1 _"}

    with pytest.raises(SystemExit) as done:
        main(["import", "tensorboard", str(tmp_path / "logs")])
    assert done.value.code == 0
    assert "already imported" in capsys.readouterr().out

    with pytest.raises(SystemExit) as done:
        main(["import", "tensorboard", str(tmp_path / "missing")])
    assert done.value.code == 1
    assert "no folder" in capsys.readouterr().err


def test_import_speed_is_reported(settings: Settings, tmp_path: Path) -> None:
    torch_run(tmp_path / "logs" / "fast", points=20_000, hparams=False)
    started = time.perf_counter()
    result = tb.import_tensorboard(settings, tmp_path / "logs")
    assert result.points == 20_100
    assert 0 < result.seconds <= time.perf_counter() - started


def test_a_missing_package_or_a_remote_store_is_a_clear_error(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daybreak.config import get_settings

    torch_run(tmp_path / "logs" / "a", points=3, hparams=False)
    with monkeypatch.context() as patch, pytest.raises(ConfigError) as caught:
        patch.setattr(tb, "_loaded", [])
        patch.setitem(sys.modules, "tensorboard.compat.proto.event_pb2", None)
        tb.import_tensorboard(get_settings(), tmp_path / "logs")
    assert "needs the tensorboard package" in caught.value.message
    assert caught.value.hint == "pip install tensorboard"

    monkeypatch.setenv("DAYBREAK_URL", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="DAYBREAK_URL points at a server"):
        tb.import_tensorboard(get_settings(), tmp_path / "logs")
