"""The conversion engine on tiny real models: export, parity, ORT optimisation, static INT8,
gates and the recommendation. Correctness only; timings live in bench/convert.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from daybreak.convert import (
    ConversionError,
    load_target,
    measure,
    optimize,
    quantize,
    runtime,
    search,
    tasks,
    testing,
)
from daybreak.convert.export import export_onnx, torch_predict
from daybreak.convert.report import FAILED, PASSED, rows
from daybreak.convert.targets import Target
from daybreak.errors import ConfigError

FAST = dict(runs=5, max_seconds=0.2)


@pytest.fixture(scope="module")
def classifier():
    return testing.trained_classifier(steps=60)


@pytest.fixture(scope="module")
def data():
    calibration, _ = testing.shapes(64, 2)
    inputs, labels = testing.shapes(256, 1)
    return calibration, inputs, labels


@pytest.fixture(scope="module")
def converted(classifier, data, tmp_path_factory):
    calibration, inputs, labels = data
    target = Target(name="test-cpu", threads=1, batch_sizes=(1, 8))
    out = tmp_path_factory.mktemp("convert")
    return search.convert(
        classifier, target, calibration, inputs, tasks.classification(labels), out, **FAST
    )


def test_fp32_export_parity_at_batch_1_and_8(classifier, data, tmp_path):
    _, inputs, _ = data
    path = export_onnx(classifier, inputs[:1], tmp_path / "m.onnx")
    sess = runtime.session(path)
    reference = torch_predict(classifier, inputs)
    for batch in (1, 8):
        outputs = measure.predict_all(lambda x: runtime.run(sess, x), inputs, batch)
        assert measure.parity(outputs, reference, batch).max_abs <= 1e-4


def test_optimised_model_loads_and_matches(classifier, data, tmp_path):
    _, inputs, _ = data
    path = export_onnx(classifier, inputs[:1], tmp_path / "m.onnx")
    optimised = optimize.optimize_onnx(path, tmp_path / "m.opt.onnx", "all")
    plain, fast = runtime.session(path, level="disabled"), runtime.session(optimised)
    assert np.abs(runtime.run(plain, inputs[:16]) - runtime.run(fast, inputs[:16])).max() <= 1e-4


def test_static_int8_is_smaller_and_covers_the_convs(converted):
    int8, fp32 = converted.candidate("onnx-int8-static"), converted.candidate("onnx-fp32")
    assert int8.coverage is not None and int8.coverage[0] > 0
    assert int8.size_bytes < fp32.size_bytes
    row = next(r for r in rows(converted) if r["candidate"] == "onnx-int8-static")
    assert row["int8_coverage"] == f"{int8.coverage[0]}/{int8.coverage[1]}"
    assert int8.drop_points is not None and int8.flipped is not None


def test_report_has_every_measurement(converted):
    fp32 = converted.candidate("onnx-fp32")
    assert fp32.status == PASSED
    assert [p.batch for p in fp32.parity] == [1, 8] and all(p.max_abs <= 1e-4 for p in fp32.parity)
    assert [lat.batch for lat in fp32.latency] == [1, 8] and fp32.p50(1) > 0
    assert fp32.peak_memory_bytes is not None and converted.eager_ms and converted.eager_ms > 0
    assert converted.recommended is not None
    chosen = converted.candidate(converted.recommended)
    assert chosen.status == PASSED


def test_a_broken_accuracy_callback_fails_int8_and_it_is_never_recommended(
    classifier, data, tmp_path
):
    calibration, inputs, labels = data
    good = tasks.classification(labels)
    calls = []

    def broken(pred):  # right for the reference, wrong for every export after it
        calls.append(1)
        return good.score(pred) if len(calls) == 1 else 0.0

    target = Target(name="t", threads=1, batch_sizes=(1,), precisions=("fp32", "int8-static"))
    report = search.convert(
        classifier,
        target,
        calibration,
        inputs,
        tasks.Task("top1", broken, "classification"),
        tmp_path,
        **FAST,
    )
    assert report.candidate("onnx-int8-static").status == FAILED
    assert any("accuracy" in r for r in report.candidate("onnx-int8-static").reasons)
    assert report.recommended != "onnx-int8-static"


def test_recommendation_picks_a_passing_candidate_never_a_failing_one(converted):
    fake = [dataclasses.replace(c) for c in converted.candidates if c.latency]
    fastest = min(fake, key=lambda c: c.p50(1))
    fastest.fail("parity: made to fail")
    name, _ = search.recommend(fake, load_target("server-cpu"))
    assert name is not None and name != fastest.name
    assert next(c for c in fake if c.name == name).status == PASSED
    for c in fake:
        c.fail("all fail")
    assert search.recommend(fake, load_target("server-cpu"))[0] is None


def test_int8_slower_than_fp32_is_not_recommended(converted):
    fake = [
        dataclasses.replace(c, latency=list(c.latency)) for c in converted.candidates if c.latency
    ]
    for c in fake:
        scale = 3.0 if c.precision.startswith("int8") else 1.0
        c.latency = [
            dataclasses.replace(lat, p50_ms=scale * (1.0 if c.name == "onnx-fp32" else 1.5))
            for lat in c.latency
        ]
    name, _ = search.recommend(fake, load_target("server-cpu"))
    assert name == "onnx-fp32"


def test_keypoint_net_converts_with_pck(tmp_path):
    model = testing.trained_pose(steps=5, width=8)
    inputs, points = testing.poses(32, 1)
    target = Target(name="t", threads=1, batch_sizes=(1,), precisions=("fp32", "int8-static"))
    report = search.convert(
        model, target, inputs[:16], inputs, tasks.keypoints(points), tmp_path, **FAST
    )
    assert report.task == "pck@0.1"
    assert report.candidate("onnx-fp32").status == PASSED
    assert report.candidate("onnx-int8-static").score is not None


def test_onnx_file_input(classifier, data, tmp_path):
    calibration, inputs, labels = data
    path = export_onnx(classifier, inputs[:1], tmp_path / "given.onnx")
    target = Target(name="t", threads=1, batch_sizes=(1,), precisions=("fp32", "fp32-optimized"))
    report = search.convert(
        path, target, calibration, inputs, tasks.classification(labels), tmp_path / "out", **FAST
    )
    assert report.eager_ms is None and report.recommended in ("onnx-fp32", "onnx-fp32-optimized")


def test_static_int8_file_is_at_most_0_3x_the_fp32_export_for_a_conv_net(tmp_path):
    model = testing.trained_mobilenet(steps=3, size=32)
    calibration, _ = testing.shapes(32, 2, 32)
    inputs, labels = testing.shapes(64, 1, 32)
    target = Target(name="t", threads=1, batch_sizes=(1,), precisions=("fp32", "int8-static"))
    report = search.convert(
        model, target, calibration, inputs, tasks.classification(labels), tmp_path, **FAST
    )
    fp32, int8 = report.candidate("onnx-fp32"), report.candidate("onnx-int8-static")
    assert report.fp32_size_bytes == (tmp_path / "fp32.onnx").stat().st_size == fp32.size_bytes
    assert fp32.size_vs_fp32 == 1.0
    assert int8.size_vs_fp32 == pytest.approx(int8.size_bytes / fp32.size_bytes)
    assert int8.size_vs_fp32 <= 0.3
    assert int8.coverage is not None and int8.coverage[0] == int8.coverage[1]  # nothing left fp32
    row = next(r for r in rows(report) if r["candidate"] == "onnx-int8-static")
    assert row["size_vs_fp32"] == int8.size_vs_fp32


def test_compact_keeps_the_graph_and_its_outputs(classifier, data, tmp_path):
    calibration, inputs, _ = data
    path = export_onnx(classifier, inputs[:1], tmp_path / "m.onnx")
    int8 = quantize.quantize_static_qdq(path, tmp_path / "int8.onnx", calibration)
    again = quantize.compact(int8, tmp_path / "again.onnx")
    first, second = runtime.session(int8), runtime.session(again)
    assert np.array_equal(runtime.run(first, inputs[:8]), runtime.run(second, inputs[:8]))
    assert [i.name for i in second.get_inputs()] == ["input"]
    assert [o.name for o in second.get_outputs()] == ["output"]


def test_fp16_without_its_extra_says_which(monkeypatch, tmp_path):
    monkeypatch.setattr(quantize, "fp16_available", lambda: False)
    cand = search._build("fp16", load_target("server-gpu"), tmp_path / "x.onnx", None, tmp_path)
    assert cand.status == "unavailable" and "onnxconverter-common" in cand.reasons[0]


def test_corrupt_onnx_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07not really a protobuf" * 10)
    with pytest.raises(ConversionError, match="not a valid ONNX model"):
        runtime.check_onnx(bad)
    with pytest.raises(ConversionError, match="no ONNX file"):
        runtime.check_onnx(tmp_path / "missing.onnx")


def test_builtin_targets_and_a_profile_file(tmp_path):
    assert load_target("mobile-cpu").threads == 1
    good = tmp_path / "edge.toml"
    good.write_text(
        'name = "edge"\nthreads = 2\nbatch_sizes = [1, 4]\n[budget]\nmax_drop_points = 0.5\n'
    )
    target = load_target(str(good))
    assert target.batch_sizes == (1, 4) and target.budget.max_drop_points == 0.5
    yaml_file = tmp_path / "edge.yaml"
    yaml_file.write_text("name: edge\nprecisions: [fp32, int8-static]\n")
    assert load_target(yaml_file).precisions == ("fp32", "int8-static")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\nthread = 2\n', "unknown field.*thread"),
        ('name = "x"\nthreads = "two"\n', "threads must be a whole number"),
        ('name = "x"\nprecisions = ["int4"]\n', "precisions has 'int4'"),
        ('name = "x"\n[budget]\nmax_drop = 1\n', "unknown budget field"),
        ("threads = 1\n", "'name' must be"),
        ("name = [\n", "not a valid TOML"),
    ],
)
def test_a_bad_profile_gives_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_target(path)


def test_unknown_target_name():
    with pytest.raises(ConfigError, match="unknown target"):
        load_target("phone-npu")


def test_missing_onnx_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an uninstalled package looks like
    with pytest.raises(ConfigError, match=r"daybreak\[onnx\]"):
        runtime.session("x.onnx")
