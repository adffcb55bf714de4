"""DaybreakCallback in real (tiny BERT, CPU) Hugging Face Trainer runs, read back through
daybreak.get_run."""

from __future__ import annotations

from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

import daybreak  # noqa: E402
from daybreak.integrations.huggingface import (  # noqa: E402
    SUMMARY_KEYS,
    DaybreakCallback,
    metric_key,
)

SEQ = 12


class RandomTokens(torch.utils.data.Dataset):
    """Token ids and labels, no tokenizer: what a collator would hand the model."""

    def __init__(self, count: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 50, (count, SEQ), generator=gen)
        self.labels = torch.randint(0, 2, (count,), generator=gen)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(SEQ, dtype=torch.long),
            "labels": self.labels[i],
        }


class Capture(TrainerCallback):
    """A second callback: exactly what the Trainer logged and when it saved."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, dict]] = []
        self.saves: list[int] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append((state.global_step, dict(logs or {})))

    def on_save(self, args, state, control, **kwargs):
        self.saves.append(state.global_step)

    def points(self, key: str) -> list[tuple[int, float]]:
        """(step, value) of one Daybreak key; a step logged twice keeps the later value."""
        by_step: dict[int, float] = {}
        for step, logs in self.logs:
            for name, value in logs.items():
                if metric_key(name) == key and isinstance(value, int | float):
                    by_step[step] = float(value)
        return sorted(by_step.items())


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=SEQ,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def arguments(tmp_path: Path, **kwargs) -> TrainingArguments:
    values = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8,
        "learning_rate": 1e-3,
        "logging_steps": 5,
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "save_strategy": "no",
        "seed": 0,
    }
    return TrainingArguments(**{**values, **kwargs})


def history_points(view: daybreak.RunView, key: str) -> list[tuple[int, float]]:
    history = view.history(key)
    return sorted(zip(history.steps.tolist(), history.values.tolist(), strict=True))


def test_training_logs_config_metrics_checkpoints_and_finishes(home, tmp_path):
    callback = DaybreakCallback(
        project="hf", tags=["ci"], log_checkpoints=True, system_metrics=False
    )
    capture = Capture()
    args = arguments(
        tmp_path,
        max_steps=30,
        run_name="tiny-bert",
        eval_strategy="steps",
        eval_steps=10,
        save_strategy="steps",
        save_steps=15,
    )
    trainer = Trainer(
        model=tiny_bert(),
        args=args,
        train_dataset=RandomTokens(64, 1),
        eval_dataset=RandomTokens(16, 2),
        callbacks=[callback, capture],
    )
    trainer.train()

    view = daybreak.get_run(callback.run.id)
    assert view.status == "finished" and view.record.project == "hf"
    assert view.name == "tiny-bert" and view.tags == ["ci"]
    assert view.config["learning_rate"] == 1e-3 and view.config["max_steps"] == 30
    assert view.config["per_device_train_batch_size"] == 4
    assert view.config["model"]["hidden_size"] == 32
    assert view.config["model"]["num_hidden_layers"] == 1

    keys = set(view.metric_keys())
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "eval/loss"} <= keys
    assert not keys & {metric_key(k) for k in SUMMARY_KEYS}  # end-of-training values: summary
    for key in keys:
        assert history_points(view, key) == capture.points(key), key
    assert [s for s, _ in history_points(view, "train/loss")] == [5, 10, 15, 20, 25, 30]
    assert [s for s, _ in history_points(view, "eval/loss")] == [10, 20, 30]
    assert [s for s, _ in history_points(view, "train/epoch")] == [5, 10, 15, 20, 25, 30]

    final = capture.logs[-1][1]
    assert view.summary["train_runtime"] == final["train_runtime"]
    assert view.summary["train_loss"] == final["train_loss"]
    assert view.summary["global_step"] == 30
    assert view.summary["model/num_parameters"] == trainer.model.num_parameters()

    assert capture.saves == [15, 30]
    assert sorted(c["step"] for c in view.checkpoints()) == capture.saves
    assert all(c["meta"].get("archive") == "zip" for c in view.checkpoints())

    # an evaluate() after train() goes to the same run, which ends again at once
    metrics = trainer.evaluate()
    view = daybreak.get_run(callback.run.id)
    assert view.status == "finished" and view.record.attempts == 2
    assert history_points(view, "eval/loss")[-1] == (30, metrics["eval_loss"])


class FailingTrainer(Trainer):
    def training_step(self, model, inputs, *args, **kwargs):
        if self.state.global_step == 3:
            raise RuntimeError("boom at step 3")
        return super().training_step(model, inputs, *args, **kwargs)


def test_failing_training_marks_the_run_failed(home, tmp_path):
    callback = DaybreakCallback(system_metrics=False)
    trainer = FailingTrainer(
        model=tiny_bert(),
        args=arguments(tmp_path, max_steps=10, logging_steps=1),
        train_dataset=RandomTokens(64, 1),
        callbacks=[callback],
    )
    with pytest.raises(RuntimeError, match="boom at step 3"):
        trainer.train()
    view = daybreak.get_run(callback.run.id)
    assert view.status == "failed" and "RuntimeError: boom at step 3" in view.error
    assert view.record.project == "huggingface"  # TrainingArguments.project's default
    assert view.history("train/loss").steps.tolist() == [1, 2, 3]


def test_only_the_main_process_logs(home, tmp_path):
    callback = DaybreakCallback(project="hf")
    state = transformers.TrainerState(is_world_process_zero=False)
    args = arguments(tmp_path)
    callback.on_train_begin(args, state, None, model=None)
    callback.on_log(args, state, None, logs={"loss": 1.0})
    callback.on_train_end(args, state, None)
    assert callback.run is None
