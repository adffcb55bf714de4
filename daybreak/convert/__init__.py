"""Conversion and optimisation: a measured search over candidate exports of one model for one
target (ONNX fp32, ONNX Runtime graph optimisation, INT8 static and dynamic, fp16), each
validated (parity, task accuracy) and measured (latency, size, memory), with a recommendation.

The entry point is :func:`daybreak.convert.search.convert`; heavy libraries (torch, onnx,
onnxruntime) are imported inside the functions that need them.
"""

from __future__ import annotations

from daybreak.convert.errors import ConversionError
from daybreak.convert.targets import BUILTIN_TARGETS, Budget, Target, load_target

__all__ = ["BUILTIN_TARGETS", "Budget", "ConversionError", "Target", "load_target"]
