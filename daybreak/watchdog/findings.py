"""What the watchdog says about a run: findings, each with the step it could first be known."""

from __future__ import annotations

import dataclasses
from typing import Any

KINDS = (
    "nan",
    "divergence",
    "loss_spike",
    "no_learning",
    "overfitting",
    "stalled",
    "crashed",
    "throughput_drop",
    "gpu_idle",
    "oom",
    "known_error",
)
SEVERITIES = ("info", "warning", "critical")


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str  # one of KINDS
    severity: str  # "info" | "warning" | "critical"
    step: int | None  # the step at which it could first be known (None: not tied to a step)
    message: str  # what happened, in one sentence
    suggestion: str  # what to do about it
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)  # numbers behind it

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
