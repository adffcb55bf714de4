"""The registry's errors: subclasses of the one tree in :mod:`daybreak.errors`."""

from __future__ import annotations

from daybreak.errors import DaybreakError


class ModelFormatError(DaybreakError):
    """A file given to the registry is not a model it can read (not ONNX, no weights)."""

    http_status = 422
