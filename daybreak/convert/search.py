"""The measured search: build every candidate export a target asks for, validate and measure
each, apply the gates, and recommend the fastest passing one at batch 1.

Gates: fp32 exports must match the reference within the parity budget at batch 1 and 8; every
judged export must stay within the task budget (top-1 drop and flipped predictions for
classifiers, PCK drop for keypoints); an INT8 export must also beat the best passing fp32 one
by ``int8_min_speedup``. A failing export keeps its report and is never recommended.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from daybreak.convert import formats, measure, optimize, quantize, runtime
from daybreak.convert.errors import require
from daybreak.convert.export import export_onnx, torch_predict
from daybreak.convert.report import (
    ERROR,
    PASSED,
    UNAVAILABLE,
    UNVALIDATED,
    Candidate,
    ConversionReport,
)
from daybreak.convert.targets import Target, load_target
from daybreak.convert.tasks import Task, flipped
from daybreak.errors import DaybreakError

PARITY_BATCHES = (1, 8)
PREFERENCE = (
    "onnx-fp32",
    "onnx-fp32-optimized",
    "onnx-int8-static",
    "onnx-int8-dynamic",
    "onnx-fp16",
)
INT8 = ("int8-static", "int8-dynamic")


def convert(
    model: Any,
    target: Target | str | Path,
    calibration: Any,
    validation: Any,
    task: Task | None,
    out_dir: Path | str,
    runs: int = 50,
    max_seconds: float = 3.0,
    progress: Progress | None = None,
) -> ConversionReport:
    """Convert ``model`` (a torch ``nn.Module`` or the path of an ONNX file) for ``target``.

    ``calibration`` and ``validation`` are real input samples (numpy, [N, ...]): the first
    calibrates static INT8, the second is where parity and ``task`` are measured. Exports are
    written to ``out_dir``; latency takes ``runs`` timed runs (at most ``max_seconds``) per
    batch size. ``progress(step, done, total)`` is called before each step."""
    import numpy as np

    started = time.perf_counter()
    target = target if isinstance(target, Target) else load_target(target)
    others = [f for f in target.formats if f != "onnx"]
    steps = _Steps(progress, 1 + 2 * len(target.precisions) + len(others))
    steps("reference: ONNX fp32 export and PyTorch timing")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    validation = np.ascontiguousarray(np.asarray(validation, dtype=np.float32))
    calibration = np.asarray(calibration, dtype=np.float32)
    fp32_path = out / "fp32.onnx"
    is_torch = not isinstance(model, str | Path)
    if is_torch:
        export_onnx(model, validation[:1], fp32_path, opset=target.opset)
        reference = torch_predict(model, validation)
        with _torch_threads(target.intra_threads):
            eager = measure.latency(
                lambda x: _torch_run(model, x), validation, 1, runs, max_seconds=max_seconds
            ).p50_ms
        source = type(model).__name__
    else:
        runtime.check_onnx(model)
        if Path(model).resolve() != fp32_path.resolve():
            shutil.copyfile(model, fp32_path)
        ref_session = runtime.session(fp32_path, threads=target.intra_threads, level="basic")
        reference = np.concatenate(
            [
                runtime.run(ref_session, validation[i : i + 64])
                for i in range(0, len(validation), 64)
            ]
        )
        eager, source = None, str(model)
    reference_score = task.score(reference) if task else None
    candidates = []
    for precision in target.precisions:
        steps(f"building onnx-{precision}")
        candidates.append(_build(precision, target, fp32_path, calibration, out))
    for fmt in others:
        steps(f"building {fmt}")
        torch_model = model if is_torch else None
        candidates += formats.build(fmt, torch_model, validation[:1], target.precisions, out)
    fp32_size = measure.file_size(fp32_path)
    for cand in candidates:
        if cand.size_bytes is not None:
            cand.size_vs_fp32 = cand.size_bytes / fp32_size
    for cand in candidates:
        if cand.status == PASSED and cand.path:
            steps(f"measuring {cand.name}")
            outputs = _measure(cand, target, fp32_path, validation, reference, runs, max_seconds)
            if outputs is not None:
                _gate(cand, target, task, reference, reference_score, outputs)
    recommended, why = recommend(candidates, target)
    steps.finish()
    return ConversionReport(
        target=target.to_dict(),
        source=source,
        task=task.name if task else None,
        reference_score=reference_score,
        eager_ms=eager,
        candidates=candidates,
        recommended=recommended,
        why=why,
        seconds=time.perf_counter() - started,
        fp32_size_bytes=fp32_size,
    )


Progress = Callable[[str, int, int], None]  # (step, steps done, steps planned)


class _Steps:
    """Counts steps for a progress callback; the plan is an estimate (a candidate that fails
    to build is not measured), so the last call says everything is done."""

    def __init__(self, progress: Progress | None, planned: int) -> None:
        self.progress, self.planned, self.done = progress, planned, 0

    def __call__(self, step: str) -> None:
        if self.progress is not None:
            self.progress(step, self.done, max(self.planned, self.done + 1))
        self.done += 1

    def finish(self) -> None:
        total = max(self.planned, self.done)
        if self.progress is not None:
            self.progress("done", total, total)


def recommend(candidates: list[Candidate], target: Target) -> tuple[str | None, str]:
    """The fastest passing candidate at batch 1 (an earlier one in :data:`PREFERENCE` wins a
    tie within 3%); an INT8 one only if it beats the best passing fp32 one by the budget's
    ``int8_min_speedup``. Returns (name or None, why)."""
    timed = [c for c in candidates if c.status == PASSED and c.p50(1) is not None]
    fp32 = [c for c in timed if not c.precision.startswith("int8")]
    best_fp32 = min((c.p50(1) or 0.0 for c in fp32), default=None)
    eligible = []
    for c in timed:
        if c.precision in INT8:
            if best_fp32 is None:
                c.warnings.append("not recommended: no passing fp32 export to compare against")
                continue
            speedup = best_fp32 / (c.p50(1) or float("inf"))
            if speedup < target.budget.int8_min_speedup:
                c.warnings.append(
                    f"not recommended: only {speedup:.2f}x the fp32 speed (needs ≥ {target.budget.int8_min_speedup:g}x)"
                )
                continue
        eligible.append(c)
    if not eligible:
        return None, "no candidate passed its gates"
    fastest = min(c.p50(1) or 0.0 for c in eligible)
    order = {name: i for i, name in enumerate(PREFERENCE)}
    close = [c for c in eligible if (c.p50(1) or 0.0) <= fastest * 1.03]
    chosen = min(close, key=lambda c: order.get(c.name, len(order)))
    return chosen.name, f"fastest passing at batch 1: {chosen.p50(1):.3g} ms"


def _build(precision: str, target: Target, fp32: Path, calibration: Any, out: Path) -> Candidate:
    cand = Candidate(name=f"onnx-{precision}", precision=precision)
    started = time.perf_counter()
    try:
        if precision == "fp32":
            cand.path = str(fp32)
        elif precision == "fp32-optimized":
            cand.path = str(
                optimize.optimize_onnx(fp32, out / "fp32.optimized.onnx", target.optimization)
            )
        elif precision == "int8-static":
            cand.path = str(
                quantize.quantize_static_qdq(fp32, out / "int8-static.onnx", calibration)
            )
        elif precision == "int8-dynamic":
            cand.path = str(quantize.quantize_dynamic_int8(fp32, out / "int8-dynamic.onnx"))
        elif precision == "fp16":
            if not quantize.fp16_available():
                cand.status = UNAVAILABLE
                cand.reasons.append(f"unavailable: install {quantize.FP16_EXTRA}")
            elif "CUDAExecutionProvider" not in _providers():
                cand.path = str(quantize.convert_fp16(fp32, out / "fp16.onnx"))
                cand.status = UNVALIDATED
                cand.reasons.append(
                    "unvalidated: built, but no CUDA execution provider here to run it"
                )
            else:
                cand.path = str(quantize.convert_fp16(fp32, out / "fp16.onnx"))
    except DaybreakError as exc:
        cand.status = ERROR
        cand.reasons.append(str(exc))
    cand.build_seconds = time.perf_counter() - started
    if cand.path:
        cand.size_bytes = measure.file_size(cand.path)
    return cand


def _measure(
    cand: Candidate,
    target: Target,
    fp32: Path,
    inputs: Any,
    reference: Any,
    runs: int,
    max_seconds: float,
) -> Any:
    """Measure ``cand`` in place; returns its outputs on ``inputs`` (None when it cannot run)."""
    import numpy as np

    assert cand.path is not None
    try:
        with measure.PeakMemory() as memory:
            predict = _predictor(cand, target)
            predict(np.resize(inputs, (max(target.batch_sizes), *inputs.shape[1:])))
        cand.peak_memory_bytes = memory.added
        outputs = {b: measure.predict_all(predict, inputs, b) for b in PARITY_BATCHES}
        cand.parity = [measure.parity(outputs[b], reference, b) for b in PARITY_BATCHES]
        cand.latency = [
            measure.latency(predict, inputs, b, runs, max_seconds=max_seconds)
            for b in target.batch_sizes
        ]
        if cand.precision in INT8:
            with tempfile.TemporaryDirectory(prefix="daybreak-cov-") as tmp:
                optimized = optimize.optimize_onnx(cand.path, Path(tmp) / "opt.onnx", "extended")
                cand.coverage = measure.int8_coverage(fp32, optimized)
            warning = measure.clipping_warning(reference, outputs[PARITY_BATCHES[-1]])
            if warning:
                cand.warnings.append(warning)
    except DaybreakError as exc:
        cand.status = ERROR
        cand.reasons.append(str(exc))
        return None
    return outputs[PARITY_BATCHES[-1]]


def _predictor(cand: Candidate, target: Target) -> Callable[[Any], Any]:
    """Run ``cand`` on a numpy batch: ONNX Runtime at the target's threads, or Core ML (macOS)."""
    if cand.format == "coreml":
        return formats.predictor(cand)
    sess = runtime.session(
        cand.path or "", threads=target.intra_threads, providers=target.providers
    )
    return lambda x: runtime.run(sess, x)


def _gate(
    cand: Candidate,
    target: Target,
    task: Task | None,
    reference: Any,
    reference_score: float | None,
    outputs: Any,
) -> None:
    if cand.status != PASSED:
        return
    budget = target.budget
    if cand.precision.startswith("fp32"):
        worst = max(cand.parity, key=lambda p: p.max_abs)
        if worst.max_abs > budget.parity_max_abs:
            cand.fail(
                f"parity: max |Δ| {worst.max_abs:.2e} at batch {worst.batch} > {budget.parity_max_abs:g}"
            )
    if task is None or reference_score is None:
        if not cand.precision.startswith("fp32"):
            cand.fail("no task metric given: a reduced-precision export cannot be judged")
        return
    cand.score = task.score(outputs)
    cand.drop_points = 100 * (reference_score - cand.score)
    limit = budget.max_pck_drop_points if task.kind == "keypoints" else budget.max_drop_points
    if cand.drop_points > limit:
        cand.fail(f"accuracy: {task.name} dropped {cand.drop_points:.2f} points > {limit:g}")
    if task.kind == "classification":
        cand.flipped = flipped(reference, outputs)
        if cand.flipped > budget.max_flipped:
            cand.fail(
                f"accuracy: {100 * cand.flipped:.1f}% of predictions flipped > {100 * budget.max_flipped:g}%"
            )


def _providers() -> list[str]:
    return list(require("onnxruntime").get_available_providers())


def _torch_run(model: Any, x: Any) -> Any:
    torch = require("torch")
    with torch.no_grad():
        return model(torch.from_numpy(x))


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    torch = require("torch")
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
