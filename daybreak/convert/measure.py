"""Measurements of one export: parity, latency, size, peak memory, INT8 coverage, clipping.

Peak memory is the growth of the process's peak resident set (VmHWM) while the session is
created and run at the largest batch: on Linux the peak is reset first by writing ``5`` to
``/proc/self/clear_refs``; elsewhere it falls back to the RSS growth read by psutil after the
runs. ONNX Runtime allocates outside Python's allocator, so tracemalloc would not see it. The
figure is what loading and running the export adds to a process, approximately (memory freed
by an earlier candidate may be reused).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daybreak.convert.errors import require

QUANTISABLE = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})
QUANTISED = frozenset(
    {
        "QLinearConv",
        "QLinearMatMul",
        "QGemm",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "QLinearConvTranspose",
    }
)


@dataclasses.dataclass
class Parity:
    batch: int
    max_abs: float
    mean_abs: float


@dataclasses.dataclass
class Latency:
    batch: int
    p50_ms: float
    p90_ms: float
    runs: int


def predict_all(predict: Callable[[Any], Any], inputs: Any, batch: int) -> Any:
    """``predict`` over every row of ``inputs``, fed in batches of ``batch``, as one array."""
    import numpy as np

    return np.concatenate([predict(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])


def parity(outputs: Any, reference: Any, batch: int) -> Parity:
    """Max and mean |outputs - reference| (``outputs`` computed at batch size ``batch``)."""
    import numpy as np

    diff = np.abs(np.asarray(outputs, dtype=np.float64) - np.asarray(reference, dtype=np.float64))
    return Parity(batch, float(diff.max()), float(diff.mean()))


def latency(
    predict: Callable[[Any], Any],
    sample: Any,
    batch: int,
    runs: int = 50,
    warmup: int = 5,
    max_seconds: float = 5.0,
) -> Latency:
    """p50/p90 of ``predict`` on a batch of ``batch`` real samples (repeated if too few)."""
    import numpy as np

    data = np.ascontiguousarray(np.resize(sample, (batch, *sample.shape[1:])).astype(np.float32))
    for _ in range(warmup):
        predict(data)
    times: list[float] = []
    deadline = time.perf_counter() + max_seconds
    while len(times) < runs and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        predict(data)
        times.append((time.perf_counter() - start) * 1000)
    return Latency(
        batch, float(np.percentile(times, 50)), float(np.percentile(times, 90)), len(times)
    )


def file_size(path: Path | str) -> int:
    """Bytes of a file, or of every file under a folder (a Core ML ``.mlpackage``)."""
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def op_counts(path: Path | str) -> dict[str, int]:
    """How many nodes of each op type the graph (and its subgraphs' top level) holds."""
    onnx = require("onnx")
    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def int8_coverage(fp32_path: Path | str, optimized_int8_path: Path | str) -> tuple[int, int]:
    """(quantised ops, quantisable ops): fused integer ops in the ONNX Runtime-optimised INT8
    graph over Conv/ConvTranspose/MatMul/Gemm in the fp32 export."""
    quantisable = sum(n for op, n in op_counts(fp32_path).items() if op in QUANTISABLE)
    quantised = sum(n for op, n in op_counts(optimized_int8_path).items() if op in QUANTISED)
    return min(quantised, quantisable), quantisable


def clipping_warning(fp32_out: Any, int8_out: Any, tolerance: float = 0.05) -> str | None:
    """A warning when the INT8 outputs' range is narrower than fp32's by more than
    ``tolerance`` of it: static INT8 clips outputs to the calibration range."""
    low, high = float(fp32_out.min()), float(fp32_out.max())
    low8, high8 = float(int8_out.min()), float(int8_out.max())
    span = max(high - low, 1e-12)
    if high - high8 > tolerance * span or low8 - low > tolerance * span:
        return (
            f"INT8 output range [{low8:.3g}, {high8:.3g}] is clipped against fp32 [{low:.3g}, {high:.3g}]: "
            "scores and confidences change; calibrate on more varied samples"
        )
    return None


class PeakMemory:
    """Context manager: how much the process's peak RSS grows inside it (bytes)."""

    def __init__(self) -> None:
        self.added = 0
        self._start = 0
        self._exact = False

    def __enter__(self) -> PeakMemory:
        self._start = _rss()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._exact = True
        except OSError:
            self._exact = False
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _hwm() if self._exact else None
        self.added = max(0, (peak if peak is not None else _rss()) - self._start)


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _hwm() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
