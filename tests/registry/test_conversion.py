"""``daybreak convert NAME@V --target``: registered versions converted on their own dataset
version, every candidate stored with its report, one recommended per target."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from daybreak.cli.main import app
from daybreak.convert.errors import ConversionError
from daybreak.convert.pipeline import convert_version
from daybreak.convert.targets import BUILTIN_TARGETS, Budget
from daybreak.errors import ConfigError, NotFoundError
from daybreak.registry import exports, service
from tests.registry.test_onnx_and_cli import tiny_onnx

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

FAST = {"runs": 5, "max_seconds": 0.2}


@pytest.fixture
def version(settings, run_id):
    return service.register_run(settings, run_id, "shapes-cnn", "classification")


def _val_accuracy(settings, ref: str) -> tuple[float, np.ndarray]:
    """Top-1 of the registered torch module on the version's val split, computed here."""
    from daybreak.zoo import classifier

    dataset = service.get_version(settings, ref).lineage["datasets"][0]["ref"]
    images, labels = classifier.load_split(dataset, "val")
    with torch.no_grad():
        pred = service.load_module(settings, ref)(images).argmax(1)
    return float((pred == labels).float().mean()), images.numpy()


def test_a_run_version_is_converted_on_its_own_dataset_and_stored(settings, version):
    seen: list[tuple[str, int, int]] = []
    done = convert_version(
        settings, version.ref, "server-cpu", progress=lambda *s: seen.append(s), **FAST
    )

    steps = [step for step, _, _ in seen]
    assert steps[0].startswith("reading samples") and "measuring onnx-int8-static" in steps
    assert seen[-2][0] == "done" and seen[-2][1] == seen[-2][2]  # the search finished
    assert all(0 <= d <= t for _, d, t in seen)

    assert done.dataset == version.lineage["datasets"][0]["ref"]
    names = [e.report["candidate"]["name"] for e in done.exports]
    assert names == ["onnx-fp32", "onnx-fp32-optimized", "onnx-int8-static", "onnx-int8-dynamic"]
    best = [e for e in done.exports if e.recommended]
    assert len(best) == 1 and best[0].status == "ok"
    assert best[0].report["row"]["candidate"] == done.report.recommended
    accuracy, images = _val_accuracy(settings, version.ref)
    fp32 = next(e for e in done.exports if e.precision == "fp32")
    assert fp32.report["task"] == "top1"
    assert fp32.report["row"]["score"] == pytest.approx(accuracy)
    assert fp32.report["row"]["max_abs_diff"] <= 1e-4
    # the stored file is the export itself: ONNX Runtime gives the torch module's classes
    session = ort.InferenceSession(str(exports.export_path(settings, fp32)))
    onnx_classes = session.run(None, {session.get_inputs()[0].name: images[:32]})[0].argmax(1)
    with torch.no_grad():
        torch_classes = service.load_module(settings, version.ref)(torch.from_numpy(images[:32]))
    assert (onnx_classes == torch_classes.argmax(1).numpy()).all()
    assert exports.recommended_export(settings, "shapes-cnn@1").id == best[0].id


def test_a_new_conversion_decides_the_targets_recommendation(settings, version):
    first = convert_version(settings, version.ref, "server-cpu", **FAST)
    strict = dataclasses.replace(
        BUILTIN_TARGETS["server-cpu"], budget=Budget(max_drop_points=-1.0, max_pck_drop_points=-1)
    )
    second = convert_version(settings, version.ref, strict, **FAST)

    assert second.report.recommended is None
    assert all(e.status == "failed" for e in second.exports)
    assert all("accuracy" in " ".join(e.report["candidate"]["reasons"]) for e in second.exports)
    stored = exports.list_exports(settings, version.ref)
    assert len(stored) == len(first.exports) + len(second.exports)
    assert not any(e.recommended for e in stored)  # the old one no longer stands
    with pytest.raises(NotFoundError, match="daybreak convert"):
        exports.recommended_export(settings, version.ref, "server-cpu")


def test_an_onnx_import_without_data_is_judged_on_parity_only(settings, tmp_path):
    service.register_onnx(settings, tiny_onnx(tmp_path / "net.onnx"), "tf-net", "classification")
    done = convert_version(settings, "tf-net@1", "server-cpu", **FAST)

    assert done.dataset is None and "random inputs" in done.notes[0]
    by_precision = {e.precision: e for e in done.exports}
    assert by_precision["fp32"].status == "ok"
    assert by_precision["int8-static"].status == "failed"
    assert "cannot be judged" in " ".join(
        by_precision["int8-static"].report["candidate"]["reasons"]
    )
    assert done.report.recommended in ("onnx-fp32", "onnx-fp32-optimized")


def test_an_onnx_import_is_judged_on_a_dataset_given(settings, version, tmp_path):
    """The registered classifier, exported and imported as ONNX, then converted on its data."""
    from daybreak.convert.export import export_onnx

    path = export_onnx(
        service.load_module(settings, version.ref),
        np.zeros((1, 1, 16, 16), np.float32),
        tmp_path / "cnn.onnx",
        opset=17,
    )
    service.register_onnx(settings, path, "cnn-import", "classification")
    dataset = version.lineage["datasets"][0]["ref"]
    done = convert_version(settings, "cnn-import@1", "server-cpu", dataset=dataset, **FAST)

    accuracy, _ = _val_accuracy(settings, version.ref)
    assert done.dataset == dataset and done.notes == []
    fp32 = next(e for e in done.exports if e.precision == "fp32")
    assert fp32.report["row"]["score"] == pytest.approx(accuracy)


def test_a_keypoint_model_is_judged_by_pck_and_other_formats_never_recommended(settings):
    from daybreak.zoo import pose

    ref = pose.prepare(settings, count=60)
    run = pose.train(steps=4, dataset=ref, eval_every=4, checkpoint_every=4)
    service.register_run(settings, run, "pose-lite", "pose")
    done = convert_version(settings, "pose-lite@1", "mobile-cpu", **FAST)

    assert done.report.task == "pck@0.1"
    other = [e for e in done.exports if e.format != "onnx"]
    assert {e.format for e in other} == {"tflite", "coreml"}
    assert all(e.status in ("unavailable", "unvalidated") and not e.recommended for e in other)
    assert all(e.report["candidate"]["reasons"] for e in other)


def test_a_text_model_is_refused_with_a_reason(settings):
    from daybreak.zoo import text

    run = text.train(steps=2, eval_every=2, checkpoint_every=2)
    service.register_run(settings, run, "intent", "text")
    with pytest.raises(ConversionError, match="one image-like input"):
        convert_version(settings, "intent@1", "server-cpu", **FAST)


def test_the_convert_command(settings, version):
    def real_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "daybreak.cli", "convert", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    bad = real_cli("shapes-cnn@1", "--target", "phone-9000")
    assert bad.returncode == 2 and "unknown target 'phone-9000'" in bad.stderr
    missing = real_cli("nobody@1", "--target", "server-cpu")
    assert missing.returncode == 1 and "nobody" in missing.stderr

    runner = CliRunner()

    done = runner.invoke(
        app, ["convert", "shapes-cnn@1", "-t", "server-cpu", "--runs", "5", "--json"]
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["recommended"] and len(report["exports"]) == 4
    listed = runner.invoke(app, ["model", "exports", "shapes-cnn@1"])
    assert listed.exit_code == 0 and "★" in listed.output and "target server-cpu" in listed.output
    as_json = json.loads(runner.invoke(app, ["model", "exports", "shapes-cnn", "--json"]).stdout)
    assert [e["id"] for e in as_json] == [e["id"] for e in report["exports"]]


def test_unknown_statuses_are_refused(settings, version):
    with pytest.raises(ConfigError, match="export status"):
        exports.record_conversion(
            settings, version.ref, "t", [exports.NewExport("onnx", "fp32", "great", {})]
        )


def test_the_nights_registry_activity_is_in_the_daily_log(settings, version):
    from daybreak import dailylog
    from daybreak.registry import aliases

    done = convert_version(settings, version.ref, "server-cpu", **FAST)
    aliases.set_alias(settings, version.ref, "production", "beats the baseline", by="ana")

    log = dailylog.build(settings)
    models = log["content"]["models"]
    assert [m["ref"] for m in models["registered"]] == ["shapes-cnn@1"]
    assert models["registered"][0]["metrics"]["val/acc"] == version.lineage["metrics"]["val/acc"]
    [conversion] = models["exported"]
    assert conversion["target"] == "server-cpu" and conversion["statuses"] == {"ok": 4}
    assert conversion["recommended"]["export"] == done.report.recommended
    [move] = models["promoted"]
    assert (move["alias"], move["old_version"], move["new_version"]) == ("production", None, 1)
    text = dailylog.render(log, "markdown")
    assert "converted shapes-cnn@1 for server-cpu" in text
    assert f"recommended {done.report.recommended}" in text
    assert "shapes-cnn@production → version 1" in text and "beats the baseline" in text

    later = dailylog.build(settings)  # the next window starts where this one ended
    assert later["content"]["models"]["registered"] == []
