"""A Hugging Face ``Trainer`` callback that records a training in a Daybreak run::

    from daybreak.integrations.huggingface import DaybreakCallback

    args = TrainingArguments(..., report_to="none")
    trainer = Trainer(model, args, ..., callbacks=[DaybreakCallback(project="nlp")])

Only the world's main process (``state.is_world_process_zero``) talks to Daybreak.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from daybreak.integrations._common import (
    is_number,
    missing_package,
    plain_config,
    status_for,
    store_checkpoint,
    update_config,
)

try:
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
except ModuleNotFoundError as _missing:
    raise missing_package(_missing, "huggingface") from None

if TYPE_CHECKING:
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from daybreak.tracking.run import Run

__all__ = ["DaybreakCallback"]

# What the Trainer logs once, at the end of train(): kept in the run's summary, not as curves.
SUMMARY_KEYS = frozenset(
    {
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "train_loss",
        "total_flos",
    }
)


def metric_key(key: str) -> str:
    """Hugging Face's grouping: ``eval_loss`` → ``eval/loss``, ``test_x`` → ``test/x``,
    everything else (loss, learning_rate, grad_norm, epoch) → ``train/...``."""
    for prefix in ("eval", "test"):
        if key.startswith(prefix + "_"):
            return f"{prefix}/{key[len(prefix) + 1 :]}"
    return f"train/{key}"


class DaybreakCallback(TrainerCallback):
    """Log a Hugging Face ``Trainer`` to a Daybreak run.

    ``on_train_begin`` starts the run: project from the argument, ``DAYBREAK_PROJECT``,
    ``TrainingArguments.project`` or "huggingface"; name from the argument or
    ``args.run_name``; config = ``TrainingArguments.to_dict()`` with the model's config under
    ``model`` (plus ``config=``). ``on_log`` logs the numeric values at ``state.global_step``;
    ``on_train_end`` finishes the run. Pass ``run=`` to log into a run you started (it is
    then never finished here). Extra keyword arguments go to ``daybreak.init``.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
        run: Run | None = None,
        log_checkpoints: bool = False,
        checkpoint_name: str = "checkpoint",
        keep_checkpoints: int | None = None,
        **init_kwargs: Any,
    ) -> None:
        self._project = project
        self._name = name
        self._tags = list(tags or [])
        self._config = plain_config(config)
        self._run = run
        self._owns_run = run is None
        self._init_kwargs = init_kwargs
        self._log_checkpoints = log_checkpoints
        self._checkpoint_name = checkpoint_name
        self._keep = keep_checkpoints
        self._training = False
        self._epoch_step = -1  # the step "epoch" was last logged at (train and eval both send it)

    @property
    def run(self) -> Run | None:
        """The run, once the main process started it."""
        return self._run

    # -- the Trainer's events ----------------------------------------------------------------
    def on_init_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        trainer = _calling_trainer()
        if trainer is not None:
            self._guard(trainer)

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        self._training = True
        self._epoch_step = -1
        run = self._run
        config = {**self._hf_config(args, model), **self._config}
        if run is None or (run.finished and self._owns_run):
            self._run = self._start(args, config)
        else:  # your run, or one an evaluate() before train() started
            update_config(run, config)
        self._record_size(model)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        run, reopened = self._run_for_log(args, model)
        step = state.global_step
        metrics: dict[str, Any] = {}
        for key, value in logs.items():
            if key in SUMMARY_KEYS:
                run.summary[key] = value
            elif is_number(value):
                metrics[metric_key(key)] = value
        if "train/epoch" in metrics:
            if self._epoch_step == step:
                del metrics["train/epoch"]
            self._epoch_step = step
        if metrics:
            run.log(metrics, step=step)
        if reopened:  # a log after training (trainer.evaluate()): the run ends again at once
            run.finish()

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not (self._log_checkpoints and state.is_world_process_zero and self._run):
            return
        folder = os.path.join(args.output_dir or "", f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        if os.path.exists(folder) and not self._run.finished:
            store_checkpoint(
                self._run, folder, state.global_step, self._checkpoint_name, self._keep
            )

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        self._training = False
        run = self._run
        if run is None or run.finished:
            return
        run.summary["global_step"] = state.global_step
        if state.best_metric is not None:
            run.summary["best_metric"] = state.best_metric
            run.summary["best_model_checkpoint"] = state.best_model_checkpoint
        if self._owns_run:
            run.finish("finished")
        else:
            run.flush()

    # -- helpers -----------------------------------------------------------------------------
    def _start(self, args: TrainingArguments, config: dict[str, Any]) -> Run:
        import daybreak

        project = (
            self._project
            or os.environ.get("DAYBREAK_PROJECT")
            or getattr(args, "project", None)
            or "huggingface"
        )
        return daybreak.init(
            project=project,
            name=self._name or args.run_name or None,
            config=config,
            tags=self._tags,
            **self._init_kwargs,
        )

    def _run_for_log(self, args: TrainingArguments, model: Any) -> tuple[Run, bool]:
        """The run to log to, and whether it was reopened for this one log."""
        run = self._run
        if run is None:  # evaluate() before any train(): start the run now
            run = self._run = self._start(args, {**self._hf_config(args, model), **self._config})
            return run, False
        if run.finished and self._owns_run:
            import daybreak

            kwargs = {k: v for k, v in self._init_kwargs.items() if k != "resume"}
            run = self._run = daybreak.init(resume=run.id, **kwargs)
            return run, not self._training
        return run, False

    @staticmethod
    def _hf_config(args: TrainingArguments, model: Any) -> dict[str, Any]:
        config = plain_config(args.to_dict())
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            config["model"] = plain_config(model_config.to_dict())
        return config

    def _record_size(self, model: Any) -> None:
        count = getattr(model, "num_parameters", None)
        if self._run is not None and callable(count):
            # a model's own accounting must not stop the training
            with contextlib.suppress(Exception):
                self._run.summary["model/num_parameters"] = int(count())

    def _guard(self, trainer: Any) -> None:
        """Wrap this trainer's ``train`` so an exception ends the run as failed (Ctrl-C:
        stopped) even when the caller catches it: the Trainer has no event for it."""
        if "train" in vars(trainer):
            return  # wrapped already (or replaced by someone else: leave it)
        original = trainer.train

        @functools.wraps(original)
        def train(*args: Any, **kwargs: Any) -> Any:
            try:
                return original(*args, **kwargs)
            except BaseException:
                self._on_exception()
                raise

        trainer.train = train

    def _on_exception(self) -> None:
        self._training = False
        run = self._run
        if run is None or run.finished or not self._owns_run:
            return
        kind, exc, tb = sys.exc_info()
        if kind is not None:
            run.finish(*status_for(kind, exc, tb))


def _calling_trainer(depth: int = 8) -> Any:
    """The ``transformers.Trainer`` whose ``__init__`` is calling us (via its callback
    handler), found by walking a few frames up; None if there is none."""
    from transformers import Trainer

    frame = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return None
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Trainer):
            return candidate
        frame = frame.f_back  # type: ignore[assignment]
    return None
