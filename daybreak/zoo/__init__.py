"""The zoo: small real PyTorch reference trainers, one per model category the team works in.

Each module generates its own data, puts it into the lake as a dataset version
(``prepare(settings) -> "zoo-pose@1"``), trains from that version with the tracking SDK,
checkpoints, and resumes a restarted run from its latest checkpoint. Each has ``CATEGORY``,
``METRIC`` (the validation metric it logs and puts in the run's summary), ``GOAL`` (``max`` or
``min`` for that metric), ``write_data`` or ``write_shapes``, ``prepare``, ``train`` and
``main``; ``python -m MODULE --help`` shows its flags. See docs/zoo.md.
"""

from __future__ import annotations

import importlib
from types import ModuleType

CATEGORIES = {
    "classification": "daybreak.zoo.classifier",
    "pose": "daybreak.zoo.pose",
    "face": "daybreak.zoo.face",
    "segmentation": "daybreak.zoo.segmentation",
    "detection": "daybreak.zoo.detection",
    "text": "daybreak.zoo.text",
}


def trainer(category: str) -> ModuleType:
    """The trainer module of ``category``, imported on first use."""
    from daybreak.errors import ConfigError

    if category not in CATEGORIES:
        raise ConfigError(
            f"the zoo has no {category!r} trainer", f"categories: {', '.join(CATEGORIES)}"
        )
    return importlib.import_module(CATEGORIES[category])


__all__ = ["CATEGORIES", "trainer"]
