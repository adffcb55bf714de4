"""ONNX files made elsewhere, and the ``daybreak model`` command on real runs."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from daybreak.cli.main import app
from daybreak.errors import ConfigError, NotFoundError
from daybreak.registry import service
from daybreak.registry.errors import ModelFormatError

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def tiny_onnx(path: Path) -> Path:
    """A small conv classifier exported by torch, dynamic batch, three classes."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    ).eval()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, still supported
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, 32, 32),),
            str(path),
            input_names=["pixels"],
            output_names=["scores"],
            dynamic_axes={"pixels": {0: "batch"}, "scores": {0: "batch"}},
            dynamo=False,
        )
    return path


def test_an_onnx_file_is_registered_with_its_signature(settings, tmp_path):
    path = tiny_onnx(tmp_path / "net.onnx")
    version = service.register_onnx(
        settings,
        path,
        "tf-net",
        "classification",
        labels=["cat", "dog", "fox"],
        mean=[0.5, 0.5, 0.5],
        std=[0.25],
    )
    assert version.ref == "tf-net@1" and version.source == "onnx" and version.run_id is None
    assert version.signature == {
        "inputs": [{"name": "pixels", "shape": ["batch", 3, 32, 32], "dtype": "float32"}],
        "outputs": [{"name": "scores", "shape": ["batch", 3], "dtype": "float32"}],
    }
    prep = version.preprocessing
    assert prep["resize"] == [32, 32] and prep["labels"] == ["cat", "dog", "fox"]
    assert prep["mean"] == [0.5, 0.5, 0.5] and prep["std"] == [0.25]
    assert version.lineage["source"] == "onnx" and version.lineage["opsets"]
    assert "Imported from an ONNX file" in version.card
    assert service.artifact_path(settings, version).read_bytes() == path.read_bytes()
    with pytest.raises(ModelFormatError, match="no PyTorch module"):
        service.load_module(settings, "tf-net")


def test_bad_onnx_input_is_refused(settings, tmp_path):
    fake = tmp_path / "fake.onnx"
    fake.write_text("this is not a model")
    with pytest.raises(ModelFormatError, match="not a valid ONNX model"):
        service.register_onnx(settings, fake, "x", "classification")
    with pytest.raises(NotFoundError, match="no file"):
        service.register_onnx(settings, tmp_path / "missing.onnx", "x", "classification")
    path = tiny_onnx(tmp_path / "net.onnx")
    with pytest.raises(ConfigError, match="2 labels"):
        service.register_onnx(settings, path, "x", "classification", labels=["a", "b"])
    with pytest.raises(ConfigError, match="--mean has 2 values"):
        service.register_onnx(settings, path, "x", "classification", mean=[0.1, 0.2])
    assert service.list_models(settings) == []


# -- the command line ----------------------------------------------------------------------------


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["model", *args])


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def test_the_model_command_end_to_end(settings, run_id, tmp_path):
    ok(
        "register",
        run_id,
        "--name",
        "shapes-cnn",
        "--category",
        "classification",
        "--checkpoint",
        "9",
    )
    made = as_json("register", run_id, "--name", "shapes-cnn", "--category", "classification")
    assert made["ref"] == "shapes-cnn@2"
    onnx = tiny_onnx(tmp_path / "net.onnx")
    ok(
        "register-onnx",
        str(onnx),
        "--name",
        "tf-net",
        "--category",
        "classification",
        "--labels",
        "a,b,c",
        "--mean",
        "0.5",
        "--std",
        "0.2",
    )

    listed = as_json("ls")
    assert [(m["name"], m["latest"]) for m in listed] == [("shapes-cnn", 2), ("tf-net", 1)]
    assert as_json("ls", "--category", "pose") == []
    assert "shapes-cnn" in ok("ls").stdout

    ok("alias", "shapes-cnn@1", "production", "--note", "first")
    ok("alias", "shapes-cnn@2", "production", "--note", "better")
    shown = as_json("show", "shapes-cnn@production")
    assert shown["version"] == 2 and shown["aliases"] == ["production"]
    text = ok("show", "shapes-cnn@production").stdout
    assert "image [batch, 1, 16, 16] float32" in text and "## Limitations" in text
    history = as_json("alias", "ls", "shapes-cnn")
    assert [h["note"] for h in history["history"]] == ["first", "better"]
    assert "better" in ok("alias", "ls", "shapes-cnn").stdout
    ok("alias", "shapes-cnn", "production", "--delete", "--note", "pulled")
    assert as_json("alias", "ls", "shapes-cnn")["aliases"] == []

    changes = as_json("diff", "shapes-cnn@1", "shapes-cnn@2")
    assert changes["lineage"]["checkpoint_step"] == [9, 19]
    assert "checkpoint_step" in ok("diff", "shapes-cnn@1", "shapes-cnn@2").stdout

    ok("card", "shapes-cnn@2", "--set-field", "owner=ana", "--set-field", "Known issues=none")
    shown_card = as_json("card", "shapes-cnn@2")["card"]
    assert "## Owner\n\nana" in shown_card and "## Known issues\n\nnone" in shown_card
    mine = tmp_path / "card.md"
    mine.write_text("# shapes-cnn\n\nhand written\n")
    assert "hand written" in ok("card", "shapes-cnn@2", "--edit", str(mine)).stdout

    cats = as_json("category", "ls")
    assert "pose" in {c["name"] for c in cats}
    ok("category", "add", "depth", "--intended-use", "depth per pixel")
    assert isinstance(cli("show", "shapes-cnn@9").exception, NotFoundError)
    assert isinstance(cli("card", "shapes-cnn", "--set-field", "nokey").exception, ConfigError)


def test_errors_exit_non_zero_with_a_hint(settings):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "daybreak.cli",
            "model",
            "register",
            "nope",
            "--name",
            "m",
            "--category",
            "classification",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "no run with id 'nope'" in done.stderr and "hint" in done.stderr
