"""ONNX Runtime sessions and ONNX files: loading with clear errors, running on numpy arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daybreak.convert.errors import ConversionError, require

LEVELS = {
    "disabled": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def check_onnx(path: Path | str) -> Any:
    """Load and check an ONNX file (``onnx.checker`` with full shape checks); returns the model."""
    onnx = require("onnx")
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"no ONNX file at {path}", "give the path of a .onnx file")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # protobuf, checker and shape-inference errors have no common base
        raise ConversionError(
            f"{path} is not a valid ONNX model: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}",
            "re-export the model, or check that the file was copied whole",
        ) from exc
    return model


def session(
    path: Path | str,
    threads: int = 1,
    providers: tuple[str, ...] = ("CPUExecutionProvider",),
    level: str = "all",
    optimized_path: Path | str | None = None,
) -> Any:
    """An inference session at ``threads`` intra-op threads with spinning off (so sessions that
    share cores do not burn them waiting); ``optimized_path`` saves the optimised graph."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[level])
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    available = set(ort.get_available_providers())
    chosen = [p for p in providers if p in available]
    if not chosen:
        raise ConversionError(
            f"none of the target's providers ({', '.join(providers)}) is available here",
            f"available: {', '.join(sorted(available))}; measure this target on a machine that has them",
        )
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
        raise ConversionError(
            f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0][:300]}",
            "check the file, the opset and the execution provider",
        ) from exc


def run(sess: Any, batch: Any) -> Any:
    """The first output of ``sess`` on one numpy batch."""
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: batch})[0]
