"""Which of a run's metrics is the training loss, the validation loss, the gradient norm, the
learning rate, GPU utilisation: by common names, or by what the run declares in its config
(``config["watchdog"] = {"loss": "my/objective", "val_loss": "dev/nll"}``)."""

from __future__ import annotations

import re
from typing import Any

ROLE_NAMES = {
    "loss": ("train/loss", "train_loss", "loss", "training_loss", "train/total_loss", "total_loss"),
    "val_loss": (
        "val/loss",
        "val_loss",
        "eval_loss",
        "eval/loss",
        "valid/loss",
        "validation/loss",
        "validation_loss",
        "test/loss",
    ),
    "grad_norm": ("train/grad_norm", "grad_norm", "gradient_norm", "train/gradient_norm"),
    "lr": ("lr", "learning_rate", "train/lr", "train/learning_rate", "optim/lr"),
}
HELD_OUT = re.compile(r"(^|[/_])(val|valid|validation|eval|test|dev)([/_]|$)", re.IGNORECASE)
GPU_UTIL = re.compile(r"^sys/gpu\d+/util(_percent)?$")


def find_roles(keys: list[str], config: dict[str, Any] | None = None) -> dict[str, str]:
    """Role → metric key, for the roles this run has."""
    declared = (config or {}).get("watchdog") or {}
    present = set(keys)
    lowered = {k.lower(): k for k in keys}
    roles: dict[str, str] = {}
    for role, names in ROLE_NAMES.items():
        chosen = declared.get(role) if isinstance(declared, dict) else None
        if isinstance(chosen, str) and chosen in present:
            roles[role] = chosen
            continue
        for name in names:
            if name in lowered:
                roles[role] = lowered[name]
                break
    if "loss" not in roles:  # any other training loss: ends in "loss", not held out
        candidates = [
            k
            for k in keys
            if k.lower().endswith("loss") and not HELD_OUT.search(k) and not k.startswith("sys/")
        ]
        if candidates:
            roles["loss"] = sorted(candidates, key=len)[0]
    if "val_loss" not in roles:
        held_out = [k for k in keys if k.lower().endswith("loss") and HELD_OUT.search(k)]
        if held_out:
            roles["val_loss"] = sorted(held_out, key=len)[0]
    return roles


def gpu_util_keys(keys: list[str]) -> list[str]:
    return sorted(k for k in keys if GPU_UTIL.match(k))
