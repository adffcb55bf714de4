"""Turning what a training loop logs into (key, float) pairs, cheaply and without GPU syncs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from daybreak.errors import InvalidMetricError

KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/:@ ()\[\]=+,]*")
MAX_KEY = 200


class PinnedPages:
    """Pinned host memory handed out in slices, one page per dtype, so logging a GPU scalar
    costs one asynchronous copy and no allocation. A page is freed (and its memory reused by
    torch's caching host allocator) once every batch holding a slice of it was read."""

    PAGE = 4096

    def __init__(self) -> None:
        self._pages: dict[Any, tuple[Any, int]] = {}

    def take(self, dtype: Any, count: int) -> Any:
        import torch

        page, used = self._pages.get(dtype, (None, self.PAGE))
        if used + count > self.PAGE:
            page, used = torch.empty(max(self.PAGE, count), dtype=dtype, pin_memory=True), 0
        self._pages[dtype] = (page, used + count)
        return page[used : used + count]


class DeviceBatch:
    """Scalars of one ``log`` call that live on a GPU, copied to pinned host memory with one
    asynchronous copy per dtype; the writer thread waits on the event, the loop never does."""

    __slots__ = ("_values", "event", "slices", "tensors")

    def __init__(self) -> None:
        self.tensors: list[Any] = []
        self.slices: list[tuple[Any, list[int]]] = []
        self.event: Any = None
        self._values: list[float] | None = None

    def add(self, tensor: Any) -> DeferredValue:
        self.tensors.append(tensor.detach().reshape(1))
        return DeferredValue(self, len(self.tensors) - 1)

    def start_copy(self, pages: PinnedPages) -> None:
        import torch

        by_dtype: dict[Any, list[int]] = {}
        for index, tensor in enumerate(self.tensors):
            by_dtype.setdefault(tensor.dtype, []).append(index)
        for dtype, indices in by_dtype.items():
            group = [self.tensors[i] for i in indices]
            source = group[0] if len(group) == 1 else torch.cat(group)
            host = pages.take(dtype, len(group))
            host.copy_(source, non_blocking=True)
            self.slices.append((host, indices))
        self.event = torch.cuda.Event()
        self.event.record()
        self.tensors = []

    def values(self) -> list[float]:
        if self._values is None:
            self.event.synchronize()
            out = [0.0] * sum(len(indices) for _, indices in self.slices)
            for host, indices in self.slices:
                for index, value in zip(indices, host.tolist(), strict=True):
                    out[index] = float(value)
            self._values, self.slices = out, []
        return self._values


class DeferredValue:
    """A GPU scalar whose copy to host memory was started but may not have finished."""

    __slots__ = ("batch", "index")

    def __init__(self, batch: DeviceBatch, index: int) -> None:
        self.batch = batch
        self.index = index

    def resolve(self) -> float:
        return self.batch.values()[self.index]


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


def to_number(key: str, value: Any, device: DeviceBatch | None = None) -> float | DeferredValue:
    """A plain float for numbers, numpy and CPU tensors; a ``DeferredValue`` (added to
    ``device``) for CUDA tensors."""
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return float(value)
    if kind.__module__ == "torch" or kind.__name__ in {"Tensor", "Parameter"}:
        return _from_tensor(key, value, device)
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


tensor_type: type | None = (
    None  # torch.Tensor, once a tensor was logged (torch is never imported here)
)


def _from_tensor(key: str, tensor: Any, device: DeviceBatch | None) -> float | DeferredValue:
    global tensor_type
    if tensor_type is None and type(tensor).__name__ == "Tensor":
        tensor_type = type(tensor)
    if tensor.numel() != 1:
        raise InvalidMetricError(
            f"metric {key!r} got a tensor of shape {tuple(tensor.shape)}",
            "log a scalar (for example loss.detach().mean()) or one key per element",
        )
    if tensor.is_complex():
        raise _non_numeric(key, tensor)
    if tensor.device.type == "cuda" and device is not None:
        return device.add(tensor)
    return float(tensor.detach().item())


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
