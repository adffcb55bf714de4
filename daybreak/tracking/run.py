"""The write side of the SDK: ``daybreak.init()`` returns a ``Run`` that the loop logs to."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from daybreak.config import Settings, get_settings
from daybreak.errors import DaybreakError, InvalidMetricError
from daybreak.tracking import hooks
from daybreak.tracking import values as values_module
from daybreak.tracking.checkpoints import Checkpoint
from daybreak.tracking.configs import to_config
from daybreak.tracking.records import FAILED, FINISHED, RUNNING, STOPPED, RunRecord
from daybreak.tracking.values import (
    DeferredValue,
    DeviceBatch,
    PinnedPages,
    check_key,
    flatten,
    to_number,
)
from daybreak.tracking.writer import Writer

_now = time.time


class DaybreakWarning(UserWarning):
    """Something was not logged; training goes on."""


def new_run_id() -> str:
    return secrets.token_hex(6)


class Run:
    """One tracked execution. Create it with ``daybreak.init()``."""

    def __init__(
        self,
        record: RunRecord,
        settings: Settings,
        resumed: bool = False,
        next_step: int = 0,
        strict: bool = False,
        system_metrics: bool = True,
        capture_output: bool = True,
    ) -> None:
        self.record = record
        self.settings = settings
        self.strict = strict
        self.summary: dict[str, Any] = dict(record.summary)
        self._step = next_step
        self._known: set[str] = set()
        self._valid_keys: set[str] = set()
        self._pinned: PinnedPages | None = None
        self._warned: set[str] = set()
        self._pid = os.getpid()
        self._ended = False
        self._sink = _make_sink(settings, record.id)
        self._writer = Writer(self._sink, settings, record, resumed)
        self._queue = self._writer.entries
        self._writer.start()
        self._sampler = None
        if system_metrics and settings.system_metrics_interval > 0:
            from daybreak.tracking.system import SystemSampler

            self._sampler = SystemSampler(
                self._queue, settings.system_metrics_interval, settings.home
            )
            self._sampler.start()
        self._capture = (
            hooks.capture_output(self._writer.output)
            if capture_output and settings.capture_output
            else None
        )
        hooks.register(self)

    # -- identity --------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def project(self) -> str:
        return self.record.project

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    @property
    def tags(self) -> list[str]:
        return self.record.tags

    @property
    def step(self) -> int:
        """The step the next ``log`` without ``step=`` will use."""
        return self._step

    @property
    def dir(self) -> Path:
        return self.settings.runs_dir / self.record.id

    def __repr__(self) -> str:
        return f"<daybreak.Run {self.id} {self.project}/{self.name}>"

    # -- logging -----------------------------------------------------------------------
    def log(
        self, metrics: Mapping[str, Any], step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Record scalars at ``step`` (default: one past the last step). Never blocks."""
        ts = _now() if timestamp is None else _timestamp(timestamp)
        if step is None:
            step = self._step
        elif type(step) is not int:
            step = _as_step(step)
        if step >= self._step:
            self._step = step + 1
        known = self._known
        values = None
        for key, value in metrics.items():
            kind = type(value)
            if (kind is float or kind is int) and key in known:
                continue
            if kind is values_module.tensor_type and key in known and not value.is_cuda:
                try:  # read now: the loop may change the tensor in place later
                    number = value.item()
                except (RuntimeError, ValueError):
                    number = None
                if type(number) is float or type(number) is int:
                    if values is None:
                        values = dict(metrics)
                    values[key] = number
                    continue
            self._log_slow(metrics, step, ts)
            return
        self._queue.append((step, ts, values if values is not None else dict(metrics), False))

    def _log_slow(self, metrics: Mapping[str, Any], step: int, ts: float) -> None:
        if self._ended:
            raise DaybreakError(f"run {self.id} has finished", "start a new run or resume this one")
        values: dict[str, Any] = {}
        device = DeviceBatch()
        flat = flatten(metrics) if any(isinstance(v, dict) for v in metrics.values()) else metrics
        valid = self._valid_keys
        for key, value in flat.items():
            try:
                if key not in valid:
                    valid.add(check_key(key))
                number = to_number(key, value, device)
            except InvalidMetricError as exc:
                if self.strict:
                    raise
                self._warn_once(key, exc)
                continue
            values[key] = number
            if type(number) is not DeferredValue:
                self._known.add(key)
        deferred = bool(device.tensors)
        if deferred:
            if self._pinned is None:
                self._pinned = PinnedPages()
            device.start_copy(self._pinned)
        if values:
            self._queue.append((step, ts, values, deferred))

    def _warn_once(self, key: str, exc: InvalidMetricError) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"daybreak: not logged: {exc}", DaybreakWarning, stacklevel=4)

    # -- files ---------------------------------------------------------------------------
    def log_artifact(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Copy a file or folder into the blob store and attach it to the run."""
        source = Path(path)
        self._wait_registered()
        return self._sink.put_artifact(source, name or source.name, "artifact", None, meta or {})

    def save_checkpoint(
        self,
        state_or_path: Any,
        step: int | None = None,
        name: str = "checkpoint",
        keep: int | None = None,
    ) -> Checkpoint:
        """Store a checkpoint (a file path, or any object ``torch.save`` accepts) at ``step``."""
        from daybreak.tracking import checkpoints

        step = self._step - 1 if step is None else _as_step(step)
        self._wait_registered()
        if isinstance(state_or_path, str | os.PathLike):
            saved = self._sink.put_artifact(Path(state_or_path), name, "checkpoint", step, {})
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = checkpoints.serialise(state_or_path, Path(tmp))
                saved = self._sink.put_artifact(
                    path, name, "checkpoint", step, {"format": path.suffix[1:]}
                )
        if keep:
            checkpoints.prune(self.settings, self.id, name, keep)
        return Checkpoint.from_row(saved, self.settings)

    def latest_checkpoint(self, name: str = "checkpoint") -> Checkpoint | None:
        """The checkpoint with the highest step, for resuming."""
        from daybreak.tracking import checkpoints

        self._wait_registered()
        return checkpoints.latest(self.settings, self.id, name)

    def note(self, text: str, author: str = "") -> None:
        """Attach a development note to the run (shown in the run page and the Daily Log)."""
        from daybreak.tracking import readers

        self._wait_registered()
        readers.backend(self.settings).add_note(text, run_id=self.id, author=author)

    # -- lifecycle -------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything logged so far is written and indexed."""
        return self._writer.flush(timeout)

    def finish(
        self, status: str = FINISHED, error: str | None = None, timeout: float = 60.0
    ) -> None:
        """End the run; everything logged is written before this returns."""
        if self._ended or os.getpid() != self._pid:
            return
        self._ended = True
        self._known.clear()  # every later log takes the checked path, which refuses it
        hooks.unregister(self)
        if self._capture is not None:
            self._capture.close()
        if self._sampler is not None:
            self._sampler.stop()
        self.record.status = status
        if not self._writer.stop(status, _now(), error, _jsonable_summary(self.summary), timeout):
            print(
                f"daybreak: run {self.id} is still writing after {timeout:.0f}s; giving up",
                file=sys.__stderr__,
            )

    @property
    def finished(self) -> bool:
        return self._ended

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.finish(FINISHED)
        elif issubclass(kind, KeyboardInterrupt):
            self.finish(STOPPED, "interrupted (Ctrl-C)")
        else:
            self.finish(FAILED, "".join(traceback.format_exception(kind, exc, tb)))

    def _wait_registered(self, timeout: float = 60.0) -> None:
        if not self._writer.registered.wait(timeout):
            raise DaybreakError(
                f"run {self.id} could not be registered within {timeout:.0f}s",
                "check the database or server named by DAYBREAK_DB / DAYBREAK_URL",
            )


def _make_sink(settings: Settings, run_id: str) -> Any:
    if settings.remote:
        from daybreak.tracking.remote import RemoteSink

        return RemoteSink(settings, run_id)
    from daybreak.tracking.sink import LocalSink

    return LocalSink(settings, run_id)


def _as_step(step: Any) -> int:
    try:
        value = int(step)
    except (TypeError, ValueError) as exc:
        raise InvalidMetricError(
            f"step {step!r} is not an integer", "pass step=i with an int"
        ) from exc
    if value != step or value < 0:
        raise InvalidMetricError(
            f"step {step!r} must be a whole number ≥ 0", "pass step=i with an int"
        )
    return value


def _timestamp(value: Any) -> float:
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidMetricError(
            f"timestamp {value!r} is not a number", "pass unix seconds or a datetime"
        ) from exc


def _jsonable_summary(summary: dict[str, Any]) -> dict[str, Any]:
    try:
        return to_config(summary, what="summary")
    except DaybreakError as exc:
        print(f"daybreak: summary not saved: {exc}", file=sys.__stderr__)
        return {}


def init(
    project: str = "default",
    name: str | None = None,
    config: Any = None,
    tags: list[str] | tuple[str, ...] | None = None,
    resume: str | None = None,
    strict: bool = False,
    system_metrics: bool = True,
    capture_output: bool = True,
    **settings_overrides: Any,
) -> Run:
    """Start (or with ``resume=RUN_ID`` continue) a tracked run. Returns at once; the run is
    registered in the background so the loop starts without waiting on the database."""
    settings = get_settings(**settings_overrides)
    job_run = os.environ.get("DAYBREAK_RUN_ID") if resume is None else None
    if job_run:  # inside a queued job: its run, continued by every attempt
        from daybreak.jobs.runtime import job_config

        project = os.environ.get("DAYBREAK_PROJECT") or project
        name = os.environ.get("DAYBREAK_RUN_NAME") or name
        extra = [t for t in os.environ.get("DAYBREAK_JOB_TAGS", "").split(",") if t]
        tags = [*(tags or []), *(t for t in extra if t not in (tags or []))]
        config = {**job_config(), **to_config(config)}
        if _run_exists(job_run, settings):
            return _resume(job_run, settings, strict, system_metrics, capture_output)
    if resume:
        return _resume(resume, settings, strict, system_metrics, capture_output)
    _check_project(project)
    now = _now()
    from daybreak.tracking import environment

    record = RunRecord(
        id=job_run or new_run_id(),
        project=project,
        name=name or time.strftime("run-%Y%m%d-%H%M%S", time.localtime(now)),
        status=RUNNING,
        config=to_config(config),
        tags=[str(t) for t in (tags or [])],
        pid=os.getpid(),
        command=environment.command_line(),
        started_at=now,
        last_heartbeat=now,
    )
    if not settings.remote:
        from daybreak.store.urls import check_url

        check_url(settings.db_url)
    return Run(
        record,
        settings,
        strict=strict,
        system_metrics=system_metrics,
        capture_output=capture_output,
    )


def _run_exists(run_id: str, settings: Settings) -> bool:
    from daybreak.errors import NotFoundError
    from daybreak.tracking import readers

    try:
        readers.backend(settings).get_run(run_id)
    except NotFoundError:
        return False
    return True


def _check_project(project: str) -> None:
    if not isinstance(project, str) or not project.strip() or len(project) > 200 or "/" in project:
        raise DaybreakError(
            f"project name {project!r} is not allowed", "use a short name without '/'"
        )


def _resume(
    run_id: str, settings: Settings, strict: bool, system_metrics: bool, capture_output: bool
) -> Run:
    from daybreak.tracking import environment, readers

    backend = readers.backend(settings)
    record, next_step = backend.resume(run_id, os.getpid(), environment.host())
    return Run(
        record,
        settings,
        resumed=True,
        next_step=next_step,
        strict=strict,
        system_metrics=system_metrics,
        capture_output=capture_output,
    )


def flush_active(run_id: str, timeout: float = 30.0) -> None:
    """Make a run logged from this process readable: registered, and its points written."""
    for run in hooks.active_runs():
        if isinstance(run, Run) and run.id.startswith(run_id):
            run._writer.registered.wait(timeout)
            run.flush(timeout)
