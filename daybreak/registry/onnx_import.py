"""Models made elsewhere: an ONNX file checked with ``onnx.checker``, loaded by ONNX Runtime,
its signature read from the graph and its preprocessing given by the user."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from daybreak.errors import ConfigError, NotFoundError
from daybreak.registry.errors import ModelFormatError
from daybreak.registry.signature import Signature, from_onnx


@dataclasses.dataclass
class Inspected:
    signature: Signature
    preprocessing: dict[str, Any]
    lineage: dict[str, Any]


def inspect(
    path: Path,
    labels: list[str] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> Inspected:
    """Check ``path`` is a valid ONNX model ONNX Runtime can load; read what it takes."""
    if not path.is_file():
        raise NotFoundError(f"no file {str(path)!r}", "give the path of an .onnx file")
    model = _load(path)
    _check_runtime(path)
    signature = from_onnx(model)
    if not signature["inputs"]:
        raise ModelFormatError(f"{path.name} has no inputs", "export the model with its inputs")
    preprocessing = _preprocessing(signature, labels, mean, std)
    opsets = {op.domain or "ai.onnx": int(op.version) for op in model.opset_import}
    lineage = {
        "source": "onnx",
        "file": path.name,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": int(model.ir_version),
        "opsets": opsets,
    }
    return Inspected(signature, preprocessing, lineage)


def _load(path: Path) -> Any:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        raise ModelFormatError(
            f"{path.name} is not a valid ONNX model: {str(exc).splitlines()[0][:200]}",
            "give a .onnx file (for example from torch.onnx.export or tf2onnx)",
        ) from exc
    return model


def _check_runtime(path: Path) -> None:
    import onnxruntime

    try:
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelFormatError(
            f"ONNX Runtime cannot load {path.name}: {str(exc).splitlines()[0][:200]}",
            "check the file's opset and operators are supported by onnxruntime",
        ) from exc


def _preprocessing(
    signature: Signature,
    labels: list[str] | None,
    mean: list[float] | None,
    std: list[float] | None,
) -> dict[str, Any]:
    first = signature["inputs"][0]
    shape = first["shape"]
    out: dict[str, Any] = {"kind": "tensor"}
    if len(shape) == 4 and all(isinstance(d, int) for d in shape[1:]):
        channels, height, width = shape[1:]
        out = {"kind": "image", "resize": [height, width], "channels": channels, "layout": "NCHW"}
        if mean is not None or std is not None:
            count = channels
            mean = mean if mean is not None else [0.0] * count
            std = std if std is not None else [1.0] * count
            for name, values in (("--mean", mean), ("--std", std)):
                if len(values) not in (1, count):
                    raise ConfigError(
                        f"{name} has {len(values)} values for {count} channels",
                        f"give one value or {count}, comma-separated",
                    )
            out.update(mean=mean, std=std)
    elif mean is not None or std is not None:
        out.update(mean=mean or [0.0], std=std or [1.0])
    if labels:
        last = signature["outputs"][0]["shape"][-1] if signature["outputs"] else None
        if isinstance(last, int) and last != len(labels):
            raise ConfigError(
                f"{len(labels)} labels given, but the model's first output has {last} values",
                "give one label per output value, comma-separated",
            )
        out["labels"] = labels
    return out
