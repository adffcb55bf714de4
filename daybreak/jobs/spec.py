"""What a job is: an entry point plus config, datasets, resources and a retry budget.

A spec comes from the CLI, from a YAML file or from Python, and is checked whole before
anything is queued: an unknown key, a missing entry point, resources that do not parse or a
dataset that does not exist is refused with a message naming it. A sweep expands one spec into
one spec per point of the grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shlex
from pathlib import Path
from typing import Any

from daybreak.errors import ConfigError

MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
MEMORY_UNITS = {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024**2}
SPEC_KEYS = {
    "entry",
    "args",
    "config",
    "datasets",
    "gpus",
    "cpus",
    "memory",
    "priority",
    "retries",
    "timeout",
    "project",
    "name",
    "tags",
    "sweep",
    "env",
    "executor",
    "code",
}


class SpecError(ConfigError):
    """A job spec that cannot be queued."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """``python FILE ARGS``, ``python -m MODULE ARGS`` or a command line."""

    kind: str  # "file" | "module" | "command"
    target: str
    args: tuple[str, ...] = ()

    def argv(self, python: str) -> list[str]:
        if self.kind == "file":
            return [python, self.target, *self.args]
        if self.kind == "module":
            return [python, "-m", self.target, *self.args]
        return [*shlex.split(self.target), *self.args]

    def describe(self) -> str:
        return shlex.join(self.argv("python"))


@dataclasses.dataclass(frozen=True)
class Resources:
    gpus: int = 0
    cpus: float = 1.0
    memory_mb: int | None = None


@dataclasses.dataclass(frozen=True)
class JobSpec:
    entry: Entry
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    datasets: tuple[str, ...] = ()
    resources: Resources = Resources()
    priority: int = 0
    retries: int = 2
    timeout: float | None = None  # seconds
    project: str = "default"
    name: str | None = None
    tags: tuple[str, ...] = ()
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    executor: str = "local"
    code: str = "snapshot"  # "snapshot" (freeze the working tree), "commit" or "none"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        entry = Entry(**{**data["entry"], "args": tuple(data["entry"].get("args", ()))})
        return cls(
            **{
                **data,
                "entry": entry,
                "resources": Resources(**data.get("resources", {})),
                "datasets": tuple(data.get("datasets", ())),
                "tags": tuple(data.get("tags", ())),
            }
        )


def parse_entry(target: str, args: list[str] | tuple[str, ...] = (), module: bool = False) -> Entry:
    """``train.py`` (a file that must exist), ``-m pkg.mod`` / ``module=True``, or a command."""
    target = target.strip()
    if not target:
        raise SpecError("the job has no entry point", "give a script, -m MODULE or a command")
    if module or target.startswith("-m "):
        name = target.removeprefix("-m ").strip()
        if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
            raise SpecError(f"{name!r} is not a Python module name", "e.g. -m daybreak.zoo.pose")
        return Entry("module", name, tuple(args))
    first = shlex.split(target)[0]
    if first.endswith(".py") and " " not in target:
        if not Path(first).is_file():
            raise SpecError(
                f"the entry point {first} does not exist", "check the path to the script"
            )
        return Entry("file", first, tuple(args))
    return Entry("command", target, tuple(args))


def parse_memory(value: Any) -> int | None:
    """``16G``, ``512Mi``, ``2048`` (MiB) → MiB."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    match = MEMORY.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise SpecError(f"memory {value!r} does not parse", "write it like 16G, 512M or 2048 (MiB)")
    return max(1, int(float(match.group(1)) * MEMORY_UNITS[match.group(2).lower()]))


def parse_resources(gpus: Any = 0, cpus: Any = 1, memory: Any = None) -> Resources:
    try:
        gpu_count = int(gpus or 0)
        cpu_count = float(cpus if cpus is not None else 1)
    except (TypeError, ValueError) as exc:
        raise SpecError(
            f"resources do not parse (gpus={gpus!r}, cpus={cpus!r})",
            "gpus is a whole number, cpus a number",
        ) from exc
    if (
        gpu_count < 0
        or cpu_count <= 0
        or str(gpus).strip() not in (str(gpu_count), "None", "0", "")
    ):
        raise SpecError(
            f"resources do not parse (gpus={gpus!r}, cpus={cpus!r})",
            "gpus is a whole number ≥ 0, cpus a number > 0",
        )
    return Resources(gpu_count, cpu_count, parse_memory(memory))


def parse_duration(value: Any) -> float | None:
    """``90``, ``90s``, ``30m``, ``12h`` → seconds."""
    if value is None or value == "":
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
    if not match or float(match.group(1)) <= 0:
        raise SpecError(f"timeout {value!r} does not parse", "write it like 90s, 30m or 12h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def parse_value(text: str) -> Any:
    """A sweep or config value as YAML reads it: ``1e-3`` is a float, ``true`` a bool."""
    import yaml

    value = yaml.safe_load(text)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", value):
        return float(value)  # YAML 1.1 reads 1e-3 as a string
    return value


def parse_sweep(items: list[str]) -> dict[str, list[Any]]:
    """``["lr=1e-3,3e-4", "batch=32,64"]`` → ``{"lr": [0.001, 0.0003], "batch": [32, 64]}``."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise SpecError(f"sweep {item!r} does not parse", "write it like --sweep lr=1e-3,3e-4")
        out[key.strip()] = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
    return out


def expand(spec: JobSpec, sweep: dict[str, list[Any]]) -> list[JobSpec]:
    """One spec per point of the grid; the point is merged into the config and the name."""
    if not sweep:
        return [spec]
    keys = list(sweep)
    out = []
    for point in itertools.product(*(sweep[k] for k in keys)):
        values = dict(zip(keys, point, strict=True))
        config = _set_dotted(spec.config, values)
        suffix = ",".join(f"{k}={v}" for k, v in values.items())
        out.append(dataclasses.replace(spec, config=config, name=f"{spec.name or 'job'}[{suffix}]"))
    return out


def _set_dotted(config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``optim.lr=…`` sets ``config["optim"]["lr"]``."""
    import copy

    out = copy.deepcopy(config)
    for key, value in values.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SpecError(
                    f"sweep key {key!r} goes through {part!r}, which is not a mapping", ""
                )
        node[last] = value
    return out


def load_config(source: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    """A config mapping, or a YAML/JSON file holding one."""
    if source is None:
        return {}
    if isinstance(source, dict):
        return dict(source)
    path = Path(source)
    if not path.is_file():
        raise SpecError(f"config file {path} does not exist", "check the path")
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"{path} is not valid YAML/JSON: {exc}", "fix the file") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path} must hold a mapping of config values", "e.g. lr: 0.001")
    return data


def from_yaml(path: Path) -> tuple[JobSpec, dict[str, list[Any]]]:
    """A spec file: ``entry``, ``args``, ``config``, ``datasets``, ``gpus``, ``cpus``,
    ``memory``, ``priority``, ``retries``, ``timeout``, ``project``, ``name``, ``tags``,
    ``sweep``, ``env``, ``executor``, ``code``. Paths are relative to the file."""
    data = load_config(path)
    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise SpecError(
            f"{path}: unknown key(s) {', '.join(unknown)}",
            f"a job spec has: {', '.join(sorted(SPEC_KEYS))}",
        )
    if "entry" not in data:
        raise SpecError(f"{path}: no entry point", "add entry: train.py (or -m package.module)")
    base = path.parent
    entry_text = str(data["entry"])
    if entry_text.endswith(".py") and not Path(entry_text).is_absolute():
        entry_text = str(base / entry_text)
    config = data.get("config")
    if isinstance(config, str):
        config = load_config(base / config)
    sweep = data.get("sweep") or {}
    if not isinstance(sweep, dict) or not all(isinstance(v, list) for v in sweep.values()):
        raise SpecError(
            f"{path}: sweep must map keys to lists", "e.g. sweep: {lr: [0.001, 0.0003]}"
        )
    spec = build(
        entry=entry_text,
        args=[str(a) for a in data.get("args", [])],
        config=config,
        datasets=data.get("datasets", []),
        gpus=data.get("gpus", 0),
        cpus=data.get("cpus", 1),
        memory=data.get("memory"),
        priority=data.get("priority", 0),
        retries=data.get("retries", 2),
        timeout=data.get("timeout"),
        project=data.get("project", "default"),
        name=data.get("name"),
        tags=data.get("tags", []),
        env=data.get("env", {}),
        executor=data.get("executor", "local"),
        code=data.get("code", "snapshot"),
    )
    return spec, sweep


def build(
    entry: str,
    args: list[str] | tuple[str, ...] = (),
    config: str | Path | dict[str, Any] | None = None,
    datasets: list[str] | tuple[str, ...] = (),
    gpus: Any = 0,
    cpus: Any = 1,
    memory: Any = None,
    priority: Any = 0,
    retries: Any = 2,
    timeout: Any = None,
    project: str = "default",
    name: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    env: dict[str, Any] | None = None,
    executor: str = "local",
    code: str = "snapshot",
    module: bool = False,
) -> JobSpec:
    """A checked spec from plain values (what the CLI and ``daybreak.jobs.submit`` pass)."""
    parsed = parse_entry(entry, args, module)
    try:
        priority_value, retries_value = int(priority), int(retries)
    except (TypeError, ValueError) as exc:
        raise SpecError(
            f"priority {priority!r} / retries {retries!r} must be whole numbers", ""
        ) from exc
    if retries_value < 0:
        raise SpecError(f"retries must be ≥ 0, not {retries_value}", "")
    if code not in ("snapshot", "commit", "none"):
        raise SpecError(f"code {code!r} is not one of snapshot, commit, none", "")
    return JobSpec(
        entry=parsed,
        config=load_config(config),
        datasets=tuple(str(d) for d in datasets),
        resources=parse_resources(gpus, cpus, memory),
        priority=priority_value,
        retries=retries_value,
        timeout=parse_duration(timeout),
        project=project,
        name=name or Path(parsed.target).stem or parsed.target,
        tags=tuple(str(t) for t in tags),
        env={str(k): str(v) for k, v in (env or {}).items()},
        executor=executor,
        code=code,
    )
