"""What the framework integrations share: plain configs, config updates on a live run,
checkpoint files, and the error for a framework that is not installed."""

from __future__ import annotations

import argparse
import numbers
import os
import shutil
import sys
import tempfile
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daybreak.errors import ConfigError, DaybreakError

if TYPE_CHECKING:
    from daybreak.tracking.run import Run

REGISTER_WAIT = 10.0  # seconds a config update waits for the run's registration


def missing_package(exc: ModuleNotFoundError, integration: str) -> DaybreakError:
    """The error for ``daybreak.integrations.<integration>`` when its framework (or something
    the framework needs, such as torch) is missing."""
    package = (exc.name or integration).split(".")[0]
    return DaybreakError(
        f"daybreak.integrations.{integration} needs the {package!r} package, which is not "
        "installed",
        f"pip install {package}",
    )


def default_project(project: str | None) -> str:
    """An explicit project, else ``DAYBREAK_PROJECT`` (set inside Daybreak jobs), else default."""
    return project or os.environ.get("DAYBREAK_PROJECT") or "default"


def plain_config(params: Any) -> dict[str, Any]:
    """Hyperparameters (dict, Namespace, dataclass, OmegaConf, pydantic) as a nested JSON dict.

    Unlike ``daybreak.init`` this never refuses a config: a value that cannot be stored
    (a class, a function, a module) is kept as its name or ``str``."""
    if params is None:
        return {}
    if isinstance(params, argparse.Namespace):
        params = vars(params)
    value = _plain(params)
    if not isinstance(value, dict):
        raise ConfigError(
            f"hyperparameters must be a mapping, got {type(params).__name__}",
            "pass a dict or an argparse.Namespace",
        )
    return value


def _plain(value: Any) -> Any:
    from daybreak.tracking.configs import to_config

    try:
        return to_config({"v": value})["v"]
    except ConfigError:
        pass
    if isinstance(value, argparse.Namespace):
        value = vars(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, type) or callable(value):
        module = getattr(value, "__module__", None)
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        if name:
            return f"{module}.{name}" if module else str(name)
    return str(value)


def update_config(run: Run, values: Mapping[str, Any]) -> None:
    """Merge ``values`` (top-level keys) into the config of a run that already started.

    A run not yet registered picks the new config up when it registers; a registered run is
    updated where it lives (the local store, or the server in remote mode)."""
    if not values:
        return
    merged = {**run.config, **values}
    run.record.config = merged  # a new dict, never mutated: the indexer may be reading the old
    registered = run._writer.registered.wait(REGISTER_WAIT)
    if not registered:
        return  # still registering: it reads run.record, which now has the merged config
    try:
        from daybreak.tracking import readers

        readers.backend(run.settings).update_run(run.id, config=merged)
    except DaybreakError as exc:
        warn(f"daybreak: config of run {run.id} not updated: {exc}; training goes on")


def warn(message: str) -> None:
    from daybreak.tracking.run import DaybreakWarning

    warnings.warn(message, DaybreakWarning, stacklevel=3)


def is_number(value: Any) -> bool:
    """True for what a framework logs as a scalar: numbers, numpy scalars, one-element tensors."""
    if isinstance(value, numbers.Real):
        return True
    size = getattr(value, "size", None)
    if callable(size):  # torch: size() is a method, numel() the count
        numel = getattr(value, "numel", None)
        return callable(numel) and numel() == 1
    return size == 1 and hasattr(value, "item")


def store_checkpoint(
    run: Run, path: str | os.PathLike[str], step: int | None, name: str, keep: int | None
) -> bool:
    """Record a framework's checkpoint file or folder on the run (a folder is zipped).

    Returns False, with a warning, when it could not be stored: training goes on."""
    source = Path(path)
    try:
        if source.is_dir() and run.settings.remote:  # the server takes files only
            with tempfile.TemporaryDirectory() as tmp:
                archive = shutil.make_archive(str(Path(tmp) / source.name), "zip", source)
                run.save_checkpoint(archive, step=step, name=name, keep=keep)
        else:
            run.save_checkpoint(source, step=step, name=name, keep=keep)
    except (DaybreakError, OSError) as exc:
        warn(f"daybreak: checkpoint {source} not recorded on run {run.id}: {exc}")
        return False
    return True


def exception_status() -> tuple[str, str | None] | None:
    """``(status, error)`` for the exception being handled right now, or None outside one."""
    kind, exc, tb = sys.exc_info()
    if kind is None:
        return None
    return status_for(kind, exc, tb)


def status_for(kind: type[BaseException], exc: BaseException | None, tb: Any) -> tuple[str, str]:
    if issubclass(kind, KeyboardInterrupt):
        return "stopped", "interrupted (Ctrl-C)"
    return "failed", "".join(traceback.format_exception(kind, exc, tb))
