"""Native integrations with training frameworks: a Lightning logger and a Hugging Face callback.

Nothing here imports Lightning or Transformers until an integration is used, so
``import daybreak`` stays cheap; a missing framework is a ``DaybreakError`` naming the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DaybreakCallback", "DaybreakLogger"]

if TYPE_CHECKING:
    from daybreak.integrations.huggingface import DaybreakCallback
    from daybreak.integrations.lightning import DaybreakLogger

_LAZY = {
    "DaybreakLogger": "daybreak.integrations.lightning",
    "DaybreakCallback": "daybreak.integrations.huggingface",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'daybreak.integrations' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
