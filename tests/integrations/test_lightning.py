"""DaybreakLogger in real (tiny, CPU) Lightning trainings, read back through daybreak.get_run."""

from __future__ import annotations

import pickle
import signal
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

L = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from lightning.pytorch.utilities.rank_zero import rank_zero_only  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import daybreak  # noqa: E402
from daybreak.integrations.lightning import DaybreakLogger  # noqa: E402

STEPS_PER_EPOCH = 16  # 64 samples, batches of 4


class Recorder(L.loggers.Logger):
    """A second logger in the same Trainer: exactly what Lightning handed its loggers."""

    name = "recorder"
    version = "0"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[dict, int | None]] = []

    def log_metrics(self, metrics, step=None):
        self.calls.append((dict(metrics), step))

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def points(self) -> dict[str, list[tuple[int, float]]]:
        """Per key, (step, value) by step; a step logged twice keeps its later value, as a
        Daybreak history does ("epoch" comes with every call, train and val alike)."""
        out: dict[str, dict[int, float]] = {}
        for metrics, step in self.calls:
            for key, value in metrics.items():
                out.setdefault(key, {})[step] = float(value)
        return {key: sorted(by_step.items()) for key, by_step in out.items()}


class TinyMLP(L.LightningModule):
    def __init__(self, lr=0.05, hidden=16, optim=None, fail_at=None, interrupt_at=None):
        super().__init__()
        self.save_hyperparameters()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        if self.global_step == self.hparams.fail_at:
            raise RuntimeError(f"boom at step {self.global_step}")
        if self.global_step == self.hparams.interrupt_at:
            raise KeyboardInterrupt
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loaders() -> tuple[DataLoader, DataLoader]:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(80, 8, generator=gen), torch.randn(80, 1, generator=gen)
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=4)
    val = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=8)
    return train, val


def trainer(tmp_path: Path, loggers: list, **kwargs) -> L.Trainer:
    kwargs.setdefault("max_epochs", 2)
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=loggers,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def history_points(view: daybreak.RunView, key: str) -> list[tuple[int, float]]:
    history = view.history(key)
    return sorted(zip(history.steps.tolist(), history.values.tolist(), strict=True))


def test_fit_logs_config_metrics_checkpoints_and_finishes(home, tmp_path):
    logger = DaybreakLogger(
        project="lit",
        name="tiny-mlp",
        tags=["ci"],
        config={"dataset": "random"},
        log_checkpoints=True,
        system_metrics=False,
    )
    recorder = Recorder()
    train, val = loaders()
    model = TinyMLP(optim={"name": "sgd", "schedule": {"warmup": 0}})
    checkpoints = ModelCheckpoint(monitor="val_loss", save_top_k=-1, save_last=True)
    fit = trainer(tmp_path, [logger, recorder], log_every_n_steps=5, callbacks=[checkpoints])
    fit.fit(model, train, val)

    view = daybreak.get_run(logger.version)
    assert view.status == "finished" and view.record.project == "lit"
    assert view.name == "tiny-mlp" and view.tags == ["ci"]
    assert view.config["dataset"] == "random"
    assert view.config["lr"] == 0.05 and view.config["hidden"] == 16
    assert view.config["optim"] == {"name": "sgd", "schedule": {"warmup": 0}}

    expected = recorder.points()
    assert set(expected) == {"train_loss_step", "train_loss_epoch", "val_loss", "epoch"}
    assert set(view.metric_keys()) == set(expected)
    for key, pairs in expected.items():
        assert history_points(view, key) == pairs, key
    steps = [s for s, _ in expected["train_loss_step"]]
    assert steps == [4, 9, 14, 19, 24, 29]  # every 5th optimizer step
    assert [s for s, _ in expected["val_loss"]] == [STEPS_PER_EPOCH - 1, 2 * STEPS_PER_EPOCH - 1]
    assert [s for s, _ in expected["train_loss_epoch"]] == [15, 31]

    # Lightning's files live under <root>/<project>/<run id>; each saved step is recorded once
    folder = tmp_path / "lit" / view.id / "checkpoints"
    assert (folder / "last.ckpt").is_file()
    recorded = sorted(c["step"] for c in view.checkpoints())
    assert recorded == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]

    # a validate() after fit() reopens the run, logs, and finishes it again
    fit.validate(model, val, verbose=False)
    view = daybreak.get_run(logger.version)
    assert view.status == "finished" and view.record.attempts == 2
    assert history_points(view, "val_loss") == recorder.points()["val_loss"]


def test_failing_training_step_marks_the_run_failed(home, tmp_path):
    logger = DaybreakLogger(project="lit", system_metrics=False)
    recorder = Recorder()
    train, val = loaders()
    with pytest.raises(RuntimeError, match="boom at step 3"):
        trainer(tmp_path, [logger, recorder], log_every_n_steps=1).fit(
            TinyMLP(fail_at=3), train, val
        )
    view = daybreak.get_run(logger.version)
    assert view.status == "failed"
    assert "RuntimeError: boom at step 3" in view.error
    assert history_points(view, "train_loss_step") == recorder.points()["train_loss_step"]
    assert [s for s, _ in recorder.points()["train_loss_step"]] == [0, 1, 2]


def test_ctrl_c_marks_the_run_stopped(home, tmp_path):
    logger = DaybreakLogger(project="lit", system_metrics=False)
    train, val = loaders()
    previous = signal.getsignal(signal.SIGINT)
    try:  # Lightning turns Ctrl-C into a graceful shutdown and exit(1), ignoring SIGINT
        with pytest.raises(SystemExit):
            trainer(tmp_path, [logger], log_every_n_steps=1).fit(
                TinyMLP(interrupt_at=2), train, val
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    view = daybreak.get_run(logger.version)
    assert view.status == "stopped" and "interrupted" in view.error


def activation(x):
    return x


def test_wrapped_run_gets_hyperparameters_and_is_left_to_its_owner(home):
    run = daybreak.init(project="mine", config={"a": 1}, system_metrics=False)
    logger = DaybreakLogger(run=run)
    assert logger.name == "mine" and logger.version == run.id and logger.experiment is run
    logger.log_hyperparams(Namespace(lr=0.1, nested=Namespace(x=1), fn=activation))
    logger.log_metrics({"m": 1.5}, step=3)
    logger.finalize("success")
    assert daybreak.get_run(run.id).status == "running"
    run.finish()

    view = daybreak.get_run(run.id)
    assert view.config == {
        "a": 1,
        "lr": 0.1,
        "nested": {"x": 1},
        "fn": f"{__name__}.activation",
    }
    np.testing.assert_array_equal(view.history("m").steps, [3])


def test_other_ranks_log_nothing(home, monkeypatch):
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = DaybreakLogger(project="lit")
    logger.log_hyperparams({"lr": 0.1})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    assert logger.version is None and logger.run is None
    assert not isinstance(logger.experiment, daybreak.Run)


def test_pickled_logger_reattaches_by_id(home):
    logger = DaybreakLogger(project="lit", system_metrics=False)
    run_id = logger.version
    restored = pickle.loads(pickle.dumps(logger))
    assert restored.run is None and restored._attach_id == run_id
    logger.experiment.finish()


def test_older_pytorch_lightning_namespace(home, tmp_path):
    pl = pytest.importorskip("pytorch_lightning")

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(8, 1)

        def training_step(self, batch, batch_idx):
            loss = nn.functional.mse_loss(self.net(batch[0]), batch[1])
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    logger = DaybreakLogger(project="pl", system_metrics=False)
    train, _ = loaders()
    pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=4,
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    ).fit(Module(), train)
    view = daybreak.get_run(logger.version)
    assert view.status == "finished"
    np.testing.assert_array_equal(view.history("loss").steps, [0, 1, 2, 3])
