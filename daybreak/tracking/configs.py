"""Turning whatever a script calls its config into plain JSON, or saying which part cannot be."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import pathlib
from collections.abc import Mapping
from typing import Any

from daybreak.errors import ConfigError


def to_config(config: Any, what: str = "config") -> dict[str, Any]:
    """Accepts dicts, dataclasses, argparse namespaces, pydantic models and OmegaConf configs."""
    if config is None:
        return {}
    plain = _to_plain(config, what)
    if not isinstance(plain, dict):
        raise ConfigError(
            f"the {what} must be a mapping, got {type(config).__name__}",
            "pass a dict, a dataclass, an argparse.Namespace or a pydantic model",
        )
    return plain


def _to_plain(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool):
                raise _unserialisable(f"{path}[{key!r}]", key, "keys must be strings or numbers")
            out[str(key)] = _to_plain(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_to_plain(item, f"{path}[{i}]") for i, item in enumerate(items)]
    return _to_plain(_unwrap(value, path), path)


def _unwrap(value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        return value.item()
    if hasattr(value, "tolist") and getattr(value, "size", 10**9) <= 10_000:
        return value.tolist()
    if hasattr(value, "__dict__") and type(value).__name__ == "Namespace":
        return vars(value)
    raise _unserialisable(path, value, "use numbers, strings, lists and dicts")


def _unserialisable(path: str, value: Any, hint: str) -> ConfigError:
    shown = repr(value)
    shown = shown if len(shown) < 60 else shown[:57] + "..."
    return ConfigError(f"{path} cannot be saved: {shown} is a {type(value).__name__}", hint)
