"""Every bad input gets a clear JSON error with a fitting 4xx from a real server, and the
server goes on serving the other models."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from daybreak.serve.options import ServeOptions
from daybreak.serve.server import ServeThread
from tests.serve.conftest import Zoo, npy, png

BROKEN = ["nosig", "corrupt", "noexport", "shapes@nowhere", "ghost@production"]


@pytest.fixture(scope="module")
def url(zoo: Zoo) -> Iterator[str]:
    options = ServeOptions(workers=1, max_body_mb=0.05)
    with ServeThread(zoo.settings, ["shapes@production", *BROKEN], options) as server:
        yield server.url


def post(url: str, model: str, content: bytes, kind: str | None, **headers: str) -> httpx.Response:
    if kind is not None:
        headers["content-type"] = kind
    return httpx.post(f"{url}/v1/models/{model}/predict", content=content, headers=headers)


def error_of(answer: httpx.Response, status: int) -> dict[str, str]:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) == {"type", "message", "hint"} and error["message"] and error["hint"]
    return error


def still_serving(url: str) -> None:
    image = np.zeros((16, 16), np.uint8)
    assert post(url, "shapes", png(image), "image/png").status_code == 200


GOOD = np.zeros((1, 1, 16, 16), np.float32)
RGB = npy(np.zeros((1, 3, 16, 16), np.float32))
NPY, RAW = "application/x-npy", "application/octet-stream"
CASES = {
    "oversized body": ("shapes", b"\x00" * 60_000, "image/png", {}, 413, "limit"),
    "empty body": ("shapes", b"", "image/png", {}, 400, "empty"),
    "not an image": ("shapes", b"GIF89a but not really", "image/png", {}, 422, "not an image"),
    "unknown content type": ("shapes", b"hello", "text/plain", {}, 415, "text/plain"),
    "wrong shape": ("shapes", RGB, NPY, {}, 422, "[batch, 1, 16, 16]"),
    "wrong channels in JSON": ("shapes", b'{"inputs": [[[0.0]]]}', "application/json", {}, 422, "[batch, 1, 16, 16]"),
    "wrong dtype": ("shapes", npy(GOOD.astype(np.float64)), "application/x-npy", {}, 422, "float64"),
    "not npy": ("shapes", b"\x93NUMPY garbage", "application/x-npy", {}, 422, ".npy"),
    "raw bytes of the wrong size": ("shapes", b"\x00" * 12, RAW, {"x-shape": "1,1,16,16"}, 422, "X-Shape"),
    "bad JSON": ("shapes", b"{nope", "application/json", {}, 422, "JSON"),
    "ragged JSON": ("shapes", b'{"inputs": [[1, 2], [3]]}', "application/json", {}, 422, "rectangular"),
    "JSON without inputs": ("shapes", b'{"x": 1}', "application/json", {}, 422, "inputs"),
    "bad base64 image": ("shapes", b'{"image": "***"}', "application/json", {}, 422, "base64"),
    "unknown model": ("nobody", b"x", "image/png", {}, 404, "nobody"),
    "a model without a signature": ("nosig", npy(GOOD), "application/x-npy", {}, 422, "signature"),
    "a corrupt export": ("corrupt", npy(GOOD), "application/x-npy", {}, 422, "corrupt"),
    "no recommended export": ("noexport", npy(GOOD), "application/x-npy", {}, 404, "no recommended export"),
    "an alias that points nowhere": ("shapes@nowhere", npy(GOOD), "application/x-npy", {}, 404, "nowhere"),
    "a model that does not exist": ("ghost", npy(GOOD), "application/x-npy", {}, 404, "ghost"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error(url: str, case: str) -> None:
    model, content, kind, headers, status, says = CASES[case]
    error = error_of(post(url, model, content, kind, **headers), status)
    assert says.lower() in (error["message"] + error["hint"]).lower(), error
    still_serving(url)


def test_unservable_models_name_the_fix(url: str) -> None:
    error = error_of(post(url, "noexport", npy(GOOD), "application/x-npy"), 404)
    assert "daybreak convert noexport@1" in error["hint"]
    error = error_of(post(url, "corrupt", npy(GOOD), "application/x-npy"), 422)
    assert "ONNX Runtime cannot load" in error["message"]


def test_multipart_without_a_file_is_refused(url: str) -> None:
    answer = httpx.post(f"{url}/v1/models/shapes/predict", files={"note": (None, "no file")})
    error_of(answer, 422)
    answer = httpx.post(f"{url}/v1/models/shapes/predict", data={"note": "a form"})
    assert "Content-Type" in error_of(answer, 415)["hint"]
    answer = httpx.post(
        f"{url}/v1/models/shapes/predict", files={"file": ("a.png", b"", "image/png")}
    )
    error_of(answer, 400)


def test_an_unknown_route_and_method_answer_json(url: str) -> None:
    assert httpx.get(f"{url}/v2/nothing").json()["error"]["type"] == "HTTPError"
    assert httpx.get(f"{url}/v1/models/shapes/predict").status_code == 405


def test_readiness_names_the_models_that_are_not_loaded(url: str) -> None:
    answer = httpx.get(f"{url}/readyz")
    assert answer.status_code == 503
    models = answer.json()["models"]
    assert models["shapes@production"] == {"status": "ready"}
    for ref in BROKEN:
        assert models[ref]["status"] == "unavailable" and models[ref]["error"]["message"]
    assert "convert" in models["noexport"]["error"]["hint"]
    listed = {m["ref"]: m for m in httpx.get(f"{url}/v1/models").json()["models"]}
    assert listed["corrupt"]["status"] == "unavailable"
