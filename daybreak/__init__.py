"""Daybreak: track, watch, review and ship a small team's deep-learning models.

The public SDK is what ``__all__`` lists; everything else is private to its domain.
Heavy modules load on first use so ``import daybreak`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daybreak.errors import DaybreakError

__version__ = "0.1.0"
__all__ = [
    "Checkpoint",
    "DaybreakError",
    "History",
    "Run",
    "RunView",
    "__version__",
    "get_run",
    "init",
]

if TYPE_CHECKING:
    from daybreak.tracking.checkpoints import Checkpoint
    from daybreak.tracking.points import History
    from daybreak.tracking.readers import RunView, get_run
    from daybreak.tracking.run import Run, init

_LAZY = {
    "init": "daybreak.tracking.run",
    "Run": "daybreak.tracking.run",
    "get_run": "daybreak.tracking.readers",
    "RunView": "daybreak.tracking.readers",
    "History": "daybreak.tracking.points",
    "Checkpoint": "daybreak.tracking.checkpoints",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'daybreak' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
