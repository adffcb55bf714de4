"""Lightning's MLFlowLogger and Hugging Face's MLflowCallback, unchanged, log into Daybreak."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import daybreak

L = pytest.importorskip("lightning.pytorch")
pytest.importorskip("transformers")

from tests.integrations.test_huggingface import Capture, RandomTokens, arguments, tiny_bert  # noqa: E402
from tests.integrations.test_lightning import Recorder, TinyMLP, loaders, trainer  # noqa: E402


def _points(view: daybreak.RunView, key: str) -> list[tuple[int, float]]:
    history = view.history(key)
    return list(zip(history.steps.tolist(), history.values.tolist(), strict=True))


def test_lightning_mlflow_logger(mlflow_uri: str, tmp_path: Path) -> None:
    from lightning.pytorch.loggers import MLFlowLogger

    logger = MLFlowLogger(experiment_name="lit-mlflow", tracking_uri=mlflow_uri, run_name="mlp")
    recorder = Recorder()
    train, val = loaders()
    trainer(tmp_path, [logger, recorder], log_every_n_steps=4).fit(TinyMLP(lr=0.03), train, val)

    view = daybreak.get_run(logger.run_id)
    assert view.project == "lit-mlflow" and view.name == "mlp"
    assert view.record.status == "finished"
    assert view.config["lr"] == "0.03" and view.config["hidden"] == "16"
    for key in ("train_loss_step", "val_loss", "train_loss_epoch"):
        expected = recorder.points()[key]
        assert [s for s, _ in _points(view, key)] == [s for s, _ in expected]
        assert [v for _, v in _points(view, key)] == pytest.approx([v for _, v in expected])


def test_huggingface_mlflow_callback(
    mlflow_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Trainer
    from transformers.integrations import MLflowCallback

    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "hf-mlflow")
    monkeypatch.setenv("HF_MLFLOW_LOG_ARTIFACTS", "0")
    capture = Capture()
    args = arguments(
        tmp_path, max_steps=20, run_name="bert-tiny", eval_strategy="steps", eval_steps=10
    )
    hf = Trainer(
        model=tiny_bert(),
        args=args,
        train_dataset=RandomTokens(64, 0),
        eval_dataset=RandomTokens(16, 1),
        callbacks=[MLflowCallback(), capture],
    )
    hf.train()

    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("hf-mlflow").experiment_id])
    view = daybreak.get_run(run.info.run_id)
    assert view.name == "bert-tiny"
    assert view.config["learning_rate"] == "0.001" and view.config["max_steps"] == "20"
    logged = [(step, logs["loss"]) for step, logs in capture.logs if "loss" in logs]
    assert [s for s, _ in _points(view, "loss")] == [s for s, _ in logged] == [5, 10, 15, 20]
    assert [v for _, v in _points(view, "loss")] == pytest.approx([v for _, v in logged])
    evals = [step for step, logs in capture.logs if "eval_loss" in logs]
    assert [s for s, _ in _points(view, "eval_loss")] == evals == [10, 20]
