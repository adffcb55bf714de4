"""Turning what a training loop logs into (key, float) pairs, cheaply and without GPU syncs."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from daybreak.errors import InvalidMetricError

KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/:@ ()\[\]=+,]*")
MAX_KEY = 200


class DeferredValue:
    """A CUDA scalar whose copy to host memory was started but may not have finished."""

    __slots__ = ("event", "host")

    def __init__(self, host: Any, event: Any) -> None:
        self.host = host
        self.event = event

    def resolve(self) -> float:
        self.event.synchronize()
        return float(self.host.item())


def key_filename(key: str) -> str:
    """The file that holds a key's points: the key, percent-encoded."""
    import urllib.parse

    return urllib.parse.quote(key, safe="") + ".points"


def check_key(key: object) -> str:
    """Return ``key`` if it can name a metric, else raise with what to change."""
    if not isinstance(key, str):
        raise InvalidMetricError(
            f"metric key {key!r} is a {type(key).__name__}, not a string",
            "use keys like 'train/loss'",
        )
    problem = None
    if not key or len(key) > MAX_KEY:
        problem = f"must be 1 to {MAX_KEY} characters"
    elif not KEY_PATTERN.fullmatch(key):
        problem = (
            "may use letters, digits, spaces and _ . - / : @ ( ) [ ] = + ,"
            " and must start with a letter, digit or _"
        )
    elif "//" in key or key.endswith(("/", " ")) or "/../" in f"/{key}/" or "/./" in f"/{key}/":
        problem = "must not have empty, '.' or '..' path segments or end in '/' or a space"
    elif len(key_filename(key)) > 250:
        problem = "is too long once made a file name: use fewer '/' or a shorter key"
    if problem:
        raise InvalidMetricError(f"metric key {key!r} {problem}", "rename the metric")
    return key


def to_number(key: str, value: Any) -> float | DeferredValue:
    """A plain float for numbers, numpy and CPU tensors; a ``DeferredValue`` for CUDA tensors."""
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return float(value)
    if kind.__module__ == "torch" or kind.__name__ in {"Tensor", "Parameter"}:
        return _from_tensor(key, value)
    if isinstance(value, str | bytes) or value is None:
        raise _non_numeric(key, value)
    size = getattr(value, "size", 1)
    if isinstance(size, int) and size != 1:
        raise InvalidMetricError(
            f"metric {key!r} got an array of {size} elements",
            "log a scalar (for example x.mean()) or one key per element",
        )
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError) as exc:
        raise _non_numeric(key, value) from exc


def _from_tensor(key: str, tensor: Any) -> float | DeferredValue:
    if tensor.numel() != 1:
        raise InvalidMetricError(
            f"metric {key!r} got a tensor of shape {tuple(tensor.shape)}",
            "log a scalar (for example loss.detach().mean()) or one key per element",
        )
    if tensor.is_complex():
        raise _non_numeric(key, tensor)
    if tensor.device.type == "cpu":
        return float(tensor.detach().item())
    import torch

    host = tensor.detach().reshape(()).to("cpu", non_blocking=True)
    if tensor.device.type == "cuda":
        event = torch.cuda.Event()
        event.record()
        return DeferredValue(host, event)
    return float(host.item())


def _non_numeric(key: str, value: Any) -> InvalidMetricError:
    shown = repr(value)
    shown = shown if len(shown) < 60 else shown[:57] + "..."
    return InvalidMetricError(
        f"metric {key!r} has a non-numeric value {shown} ({type(value).__name__})",
        "log numbers, numpy scalars or one-element tensors; put text in run.summary or a note",
    )


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"loss": 1}}`` becomes ``{"train/loss": 1}``."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}/"))
        else:
            out[name] = value
    return out


def is_finite(value: float) -> bool:
    return math.isfinite(value)
