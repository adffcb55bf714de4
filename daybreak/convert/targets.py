"""Targets: where an export will run (formats, opset, threads, batch sizes, precisions) and the
accuracy budget its candidates must meet. Three are built in; a team adds its own as a TOML,
YAML or JSON file whose fields are those of :class:`Target` (``[budget]`` for the budget).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from daybreak.errors import ConfigError

FORMATS = ("onnx", "tflite", "coreml")
PRECISIONS = ("fp32", "fp32-optimized", "int8-static", "int8-dynamic", "fp16")
OPTIMIZATION_LEVELS = ("basic", "extended", "all")
PROVIDERS = ("CPUExecutionProvider", "CUDAExecutionProvider")


@dataclasses.dataclass(frozen=True)
class Budget:
    """What a candidate may lose and still be recommended."""

    parity_max_abs: float = 1e-4  # fp32 exports: max |onnx - torch| on real samples
    max_drop_points: float = 1.0  # task metric (top-1, PCK) points lost against fp32
    max_flipped: float = 0.02  # share of class predictions that change (classifiers)
    max_pck_drop_points: float = 0.5  # keypoint models: PCK points lost against fp32
    int8_min_speedup: float = 1.5  # an INT8 export must beat the best fp32 one by this much


@dataclasses.dataclass(frozen=True)
class Target:
    """One deployment target. ``threads`` 0 means every core of the machine measuring."""

    name: str
    formats: tuple[str, ...] = ("onnx",)
    opset: int = 17
    threads: int = 1
    batch_sizes: tuple[int, ...] = (1, 8)
    precisions: tuple[str, ...] = ("fp32", "fp32-optimized", "int8-static", "int8-dynamic")
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    # "all" adds x86 layout transforms (NCHWc) to an offline-optimised file, so a file meant
    # for phones (ARM) is optimised at "extended", which stays portable.
    optimization: str = "all"
    budget: Budget = dataclasses.field(default_factory=Budget)

    @property
    def intra_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


BUILTIN_TARGETS: dict[str, Target] = {
    "mobile-cpu": Target(
        name="mobile-cpu",
        formats=("onnx", "tflite", "coreml"),
        threads=1,
        batch_sizes=(1, 8),
        optimization="extended",
    ),
    "server-cpu": Target(name="server-cpu", threads=0, batch_sizes=(1, 8, 32)),
    "server-gpu": Target(
        name="server-gpu",
        threads=0,
        batch_sizes=(1, 8, 32),
        precisions=("fp32", "fp32-optimized", "fp16"),
        providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
        optimization="extended",
    ),
}


def load_target(name_or_path: str | Path) -> Target:
    """A built-in target by name, or a user profile from a ``.toml``/``.yaml``/``.json`` file."""
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_TARGETS:
        return BUILTIN_TARGETS[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"unknown target {str(name_or_path)!r}",
            f"use one of {', '.join(BUILTIN_TARGETS)} or the path of a profile file (.toml, .yaml, .json)",
        )
    return target_from_dict(_read_profile(path), source=str(path))


def _read_profile(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:
                raise ConfigError(
                    f"{path}: reading YAML needs PyYAML",
                    "pip install pyyaml, or write the profile as TOML",
                ) from exc
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(
                f"{path}: unknown profile format {suffix!r}", "name it .toml, .yaml or .json"
            )
    except ConfigError:
        raise
    except Exception as exc:  # each parser raises its own error type
        raise ConfigError(
            f"{path}: not a valid {suffix[1:].upper()} file: {exc}", "fix the syntax"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a target profile must be a table of fields", "see docs/convert.md"
        )
    return data


def target_from_dict(data: dict[str, Any], source: str = "profile") -> Target:
    """Validate every field of a profile; unknown or ill-typed fields are errors, not ignored."""
    fields = {f.name for f in dataclasses.fields(Target)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"{source}: unknown field(s) {', '.join(unknown)}",
            f"allowed fields: {', '.join(sorted(fields))}",
        )
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise ConfigError(f"{source}: 'name' must be a non-empty string", 'add name = "my-target"')
    values: dict[str, Any] = {"name": data["name"]}
    if "opset" in data:
        values["opset"] = _int(data["opset"], "opset", source, low=13, high=23)
    if "threads" in data:
        values["threads"] = _int(data["threads"], "threads", source, low=0, high=1024)
    if "batch_sizes" in data:
        sizes = _list(data["batch_sizes"], "batch_sizes", source)
        values["batch_sizes"] = tuple(
            _int(v, "batch_sizes", source, low=1, high=4096) for v in sizes
        )
    for key, allowed in (
        ("formats", FORMATS),
        ("precisions", PRECISIONS),
        ("providers", PROVIDERS),
    ):
        if key in data:
            values[key] = tuple(
                _choice(v, key, allowed, source) for v in _list(data[key], key, source)
            )
    if "optimization" in data:
        values["optimization"] = _choice(
            data["optimization"], "optimization", OPTIMIZATION_LEVELS, source
        )
    if "budget" in data:
        values["budget"] = _budget(data["budget"], source)
    return Target(**values)


def _budget(data: Any, source: str) -> Budget:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: 'budget' must be a table", "e.g. [budget] max_drop_points = 1.0"
        )
    fields = {f.name for f in dataclasses.fields(Budget)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"{source}: unknown budget field(s) {', '.join(unknown)}",
            f"allowed: {', '.join(sorted(fields))}",
        )
    values = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"{source}: budget.{key} must be a number ≥ 0, got {value!r}", "fix the value"
            )
        values[key] = float(value)
    return Budget(**values)


def _int(value: Any, key: str, source: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{source}: {key} must be a whole number from {low} to {high}, got {value!r}",
            "fix the value",
        )
    return value


def _list(value: Any, key: str, source: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{source}: {key} must be a non-empty list, got {value!r}", f"e.g. {key} = [...]"
        )
    return value


def _choice(value: Any, key: str, allowed: tuple[str, ...], source: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{source}: {key} has {value!r}", f"choose from {', '.join(allowed)}")
    return str(value)
