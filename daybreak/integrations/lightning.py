"""A Lightning logger that records a Trainer's hyperparameters, metrics and checkpoints in a
Daybreak run::

    from daybreak.integrations.lightning import DaybreakLogger

    trainer = Trainer(logger=DaybreakLogger(project="mnist", tags=["baseline"]))

Built on ``lightning.pytorch``; with only the older ``pytorch_lightning`` package installed it
subclasses that one's ``Logger`` instead. Only global rank zero talks to Daybreak.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from daybreak.integrations._common import (
    default_project,
    exception_status,
    missing_package,
    plain_config,
    store_checkpoint,
    update_config,
)

try:
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
    from lightning.pytorch.utilities.rank_zero import rank_zero_only
except ModuleNotFoundError as _missing:
    try:
        from pytorch_lightning.loggers.logger import (  # type: ignore[assignment]
            Logger,
            rank_zero_experiment,
        )
        from pytorch_lightning.utilities.rank_zero import rank_zero_only
    except ModuleNotFoundError:
        raise missing_package(_missing, "lightning") from None

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import ModelCheckpoint

    from daybreak.tracking.run import Run

__all__ = ["DaybreakLogger"]

# Lightning's finalize(status) -> Daybreak status. "finished" is what Lightning passes when
# SLURM is about to preempt and requeue the job: the run stops, to be resumed.
_STATUSES = {"success": "finished", "failed": "failed", "finished": "stopped"}


class DaybreakLogger(Logger):
    """Log a Lightning ``Trainer`` to a Daybreak run.

    The run is created on first use with ``project``, ``name``, ``tags`` and ``config`` (the
    LightningModule's saved hyperparameters are merged into the config), or pass ``run=`` to
    log into a run you started yourself (this logger then never finishes it). Extra keyword
    arguments go to ``daybreak.init`` (``resume=``, ``system_metrics=``, settings...).

    ``name`` (the Lightning property) is the project and ``version`` the run id, so
    ``ModelCheckpoint`` writes to ``<default_root_dir>/<project>/<run id>/checkpoints``. With
    ``log_checkpoints=True`` each checkpoint Lightning saves is also stored on the run, at its
    global step, as a Daybreak checkpoint called ``checkpoint_name``.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        config: Mapping[str, Any] | Namespace | None = None,
        run: Run | None = None,
        log_checkpoints: bool = False,
        checkpoint_name: str = "checkpoint",
        keep_checkpoints: int | None = None,
        prefix: str = "",
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        self._project = default_project(project) if run is None else run.project
        self._run_name = name
        self._tags = list(tags or [])
        self._config = plain_config(config)
        self._run = run
        self._owns_run = run is None
        self._attach_id: str | None = None  # set when unpickled in another process
        self._init_kwargs = init_kwargs
        self._log_checkpoints = log_checkpoints
        self._checkpoint_name = checkpoint_name
        self._keep = keep_checkpoints
        self._prefix = prefix
        self._checkpoint_steps: set[int | None] = set()

    # -- identity ----------------------------------------------------------------------
    @property
    @rank_zero_experiment
    def experiment(self) -> Run:
        """The Daybreak run; created on first use, reopened if an earlier ``fit`` ended it."""
        run = self._run
        if run is None:
            run = self._run = self._start()
        elif run.finished and self._owns_run:
            run = self._run = self._reopen(run.id)
        return run

    def _start(self) -> Run:
        import daybreak

        if self._attach_id is not None:
            return self._reopen(self._attach_id)
        return daybreak.init(
            project=self._project,
            name=self._run_name,
            config=self._config,
            tags=self._tags,
            **self._init_kwargs,
        )

    def _reopen(self, run_id: str) -> Run:
        import daybreak

        kwargs = {k: v for k, v in self._init_kwargs.items() if k != "resume"}
        return daybreak.init(resume=run_id, **kwargs)

    @property
    def run(self) -> Run | None:
        """The run if it was created (rank zero), without creating it."""
        return self._run

    @property
    def name(self) -> str:
        """The project: Lightning's "experiment name", the folder above the version."""
        return self._project

    @property
    def version(self) -> str | None:
        """The run id (creating the run); None on ranks other than zero."""
        if self._run is not None:
            return self._run.id
        if getattr(rank_zero_only, "rank", 0) > 0:
            return None
        return str(self.experiment.id)

    # -- logging ------------------------------------------------------------------------
    @rank_zero_only
    def log_hyperparams(
        self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Merge the hyperparameters (nested dicts, Namespace, OmegaConf) into the run's config."""
        values = plain_config(params)
        if self._run is None:  # not started yet: the run starts with them
            self._config = {**self._config, **values}
            _ = self.experiment
            return
        self._config.update(values)
        update_config(self.experiment, values)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Hand the metrics to the run's queue (about a microsecond; never waits on I/O)."""
        run = self._run
        if run is None or run.finished:
            run = self.experiment
        if self._prefix:
            metrics = {f"{self._prefix}/{key}": value for key, value in metrics.items()}
        run.log(metrics, step=step)

    def save(self) -> None:
        """Nothing to do: Lightning calls this after every ``log_metrics``, and the SDK's
        writer already has everything on disk within a second."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End the run: "success" → finished, "failed" → failed with the traceback (Ctrl-C →
        stopped), SLURM preemption ("finished") and anything else → stopped."""
        run = self._run
        if run is None or run.finished:
            return
        if not self._owns_run:
            run.flush()
            return
        final = _STATUSES.get(status, "stopped")
        error: str | None = None
        if final == "failed":
            final, error = exception_status() or ("failed", "Lightning reported a failure")
        elif final == "stopped":
            error = f"Lightning ended the run with status {status!r}"
            if status == "finished":
                error = "stopped by a signal (SLURM preemption); resume from its checkpoint"
        run.finish(final, error)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """With ``log_checkpoints=True``, store the file just saved at its global step. The
        ``last.ckpt`` copy saved right after a top-k file at the same step is skipped."""
        if not self._log_checkpoints:
            return
        path = getattr(checkpoint_callback, "_last_checkpoint_saved", "") or getattr(
            checkpoint_callback, "last_model_path", ""
        )
        step = getattr(checkpoint_callback, "_last_global_step_saved", None)
        if not path or not os.path.exists(path) or step in self._checkpoint_steps:
            return
        step = int(step) if step is not None else None
        if store_checkpoint(self.experiment, path, step, self._checkpoint_name, self._keep):
            self._checkpoint_steps.add(step)

    # -- processes ------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Spawned DDP workers get the run's id, not the run: rank zero there reattaches."""
        state = self.__dict__.copy()
        run = state.get("_run")
        if run is not None:
            state["_run"] = None
            state["_attach_id"] = run.id
        return state
