"""Formats beyond ONNX: Core ML converted for real when coremltools is installed (and marked
unvalidated off macOS), TFLite/Core ML unavailable with the extra named when their converter
is missing, and an unvalidated export never recommended."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from daybreak.convert import formats, load_target, search, testing
from daybreak.convert.report import PASSED, UNAVAILABLE, UNVALIDATED

FAST = dict(runs=5, max_seconds=0.2)


@pytest.fixture(scope="module")
def classifier():
    return testing.trained_classifier(steps=5)


@pytest.fixture(scope="module")
def inputs():
    return testing.shapes(16, 1)[0]


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS Core ML exports are validated")
def test_core_ml_is_converted_and_marked_unvalidated_with_its_reason(classifier, inputs, tmp_path):
    pytest.importorskip("coremltools")
    cands = formats.build("coreml", classifier, inputs[:1], ("fp32", "int8-static"), tmp_path)
    assert [c.name for c in cands] == ["coreml", "coreml-int8"]
    for cand in cands:
        assert cand.status == UNVALIDATED, cand.reasons
        assert cand.reasons == [formats.NOT_ON_MACOS]
        assert cand.path and cand.path.endswith(".mlpackage")
        assert (tmp_path / f"{cand.name}.mlpackage" / "Manifest.json").is_file()
        assert cand.size_bytes and cand.size_bytes > 0
    fp32, int8 = cands
    assert int8.size_bytes < fp32.size_bytes  # int8 weights


@pytest.mark.parametrize(("fmt", "module", "extra"), [
    ("coreml", "coremltools", "daybreak[coreml]"),
    ("tflite", "litert_torch", "daybreak[tflite]"),
])  # fmt: skip
def test_a_missing_converter_is_unavailable_and_names_the_extra(
    monkeypatch, classifier, inputs, tmp_path, fmt, module, extra
):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    for cand in formats.build(fmt, classifier, inputs[:1], ("fp32", "int8-static"), tmp_path):
        assert cand.status == UNAVAILABLE and cand.path is None
        assert extra in cand.reasons[0] and cand.reasons[0].startswith("unavailable")


def test_an_onnx_only_model_says_why_it_gets_no_core_ml(tmp_path, inputs):
    pytest.importorskip("coremltools")
    [cand] = formats.build("coreml", None, inputs[:1], ("fp32",), tmp_path)
    assert cand.status == UNAVAILABLE and "not ONNX" in cand.reasons[0]


def test_other_formats_are_never_reported_as_checked_nor_recommended(classifier, tmp_path):
    calibration, _ = testing.shapes(16, 2)
    inputs, _ = testing.shapes(32, 1)
    target = dataclasses.replace(load_target("mobile-cpu"), precisions=("fp32",), batch_sizes=(1,))
    report = search.convert(classifier, target, calibration, inputs, None, tmp_path, **FAST)
    others = [c for c in report.candidates if c.format != "onnx"]
    assert {c.format for c in others} == {"tflite", "coreml"}
    for cand in others:
        assert cand.status in (UNAVAILABLE, UNVALIDATED) and cand.reasons[0].startswith(cand.status)
        assert not cand.parity and not cand.latency
    assert report.recommended == "onnx-fp32"
    # even if it were the fastest, an unvalidated export is never recommended
    fake = [dataclasses.replace(c) for c in report.candidates]
    built = next((c for c in fake if c.status == UNVALIDATED), None) or fake[-1]
    built.status = UNVALIDATED
    built.latency = [dataclasses.replace(report.candidate("onnx-fp32").latency[0], p50_ms=1e-6)]
    assert search.recommend(fake, target)[0] == "onnx-fp32"
    assert report.candidate("onnx-fp32").status == PASSED
