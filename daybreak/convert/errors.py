"""The conversion engine's errors (part of the one tree: they are :class:`DaybreakError`s)."""

from __future__ import annotations

from types import ModuleType

from daybreak.errors import ConfigError, DaybreakError

EXTRA_HINT = "install the ONNX extra: pip install 'daybreak[onnx]'"


class ConversionError(DaybreakError):
    """A model could not be exported, optimised, quantised or loaded."""

    http_status = 422


def require(module: str) -> ModuleType:
    """Import one of the ONNX extra's modules, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"conversion needs {module.split('.')[0]}, which is not installed", EXTRA_HINT
        ) from exc
