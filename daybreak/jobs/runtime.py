"""What a running job sees: its config, id and datasets (set by the agent in the environment)."""

from __future__ import annotations

import json
import os
from typing import Any


def job_id() -> str | None:
    """The id of the job this process runs as, or None outside a job."""
    return os.environ.get("DAYBREAK_JOB_ID") or None


def job_config() -> dict[str, Any]:
    """The job's config (its spec's config with the sweep point merged in); {} outside a job."""
    inline = os.environ.get("DAYBREAK_JOB_CONFIG_JSON")  # jobs on Ray get it inline
    path = os.environ.get("DAYBREAK_JOB_CONFIG")
    if inline:
        data = json.loads(inline)
    elif path:
        with open(path) as handle:
            data = json.load(handle)
    else:
        return {}
    return data if isinstance(data, dict) else {}


def job_datasets() -> list[str]:
    """The dataset versions the job was submitted with (``--dataset``)."""
    return [d for d in os.environ.get("DAYBREAK_DATASETS", "").split(",") if d]


def remedy() -> dict[str, float]:
    """What the watchdog changed when it restarted this job (``lr_scale``: multiply the
    configured learning rate by it; ``clip_grad``: clip the gradient norm to it); {} when it
    did not. The values are absolute (not relative to the checkpoint), so applying them after
    every restore is safe."""
    raw = os.environ.get("DAYBREAK_REMEDY")
    if not raw:
        return {}
    data = json.loads(raw)
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}
