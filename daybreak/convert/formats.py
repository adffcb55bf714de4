"""Formats other than ONNX: Core ML (coremltools) and TFLite/LiteRT (litert-torch).

A format is built only when its converter is installed; otherwise its candidate is
``unavailable`` and names the extra that installs it. A format that cannot be run here is
``unvalidated``, never ``passed``: Core ML converts on Linux but predicts only on macOS, and
LiteRT files are not run yet. Both converters start from the PyTorch model, so an ONNX-only
model gets a clear ``unavailable`` for them (coremltools 7+ has no ONNX frontend).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import io
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from daybreak.convert.errors import ConversionError
from daybreak.convert.measure import file_size
from daybreak.convert.report import ERROR, UNAVAILABLE, UNVALIDATED, Candidate

Predict = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class Converter:
    """What converting to one format needs: the module to import and the extra installing it."""

    format: str
    module: str
    package: str
    extra: str

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def missing(self) -> str:
        return (
            f"unavailable: {self.format} conversion needs {self.package}, which is not installed: "
            f"pip install 'daybreak[{self.extra}]'"
        )


CONVERTERS = {
    "coreml": Converter("coreml", "coremltools", "coremltools", "coreml"),
    "tflite": Converter("tflite", "litert_torch", "litert-torch", "tflite"),
}
FROM_ONNX = {
    "coreml": "unavailable: coremltools 7+ converts PyTorch and TensorFlow models, not ONNX files "
    "(its ONNX frontend was removed); pass the torch model to get a Core ML export",
    "tflite": "unavailable: litert-torch converts PyTorch models, not ONNX files; pass the torch "
    "model (onnx2tf converts ONNX files but needs TensorFlow)",
}
NOT_ON_MACOS = "unvalidated: built, but Core ML predicts only on macOS"
TFLITE_NOT_RUN = "unvalidated: built with litert-torch, not run: LiteRT checks are not wired yet"


def variants(fmt: str, precisions: tuple[str, ...]) -> list[tuple[str, str]]:
    """(candidate name, precision) of each export of ``fmt`` that the target's precisions ask
    for: always fp32; Core ML also fp16 and int8 weights (fp16 compute) when the target lists
    fp16 or an INT8 precision."""
    if fmt != "coreml":
        return [(fmt, "fp32")]
    found = [("coreml", "fp32")]
    if "fp16" in precisions:
        found.append(("coreml-fp16", "fp16"))
    if any(p.startswith("int8") for p in precisions):
        found.append(("coreml-int8", "int8-weights"))
    return found


def build(
    fmt: str, model: Any | None, sample: Any, precisions: tuple[str, ...], out: Path
) -> list[Candidate]:
    """The candidates of ``fmt`` for ``model`` (a torch module, or None for an ONNX-only
    model), converted for inputs shaped like ``sample`` (batch 1) into ``out``."""
    wanted = variants(fmt, precisions)
    converter = CONVERTERS[fmt]
    if not converter.installed():
        return [_unavailable(name, fmt, p, converter.missing()) for name, p in wanted]
    if model is None:
        return [_unavailable(name, fmt, p, FROM_ONNX[fmt]) for name, p in wanted]
    if fmt == "coreml":
        return _build_coreml(model, sample, wanted, out)
    return [_build_tflite(model, sample, out / "model.tflite")]


def predictor(cand: Candidate) -> Predict:
    """Run a built Core ML export (macOS only), one row at a time: it is converted for batch 1."""
    import numpy as np

    with _quiet():
        ct = importlib.import_module("coremltools")
    mlmodel = ct.models.MLModel(str(cand.path))
    spec = mlmodel.get_spec().description
    name_in, name_out = spec.input[0].name, spec.output[0].name

    def predict(batch: Any) -> Any:
        try:
            rows = [
                mlmodel.predict({name_in: batch[i : i + 1]})[name_out] for i in range(len(batch))
            ]
        except Exception as exc:  # Core ML raises its own types
            raise ConversionError(
                f"Core ML could not run {cand.path}: {_first_line(exc)}",
                "check the macOS version against the export's deployment target (iOS 17 / macOS 14)",
            ) from exc
        return np.concatenate([np.asarray(r, dtype=np.float32) for r in rows])

    return predict


def _build_coreml(
    model: Any, sample: Any, wanted: list[tuple[str, str]], out: Path
) -> list[Candidate]:
    started = time.perf_counter()
    try:
        program = _torch_program(model, sample)
    except Exception as exc:  # torch.export raises many types
        reason = f"torch.export could not capture the model for Core ML: {_first_line(exc)}"
        return [_failed(name, "coreml", p, reason, started) for name, p in wanted]
    cands = []
    for name, precision in wanted:
        cand = Candidate(name=name, format="coreml", precision=precision)
        started = time.perf_counter()
        try:
            cand.path = str(_coreml(program, precision, out / f"{name}.mlpackage"))
        except Exception as exc:  # coremltools raises many types
            cand.status = ERROR
            cand.reasons.append(f"Core ML conversion failed: {_first_line(exc)}")
        else:
            cand.size_bytes = file_size(cand.path)
            if sys.platform != "darwin":
                cand.status = UNVALIDATED
                cand.reasons.append(NOT_ON_MACOS)
        cand.build_seconds = time.perf_counter() - started
        cands.append(cand)
    return cands


def _coreml(program: Any, precision: str, dest: Path) -> Path:
    """An ML program (.mlpackage): fp32 or fp16 compute, or int8 weights with fp16 compute."""
    with _quiet():
        ct = importlib.import_module("coremltools")
        compute = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
        mlmodel = ct.convert(
            program,
            convert_to="mlprogram",
            compute_precision=compute,
            minimum_deployment_target=ct.target.iOS17,
        )
        if precision == "int8-weights":
            opt = ct.optimize.coreml
            config = opt.OptimizationConfig(
                global_config=opt.OpLinearQuantizerConfig(mode="linear_symmetric")
            )
            mlmodel = opt.linear_quantize_weights(mlmodel, config=config)
        mlmodel.save(str(dest))
    return dest


def _build_tflite(model: Any, sample: Any, dest: Path) -> Candidate:
    cand = Candidate(name="tflite", format="tflite", precision="fp32")
    started = time.perf_counter()
    try:
        torch = importlib.import_module("torch")
        with _quiet():
            litert_torch = importlib.import_module("litert_torch")
            edge = litert_torch.convert(model.eval(), (torch.as_tensor(sample[:1]),))
            edge.export(str(dest))
    except Exception as exc:  # the converter raises many types
        cand.status = ERROR
        cand.reasons.append(f"TFLite conversion failed: {_first_line(exc)}")
    else:
        cand.path, cand.size_bytes = str(dest), file_size(dest)
        cand.status = UNVALIDATED
        cand.reasons.append(TFLITE_NOT_RUN)
    cand.build_seconds = time.perf_counter() - started
    return cand


def _torch_program(model: Any, sample: Any) -> Any:
    """The model captured by ``torch.export`` at batch 1 (coremltools 8+ takes it; the
    TorchScript path failed on the zoo's pose net with this torch)."""
    torch = importlib.import_module("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = torch.as_tensor(sample[:1]).float()
        return torch.export.export(model.eval(), (example,)).run_decompositions({})


def _unavailable(name: str, fmt: str, precision: str, reason: str) -> Candidate:
    return Candidate(
        name=name, format=fmt, precision=precision, status=UNAVAILABLE, reasons=[reason]
    )


def _failed(name: str, fmt: str, precision: str, reason: str, started: float) -> Candidate:
    cand = Candidate(name=name, format=fmt, precision=precision, status=ERROR, reasons=[reason])
    cand.build_seconds = time.perf_counter() - started
    return cand


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the converters' progress bars, version notices and warnings (coremltools logs its
    untested-torch notice and the macOS-only runtime it lacks on Linux at import)."""
    sink = io.StringIO()
    loggers = [logging.getLogger(name) for name in ("coremltools", "litert_torch")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
