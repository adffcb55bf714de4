"""Rebuilding a zoo model from its run's config and a checkpoint: the module with its weights,
its inputs and the preprocessing it expects. Reads the zoo's builders; trains nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

from daybreak.registry.errors import ModelFormatError
from daybreak.registry.signature import Signature, from_torch, tensor

# keys of a training checkpoint that are not part of the model
TRAINING_STATE = ("optimizer", "schedule", "sampler")


@dataclasses.dataclass
class Built:
    """A zoo model with its checkpoint's weights, its signature and preprocessing."""

    module: Any
    signature: Signature
    preprocessing: dict[str, Any]


def _image(size: int, channels: int, batch: int) -> tuple[list[dict[str, Any]], list[Any]]:
    import torch

    example = torch.zeros(batch, channels, size, size)
    return [tensor("image", ["batch", channels, size, size], "float32")], [example]


def _image_preprocessing(size: int, channels: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "image",
        "resize": [size, size],
        "channels": channels,
        "color": "gray" if channels == 1 else "rgb",
        "layout": "NCHW",
        "scale": 1 / 255,
        "mean": [0.0] * channels,
        "std": [1.0] * channels,
        **extra,
    }


def _names(config: dict[str, Any], state: dict[str, Any], key: str) -> list[str]:
    return [str(v) for v in (state.get(key) or config.get(key) or [])]


def build(config: dict[str, Any], state: dict[str, Any]) -> Built:
    """The zoo model named by ``config["model"]`` with ``state["model"]`` loaded."""
    name = str(config.get("model", ""))
    width = config.get("width")
    batch = 2
    if name == "shapes-cnn":
        from daybreak.zoo import classifier

        module = classifier.build_model()
        labels = _names(config, state, "classes") or list(classifier.CLASSES)
        inputs, examples = _image(16, 1, batch)
        prep = _image_preprocessing(16, 1, labels=labels)
        outputs = ["logits"]
    elif name in ("pose-integral", "face-integral"):
        from daybreak.zoo import face, keypoints, pose

        spec = pose.SPEC if name == "pose-integral" else face.SPEC
        points = _names(config, state, spec.key) or list(spec.names)
        size = int(state.get("size", spec.size))
        module = keypoints.build_model(len(points), int(width or 16), spec.channels)
        inputs, examples = _image(size, spec.channels, batch)
        extra = {"skeleton": state["skeleton"]} if "skeleton" in state else {}
        prep = _image_preprocessing(size, spec.channels, keypoints=points, **extra)
        prep["output"] = "x, y of each keypoint as fractions of the image width and height"
        outputs = ["keypoints"]
    elif name == "person-unet":
        from daybreak.zoo import segmentation

        size = int(state.get("size", segmentation.SIZE))
        module = segmentation.build_model(int(width or 8))
        inputs, examples = _image(size, 3, batch)
        labels = _names(config, state, "classes") or ["background", "person"]
        prep = _image_preprocessing(size, 3, labels=labels, output="one logit per pixel: person")
        outputs = ["mask_logits"]
    elif name == "shapes-centernet":
        from daybreak.zoo import detection

        size = int(state.get("size", detection.SIZE))
        module = detection.build_model(int(width or 12))
        inputs, examples = _image(size, 3, batch)
        labels = _names(config, state, "classes") or list(detection.CLASSES)
        stride = int(state.get("stride", detection.STRIDE))
        prep = _image_preprocessing(size, 3, labels=labels, stride=stride)
        prep["output"] = "per class a centre heatmap logit, then box offsets and sizes per cell"
        outputs = ["maps"]
    elif name == "intent-bag":
        import torch

        from daybreak.zoo import text

        vocabulary = state.get("vocabulary") or {}
        labels = _names(config, state, "classes")
        module = text.build_model(len(vocabulary), len(labels), int(width or 32))
        inputs = [tensor("ids", ["tokens"], "int64"), tensor("offsets", ["batch"], "int64")]
        examples = [torch.tensor([0, 0, 0]), torch.tensor([0, 1])]
        prep = {
            "kind": "text",
            "tokenizer": "daybreak.zoo.text.tokens",
            "vocabulary_size": len(vocabulary),
            "unknown": text.UNKNOWN,
            "labels": labels,
        }
        outputs = ["logits"]
    else:
        raise ModelFormatError(
            f"the run's model {name!r} is not a zoo model the registry can rebuild",
            "export it to ONNX and register the file with `daybreak model register-onnx`",
        )
    _load(module, state, name)
    return Built(module, from_torch(module, inputs, examples, outputs, batch), prep)


def _load(module: Any, state: dict[str, Any], name: str) -> None:
    try:
        module.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ModelFormatError(
            f"the checkpoint's weights do not fit a {name!r} model: {str(exc).splitlines()[0]}",
            "register a checkpoint of a run that trained this model",
        ) from exc
    module.eval()


def slim(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """What a registered version keeps of a training checkpoint: the weights, what the model
    needs besides them (class names, vocabulary...) and the run's config; not the optimizer."""
    kept = {k: v for k, v in state.items() if k not in TRAINING_STATE}
    return {**kept, "config": config}
