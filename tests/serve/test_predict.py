"""Real predictions from a real server: the served answer equals ONNX Runtime in process on
the same input, keypoints come back in the input image's pixels."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from daybreak.registry import service
from daybreak.serve.options import ServeOptions
from daybreak.serve.server import ServeThread
from tests.serve.conftest import Zoo, npy, png

SERVED = ["shapes@production", "poser@production", "imported"]


@pytest.fixture(scope="module")
def url(zoo: Zoo) -> Iterator[str]:
    with ServeThread(zoo.settings, SERVED, ServeOptions(workers=2)) as server:
        yield server.url


def in_process(path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def shapes_images(count: int) -> np.ndarray:
    from daybreak.zoo import classifier

    images, _ = classifier.make_shapes(count, seed=5)
    return (images.numpy()[:, 0] * 255).round().astype(np.uint8)


def test_the_served_label_is_onnx_runtime_argmax_on_the_same_image(zoo: Zoo, url: str) -> None:
    pixels = shapes_images(6)
    expected = in_process(
        zoo.files["shapes@1"], {"input": (pixels[:, None] / 255.0).astype(np.float32)}
    )
    labels = service.get_version(zoo.settings, "shapes@1").preprocessing["labels"]
    assert labels == ["bar", "cross", "ring", "square"]  # the lake's order, which it learned
    for n, image in enumerate(pixels):
        answer = httpx.post(
            f"{url}/v1/models/shapes/predict",
            content=png(image),
            headers={"content-type": "image/png"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ref"] == "shapes@1" and body["version"] == 1
        assert body["export"]["precision"] == "fp32" and body["export"]["target"] == "server-cpu"
        (prediction,) = body["predictions"]
        assert prediction["label"] == labels[int(expected[n].argmax())]
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)
        assert set(body["timings"]) >= {"queue_ms", "inference_ms", "total_ms"}


def test_tensors_json_and_multipart_give_the_same_answers(zoo: Zoo, url: str) -> None:
    pixels = shapes_images(3)
    tensor = (pixels[:, None] / 255.0).astype(np.float32)
    expected = in_process(zoo.files["shapes@1"], {"input": tensor}).argmax(1).tolist()
    by_ref = f"{url}/v1/models/shapes@production/predict"

    def indices(answer: httpx.Response) -> list[int]:
        assert answer.status_code == 200, answer.text
        return [p["index"] for p in answer.json()["predictions"]]

    assert (
        indices(
            httpx.post(by_ref, content=npy(tensor), headers={"content-type": "application/x-npy"})
        )
        == expected
    )
    raw = {"content-type": "application/octet-stream", "x-shape": "3,1,16,16", "x-dtype": "float32"}
    assert indices(httpx.post(by_ref, content=tensor.tobytes(), headers=raw)) == expected
    assert indices(httpx.post(by_ref, json={"inputs": tensor.tolist()})) == expected
    assert indices(httpx.post(by_ref, json={"inputs": tensor[0].tolist()})) == expected[:1]
    files = [("file", (f"{n}.png", png(p), "image/png")) for n, p in enumerate(pixels)]
    assert indices(httpx.post(by_ref, files=files)) == expected
    encoded = [base64.b64encode(png(p)).decode() for p in pixels]
    assert indices(httpx.post(by_ref, json={"images": encoded})) == expected


def test_keypoints_map_back_to_the_input_image_pixels(zoo: Zoo, url: str) -> None:
    from PIL import Image

    from daybreak.convert.testing import poses
    from daybreak.zoo import pose

    images, _ = poses(1, seed=3)
    small = (images[0, 0] * 255).round().astype(np.uint8)
    big = np.asarray(Image.fromarray(small).resize((96, 144), Image.Resampling.NEAREST))
    answer = httpx.post(
        f"{url}/v1/models/poser/predict", content=png(big), headers={"content-type": "image/png"}
    )
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert (prediction["width"], prediction["height"]) == (96, 144)
    resized = np.asarray(Image.fromarray(big).resize((48, 48), Image.Resampling.BILINEAR))
    expected = in_process(
        zoo.files["poser@1"], {"input": (resized[None, None] / 255.0).astype(np.float32)}
    )[0]
    points = prediction["keypoints"]
    assert [p["name"] for p in points] == list(pose.KEYPOINTS)
    for point, (fx, fy) in zip(points, expected.tolist(), strict=True):
        assert point["fx"] == pytest.approx(fx, abs=1e-5)
        assert point["x"] == pytest.approx(fx * 96, abs=1e-3)
        assert point["y"] == pytest.approx(fy * 144, abs=1e-3)
        assert point["confidence"] is None


def test_an_imported_onnx_model_is_served_with_its_preprocessing(zoo: Zoo, url: str) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    answer = httpx.post(
        f"{url}/v1/models/imported/predict",
        content=png(image),
        headers={"content-type": "image/png"},
    )
    assert answer.status_code == 200, answer.text
    resized = np.asarray(Image.fromarray(image).resize((32, 32), Image.Resampling.BILINEAR))
    tensor = ((resized / 255.0 - 0.5) / 0.25).transpose(2, 0, 1)[None].astype(np.float32)
    scores = in_process(zoo.files["imported@1"], {"pixels": tensor})[0]
    (prediction,) = answer.json()["predictions"]
    assert prediction["label"] == ["cat", "dog", "fox"][int(scores.argmax())]
    probabilities = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    assert prediction["score"] == pytest.approx(float(probabilities.max()), abs=1e-4)


def test_models_health_and_readiness(url: str) -> None:
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    models = {m["ref"]: m for m in httpx.get(f"{url}/v1/models").json()["models"]}
    assert set(models) == set(SERVED)
    shapes = models["shapes@production"]
    assert shapes["status"] == "ready" and shapes["version"] == 1 and shapes["sessions"] == 2
    assert shapes["signature"]["inputs"][0]["shape"] == ["batch", 1, 16, 16]
    assert shapes["batching"] is False
