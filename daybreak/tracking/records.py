"""Plain records passed between the SDK, the service layer, the API and export files."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


RUNNING, FINISHED, FAILED, STOPPED, CRASHED = "running", "finished", "failed", "stopped", "crashed"
STATUSES = (RUNNING, FINISHED, FAILED, STOPPED, CRASHED)
ENDED = (FINISHED, FAILED, STOPPED, CRASHED)


@dataclasses.dataclass
class RunRecord:
    """Everything the metadata store keeps about one run."""

    id: str
    project: str
    name: str
    status: str = RUNNING
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    tags: list[str] = dataclasses.field(default_factory=list)
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    git: dict[str, Any] = dataclasses.field(default_factory=dict)
    host: str = ""
    pid: int | None = None
    command: str = ""
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    attempts: int = 1
    started_at: float = 0.0
    ended_at: float | None = None
    last_heartbeat: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclasses.dataclass
class KeyStats:
    """The index entry of one metric key: what the list pages show without reading points."""

    count: int = 0
    nonfinite: int = 0
    last: float | None = None
    last_step: int | None = None
    min: float | None = None
    max: float | None = None
    first_ts: float | None = None
    last_ts: float | None = None

    @classmethod
    def of(cls, records: np.ndarray) -> KeyStats:
        import numpy as np

        values = records["value"]
        finite = values[np.isfinite(values)]
        return cls(
            count=len(values),
            nonfinite=len(values) - len(finite),
            last=float(values[-1]),
            last_step=int(records["step"][-1]),
            min=float(finite.min()) if len(finite) else None,
            max=float(finite.max()) if len(finite) else None,
            first_ts=float(records["ts"][0]),
            last_ts=float(records["ts"][-1]),
        )

    def merge(self, newer: KeyStats) -> KeyStats:
        """Stats of this batch followed by ``newer``."""
        return KeyStats(
            count=self.count + newer.count,
            nonfinite=self.nonfinite + newer.nonfinite,
            last=newer.last,
            last_step=newer.last_step,
            min=_pick(min, self.min, newer.min),
            max=_pick(max, self.max, newer.max),
            first_ts=self.first_ts if self.first_ts is not None else newer.first_ts,
            last_ts=newer.last_ts,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _pick(fn: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(fn(a, b))


def nan_if_none(value: float | None, count: int) -> float | None:
    """SQLite stores NaN as NULL: a key with points but no stored last value ended in NaN."""
    return math.nan if value is None and count else value
