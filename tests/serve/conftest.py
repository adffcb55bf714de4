"""A registry with real exports to serve, built once per test process: the zoo classifier
(versions 1 and 2), the zoo pose net, an imported ONNX file, and models that cannot be served
(no signature, a corrupt export, no export)."""

from __future__ import annotations

import dataclasses
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daybreak.config import Settings, get_settings

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@dataclasses.dataclass
class Zoo:
    settings: Settings
    files: dict[str, Path]  # the ONNX file each model's export holds


def export_version(settings: Settings, ref: str, source: Path | None = None) -> Path:
    """Export ``ref`` (its torch module, or ``source`` for an imported file), put the file in
    the blob store and record it as the recommended server-cpu export."""
    import numpy as np

    from daybreak.blobs import BlobStore
    from daybreak.convert.export import export_onnx
    from daybreak.registry import service
    from daybreak.registry.exports import record_export

    version = service.get_version(settings, ref)
    path = settings.home / "made" / f"{version.model}-{version.version}.onnx"
    if source is None:
        shape = [1 if isinstance(d, str) else d for d in version.signature["inputs"][0]["shape"]]
        export_onnx(service.load_module(settings, ref), np.zeros(shape, np.float32), path, 17)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source.read_bytes())
    key = f"exports/{version.model}/{uuid.uuid4().hex}.onnx"
    uri, size, _ = BlobStore(settings.blobs_url).put_file(path, key)
    record_export(
        settings, version.ref, "server-cpu", "onnx", "fp32", "ok", {}, uri, size, recommended=True
    )
    return path


def tiny_onnx(path: Path) -> Path:
    """A three-class RGB classifier made outside Daybreak (32x32, input ``pixels``)."""
    import warnings

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    ).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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


def _build(settings: Settings) -> Zoo:
    import sqlalchemy as sa

    from daybreak.blobs import BlobStore
    from daybreak.registry import service
    from daybreak.registry.aliases import set_alias
    from daybreak.registry.exports import record_export
    from daybreak.store.engine import get_database
    from daybreak.store.schema import model_versions
    from daybreak.zoo import classifier, pose

    files: dict[str, Path] = {}
    dataset = classifier.prepare(settings, count=120)
    run = classifier.train(
        steps=20, lr=3e-3, batch=16, eval_every=10, checkpoint_every=10, dataset=dataset
    )
    service.register_run(settings, run, "shapes", "classification", step=9)
    service.register_run(settings, run, "shapes", "classification", step=19)
    files["shapes@1"] = export_version(settings, "shapes@1")
    files["shapes@2"] = export_version(settings, "shapes@2")
    set_alias(settings, "shapes@1", "production")

    dataset = pose.prepare(settings, count=60)
    run = pose.train(
        steps=10, batch=16, eval_every=10, checkpoint_every=10, dataset=dataset, width=8
    )
    service.register_run(settings, run, "poser", "pose")
    files["poser@1"] = export_version(settings, "poser@1")
    set_alias(settings, "poser@1", "production")

    source = tiny_onnx(settings.home / "net.onnx")
    for name in ("imported", "nosig", "corrupt", "noexport"):
        service.register_onnx(
            settings, source, name, "classification", ["cat", "dog", "fox"], [0.5], [0.25]
        )
    files["imported@1"] = export_version(settings, "imported@1", source)
    export_version(settings, "nosig@1", source)
    with get_database(settings.db_url).write() as conn:
        version_id = service.get_version(settings, "nosig@1").id
        conn.execute(
            sa.update(model_versions).where(model_versions.c.id == version_id).values(signature={})
        )
    broken = settings.home / "broken.onnx"
    broken.write_bytes(b"\x08\x07this is not a protobuf model" * 10)
    uri, size, _ = BlobStore(settings.blobs_url).put_file(broken, "exports/corrupt/broken.onnx")
    record_export(settings, "corrupt@1", "server-cpu", "onnx", "fp32", "ok", {}, uri, size, True)
    return Zoo(settings, files)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    root = tmp_path_factory.mktemp("serve")
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("DAYBREAK_") and name != "DAYBREAK_TEST_DB":
                patch.delenv(name)
        patch.setenv("DAYBREAK_HOME", str(home))
        patch.setenv("DAYBREAK_DB", f"sqlite:///{home / 'daybreak.db'}")
        patch.setenv("XDG_CONFIG_HOME", str(root / "xdg"))
        patch.setenv("DAYBREAK_CAPTURE_OUTPUT", "false")
        patch.chdir(root)
        settings = get_settings()
        built = _build(settings)
    yield built


def png(pixels: Any) -> bytes:
    """PNG bytes of a uint8 array ([H, W] gray or [H, W, 3] RGB)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def npy(array: Any) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
