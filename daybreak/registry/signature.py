"""Input/output signatures: names, shapes (``"batch"`` where the size is free) and dtypes,
read by running an example through a torch module or from an ONNX graph."""

from __future__ import annotations

from typing import Any

Tensor = dict[str, Any]  # {"name": ..., "shape": [...], "dtype": ...}
Signature = dict[str, list[Tensor]]  # {"inputs": [...], "outputs": [...]}


def tensor(name: str, shape: list[int | str], dtype: str) -> Tensor:
    return {"name": name, "shape": shape, "dtype": dtype}


def torch_dtype(dtype: Any) -> str:
    """``torch.float32`` as ``float32``."""
    return str(dtype).removeprefix("torch.")


def from_torch(
    module: Any, inputs: list[Tensor], examples: list[Any], output_names: list[str], batch: int
) -> Signature:
    """Run ``examples`` (built with batch size ``batch``) through ``module``; an output size
    equal to ``batch`` in the first dimension is the free batch dimension."""
    import torch

    module.eval()
    with torch.no_grad():
        out = module(*examples)
    outs = list(out) if isinstance(out, tuple | list) else [out]
    outputs = []
    for i, value in enumerate(outs):
        shape: list[int | str] = [int(v) for v in value.shape]
        if shape and shape[0] == batch:
            shape[0] = "batch"
        name = output_names[i] if i < len(output_names) else f"output_{i}"
        outputs.append(tensor(name, shape, torch_dtype(value.dtype)))
    return {"inputs": inputs, "outputs": outputs}


def from_onnx(model: Any) -> Signature:
    """The graph's real inputs (not initializers) and outputs."""
    import onnx

    initializers = {init.name for init in model.graph.initializer}

    def describe(value: Any) -> Tensor:
        kind = value.type.tensor_type
        shape: list[int | str] = [
            int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
            for d in kind.shape.dim
        ]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name
        return tensor(value.name, shape, dtype)

    return {
        "inputs": [describe(v) for v in model.graph.input if v.name not in initializers],
        "outputs": [describe(v) for v in model.graph.output],
    }


def show(signature: Signature) -> list[str]:
    """One line per tensor: ``in  image [batch, 1, 16, 16] float32``."""
    lines = []
    for side, label in (("inputs", "in "), ("outputs", "out")):
        for t in signature.get(side, []):
            dims = ", ".join(str(d) for d in t["shape"])
            lines.append(f"{label} {t['name']} [{dims}] {t['dtype']}")
    return lines
