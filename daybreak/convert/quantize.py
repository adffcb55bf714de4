"""INT8 quantisation (static QDQ calibrated on real samples, dynamic) and fp16.

Static: U8 activations and S8 per-channel weights in QDQ format. On this CPU it gave 1.8-2.2x
over fp32 with every Conv fused, while the S8S8 default left a third of the Convs in fp32 and
ran no faster. Both first run ``quant_pre_process`` (shape inference and graph clean-up), which
ONNX Runtime recommends before quantising.

File size: a default QDQ file was 0.33-0.36x the fp32 file, not the 0.25x the int8 weights
suggest. The rest was bookkeeping: each bias stored as int32 plus a per-channel fp32 scale and an
int32 zero point (3x the fp32 bias), the shape annotations ``quant_pre_process`` adds, and long
generated tensor names on ~3x as many nodes. So biases stay fp32 (ONNX Runtime quantises them
itself when it fuses QLinearConv: same kernels, same outputs) and :func:`compact` drops the
annotations and shortens internal names; the file then is 0.27-0.29x fp32.

Dynamic INT8 suits Transformers/RNNs; on CNNs it usually runs slower than fp32, which the search
measures rather than assumes.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

from daybreak.convert.errors import ConversionError, require
from daybreak.errors import ConfigError

FP16_EXTRA = "onnxconverter-common"
# Ops ONNX Runtime runs in integer kernels, or that pass quantised tensors along unchanged.
# Normalisations (Softmax, Div, Mul, ReduceSum: a soft-argmax head) stay fp32: quantising
# them cost a pose net 12 PCK points for no speed.
STATIC_OPS = (
    "Conv", "ConvTranspose", "MatMul", "Gemm", "Add", "Concat", "Relu", "Clip",
    "MaxPool", "AveragePool", "GlobalAveragePool", "Resize",
)  # fmt: skip


def preprocess(source: Path | str, dest: Path | str) -> Path:
    """``quant_pre_process``: symbolic shape inference and ONNX optimisation before quantising."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(dest), skip_symbolic_shape=False)
    except Exception:  # symbolic shape inference fails on some graphs; plain inference will do
        quant_pre_process(str(source), str(dest), skip_symbolic_shape=True)
    return Path(dest)


def quantize_static_qdq(
    source: Path | str, dest: Path | str, calibration: Any, per_channel: bool = True
) -> Path:
    """Static INT8 QDQ (U8 activations, S8 weights), calibrated (min/max) on ``calibration``:
    real input samples, one numpy array of shape [N, ...]. Only :data:`STATIC_OPS` are
    quantised."""
    require("onnxruntime")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if calibration is None or len(calibration) == 0:
        raise ConfigError(
            "static INT8 needs calibration samples", "pass real inputs from the training data"
        )
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="daybreak-quant-") as tmp:
        pre = preprocess(source, Path(tmp) / "pre.onnx")
        raw = Path(tmp) / "int8.onnx"
        try:
            quantize_static(
                str(pre),
                str(raw),
                _Reader(pre, calibration),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                calibrate_method=CalibrationMethod.MinMax,
                op_types_to_quantize=list(STATIC_OPS),
                extra_options={"QuantizeBias": False},
            )
        except Exception as exc:
            raise ConversionError(
                f"static INT8 quantisation failed: {str(exc)[:300]}", "see the candidate report"
            ) from exc
        compact(raw, dest)
    return dest


def quantize_dynamic_int8(source: Path | str, dest: Path | str) -> Path:
    """Dynamic INT8: S8 weights, activations quantised at run time."""
    require("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="daybreak-quant-") as tmp:
        pre = preprocess(source, Path(tmp) / "pre.onnx")
        raw = Path(tmp) / "int8.onnx"
        try:
            quantize_dynamic(str(pre), str(raw), weight_type=QuantType.QInt8, per_channel=True)
        except Exception as exc:
            raise ConversionError(
                f"dynamic INT8 quantisation failed: {str(exc)[:300]}", "see the candidate report"
            ) from exc
        compact(raw, dest)
    return dest


def compact(source: Path | str, dest: Path | str) -> Path:
    """Save ``source`` without what only the quantiser needed: the ``value_info`` shape
    annotations (ONNX Runtime infers shapes again at load) and long generated names of internal
    tensors and nodes (the graph's inputs and outputs keep theirs). The graph is unchanged."""
    onnx = require("onnx")
    model = onnx.load(str(source))
    graph = model.graph
    del graph.value_info[:]
    if any(attr.g.node or attr.graphs for node in graph.node for attr in node.attribute):
        onnx.save(model, str(dest))  # subgraphs refer to outer names: keep every name
        return Path(dest)
    short = _ShortNames({v.name for v in graph.input} | {v.name for v in graph.output})
    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [short(name) for name in node.input]
        node.output[:] = [short(name) for name in node.output]
    onnx.checker.check_model(model)
    onnx.save(model, str(dest))
    return Path(dest)


class _ShortNames:
    """Maps each tensor name to a short hex one, keeping ``fixed`` names (and "", the ONNX
    marker of an omitted optional input) as they are."""

    def __init__(self, fixed: set[str]) -> None:
        self.fixed = fixed
        self.names: dict[str, str] = {}
        self.counter = 0

    def __call__(self, name: str) -> str:
        if not name or name in self.fixed:
            return name
        if name not in self.names:
            while format(self.counter, "x") in self.fixed:
                self.counter += 1
            self.names[name] = format(self.counter, "x")
            self.counter += 1
        return self.names[name]


def fp16_available() -> bool:
    return importlib.util.find_spec("onnxconverter_common") is not None


def convert_fp16(source: Path | str, dest: Path | str) -> Path:
    """fp16 weights and activations with fp32 inputs/outputs (for GPU targets)."""
    if not fp16_available():
        raise ConfigError(f"fp16 conversion needs {FP16_EXTRA}", f"pip install {FP16_EXTRA}")
    onnx = require("onnx")
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(dest))
    return Path(dest)


class _Reader:
    """Feeds calibration samples one at a time (the shape the model was exported for)."""

    def __init__(self, model: Path, samples: Any) -> None:
        import numpy as np

        onnx = require("onnx")
        self.name = onnx.load(str(model), load_external_data=False).graph.input[0].name
        self.samples = np.asarray(samples, dtype=np.float32)
        self.index = 0

    def get_next(self) -> dict[str, Any] | None:
        if self.index >= len(self.samples):
            return None
        self.index += 1
        return {self.name: self.samples[self.index - 1 : self.index]}

    def rewind(self) -> None:
        self.index = 0
