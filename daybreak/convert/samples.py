"""Real samples for converting a registered version: calibration inputs from the train split of
the dataset version it was trained on, validation inputs and the task metric from its val
split, preprocessed as the version's preprocessing says."""

from __future__ import annotations

import dataclasses
from typing import Any

from daybreak.config import Settings
from daybreak.convert.errors import ConversionError
from daybreak.convert.tasks import Task, classification, keypoints, mean_iou
from daybreak.registry.records import ModelVersion

CALIBRATION_LIMIT = 128
VALIDATION_LIMIT = 512
LABEL_KIND = {"pose": "keypoints", "face": "keypoints", "segmentation": "mask", "detection": "box"}


@dataclasses.dataclass
class Samples:
    calibration: Any  # numpy [N, ...] inputs
    validation: Any
    task: Task | None
    dataset: str | None
    notes: list[str]


def dataset_of(version: ModelVersion) -> str | None:
    """The dataset version the model was trained on (the first its run read)."""
    found = version.lineage.get("datasets") or []
    return str(found[0]["ref"]) if found and found[0].get("ref") else None


def for_version(settings: Settings, version: ModelVersion, dataset: str | None) -> Samples:
    """Samples from ``dataset`` (else the version's own dataset version); without any, random
    inputs of the signature's shape, so parity can still be measured but accuracy cannot."""
    prep = version.preprocessing or {}
    ref = dataset or dataset_of(version)
    if prep.get("kind") == "text" or len(version.signature.get("inputs", [])) != 1:
        raise ConversionError(
            f"{version.ref} takes {len(version.signature.get('inputs', []))} inputs "
            f"({prep.get('kind', 'unknown')} model): conversion handles one image-like input",
            "export such a model to ONNX yourself and register it with "
            "`daybreak model register-onnx`",
        )
    if ref is None or prep.get("kind") != "image":
        return _random(version, "no dataset version" if ref is None else "no image preprocessing")
    from daybreak.zoo import common

    size = tuple(int(v) for v in prep["resize"])
    channels = int(prep.get("channels", 3))
    kind = LABEL_KIND.get(version.category)
    train = common.load_split(ref, "train", kind, (size[0], size[1]), channels, settings)
    val = common.load_split(ref, "val", kind, (size[0], size[1]), channels, settings)
    train_x = _normalise(train.images[:CALIBRATION_LIMIT].numpy(), prep)
    val_x = _normalise(val.images[:VALIDATION_LIMIT].numpy(), prep)
    task, notes = _task(version, _first(val, VALIDATION_LIMIT))
    return Samples(train_x, val_x, task, ref, notes)


def _normalise(images: Any, prep: dict[str, Any]) -> Any:
    """``images`` are 0-1 floats (pixels x 1/255); apply the rest of the preprocessing."""
    import numpy as np

    scaled = images * (float(prep.get("scale", 1 / 255)) * 255.0)
    mean = np.asarray(prep.get("mean") or [0.0], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(prep.get("std") or [1.0], dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(((scaled - mean) / std).astype(np.float32))


def _first(split: Any, limit: int) -> Any:
    return dataclasses.replace(
        split,
        sha256=split.sha256[:limit],
        images=split.images[:limit],
        labels=split.labels[:limit],
        targets=split.targets[:limit],
        sizes=split.sizes[:limit],
    )


def _task(version: ModelVersion, val: Any) -> tuple[Task | None, list[str]]:
    """The metric the category is judged by, on the val split's labels."""
    import numpy as np

    prep = version.preprocessing
    if version.category == "classification":
        return classification(np.asarray(val.targets)), []
    if version.category in ("pose", "face") and prep.get("keypoints"):
        from daybreak.zoo import keypoints as zoo_keypoints

        return keypoints(zoo_keypoints.targets(val, prep["keypoints"]).numpy()), []
    if version.category == "segmentation":
        from daybreak.zoo import segmentation

        return mean_iou(segmentation.mask_targets(val).numpy()), []
    if version.category == "detection":
        from daybreak.convert.tasks import detection_map

        return detection_map(val), []
    return None, [
        f"no task metric for category {version.category!r}: reduced-precision exports "
        "cannot be judged, only fp32 parity"
    ]


def _random(version: ModelVersion, why: str) -> Samples:
    import numpy as np

    spec = version.signature["inputs"][0]
    shape = [64 if not isinstance(d, int) or d <= 0 else d for d in spec["shape"]]
    shape[0] = 64
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal(shape).astype(np.float32)
    note = (
        f"{why}: parity measured on random inputs, INT8 calibrated on them and no accuracy "
        "judged (reduced precision is never recommended); pass --dataset NAME@V to use real data"
    )
    return Samples(inputs, inputs, None, None, [note])
