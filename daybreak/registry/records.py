"""What the registry hands out: models, versions, aliases, alias moves, exports."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Model:
    id: int
    name: str
    category: str
    description: str
    owner: str
    created_at: float
    latest: int | None
    aliases: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ModelVersion:
    id: int
    model: str
    category: str
    version: int
    source: str  # run | onnx
    run_id: str | None
    checkpoint_step: int | None
    uri: str
    sha256: str
    size: int
    lineage: dict[str, Any]
    signature: dict[str, Any]
    preprocessing: dict[str, Any]
    card: str
    created_at: float
    created_by: str
    aliases: list[str]

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class Alias:
    model: str
    alias: str
    version: int
    note: str
    updated_by: str
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AliasMove:
    model: str
    alias: str
    old_version: int | None
    new_version: int | None
    note: str
    by: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Export:
    id: int
    ref: str
    target: str
    format: str
    precision: str
    uri: str | None
    size: int | None
    report: dict[str, Any]
    status: str
    recommended: bool
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
