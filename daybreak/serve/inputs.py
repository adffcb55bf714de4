"""Request bodies to the model's input tensors, checked against its signature: encoded images,
numpy ``.npy`` bytes, raw bytes with ``X-Shape``/``X-Dtype`` headers, or JSON."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import json
from collections.abc import Mapping
from typing import Any

from daybreak.serve import images
from daybreak.serve.errors import (
    BadInputError,
    NoSignatureError,
    UnsupportedMediaTypeError,
)

NPY_MAGIC = b"\x93NUMPY"
NPY_TYPES = ("application/x-npy", "application/npy")
RAW_TYPE = "application/octet-stream"
JSON_TYPE = "application/json"
MULTIPART = "multipart/form-data"
READ_TYPES = ("image/*", *NPY_TYPES, RAW_TYPE, JSON_TYPE, MULTIPART)


@dataclasses.dataclass(frozen=True)
class Expected:
    """One input of the model as its signature gives it (``"batch"`` where the size is free)."""

    name: str
    shape: list[Any]
    dtype: str

    def describe(self) -> str:
        return f"[{', '.join(str(d) for d in self.shape)}] {self.dtype}"


@dataclasses.dataclass
class Batch:
    """The tensors to run, how many rows they hold and, per row, the (width, height) of the
    image it came from (to map outputs back to its pixels); empty when unknown."""

    feeds: dict[str, Any]
    rows: int
    sizes: list[tuple[int, int]]


@dataclasses.dataclass(frozen=True)
class Model:
    """What decoding needs to know about a model."""

    ref: str
    inputs: list[Expected]
    preprocessing: dict[str, Any]

    @property
    def takes_images(self) -> bool:
        return len(self.inputs) == 1 and self.preprocessing.get("kind") == "image"


def expected_inputs(ref: str, signature: Mapping[str, Any] | None) -> list[Expected]:
    inputs = (signature or {}).get("inputs") or []
    if not inputs:
        raise NoSignatureError(
            f"{ref} has no input signature, so the server cannot check or decode its inputs",
            "register the model again (from a run, or its ONNX file with "
            "`daybreak model register-onnx`) so that its signature is recorded",
        )
    return [Expected(i["name"], list(i["shape"]), str(i["dtype"])) for i in inputs]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def from_body(model: Model, kind: str, body: bytes, headers: Mapping[str, str]) -> Batch:
    """The batch in a non-multipart body of media type ``kind``."""
    if kind.startswith("image/"):
        return from_images(model, [body])
    if kind in NPY_TYPES:
        return from_arrays(model, [load_npy(body)])
    if kind == JSON_TYPE:
        return from_json(model, body)
    if kind in (RAW_TYPE, ""):
        if "x-shape" in headers:
            return from_arrays(model, [raw_tensor(model, body, headers)])
        return from_files(model, [body])
    raise UnsupportedMediaTypeError(
        f"the server does not read {kind!r} bodies",
        f"send one of {', '.join(READ_TYPES)} (see docs/serve.md)",
    )


def from_files(model: Model, files: list[bytes]) -> Batch:
    """Uploaded files: ``.npy`` tensors (told by their first bytes) or encoded images."""
    if files and all(f.startswith(NPY_MAGIC) for f in files):
        return from_arrays(model, [load_npy(f) for f in files])
    return from_images(model, files)


def from_images(model: Model, files: list[bytes]) -> Batch:
    import numpy as np

    if not model.takes_images:
        raise UnsupportedMediaTypeError(
            f"{model.ref} takes tensors, not images",
            "send its inputs as application/x-npy or JSON (see GET /v1/models)",
        )
    expected = model.inputs[0]
    decoded = [images.decode(f, model.preprocessing, expected.shape, expected.dtype) for f in files]
    batch = np.stack([pixels for pixels, _ in decoded])
    check(batch, expected)
    return Batch({expected.name: batch}, len(decoded), [size for _, size in decoded])


def from_arrays(model: Model, arrays: list[Any]) -> Batch:
    """One array per file for a one-input model, stacked on the batch axis."""
    import numpy as np

    if len(model.inputs) != 1:
        names = ", ".join(i.name for i in model.inputs)
        raise BadInputError(
            f"{model.ref} takes {len(model.inputs)} inputs ({names})",
            'send them as JSON: {"inputs": {"NAME": [...], ...}}',
        )
    expected = model.inputs[0]
    checked = [check(a, expected) for a in arrays]
    batch = checked[0] if len(checked) == 1 else np.concatenate(checked)
    return Batch({expected.name: batch}, len(batch), tensor_sizes(batch, model))


def tensor_sizes(batch: Any, model: Model) -> list[tuple[int, int]]:
    """The (width, height) of image-shaped rows, for mapping outputs to pixels."""
    if batch.ndim != 4:
        return []
    nhwc = model.preprocessing.get("layout") == "NHWC"
    height, width = batch.shape[1:3] if nhwc else batch.shape[2:4]
    return [(int(width), int(height))] * len(batch)


def check(array: Any, expected: Expected) -> Any:
    """``array`` as the model takes it (a missing batch axis added) or a 422 naming the shape."""
    import numpy as np

    want = expected.shape
    if array.ndim == len(want) - 1 and want and not isinstance(want[0], int):
        array = array[None]
    if array.dtype != np.dtype(expected.dtype):
        raise BadInputError(
            f"input {expected.name!r} is {array.dtype}, the model takes {expected.describe()}",
            f"send {expected.dtype} values (numpy: array.astype('{expected.dtype}'))",
        )
    fits = array.ndim == len(want) and all(
        not isinstance(w, int) or w == got for w, got in zip(want, array.shape, strict=True)
    )
    if not fits or 0 in array.shape:
        raise BadInputError(
            f"input {expected.name!r} has shape {list(array.shape)}, the model expects "
            f"{expected.describe()}",
            "send a tensor of that shape (the batch axis may be left out for one row)",
        )
    return np.ascontiguousarray(array)


_NPY_HEADERS: dict[bytes, tuple[Any, tuple[int, ...], bool]] = {}  # clients resend the same


def load_npy(data: bytes) -> Any:
    """A numpy ``.npy`` array (no pickles, no object arrays), read without a copy; headers
    already seen skip numpy's header parser (most of the cost of ``np.load`` on small arrays)."""
    import numpy as np

    try:
        width = 2 if data[6:7] == b"\x01" else 4
        end = 8 + width + int.from_bytes(data[8 : 8 + width], "little")
        header = data[8 + width : end]
        known = _NPY_HEADERS.get(header)
        if known is None:
            known = _npy_header(data)
            if len(_NPY_HEADERS) < 256:
                _NPY_HEADERS[header] = known
        dtype, shape, fortran = known
        count = 1
        for size in shape:
            count *= size
        array = np.frombuffer(data, dtype, count=count, offset=end)
        return array.reshape(shape, order="F" if fortran else "C")
    except (ValueError, OSError, EOFError, IndexError) as exc:
        raise BadInputError(
            f"the body is not a numpy .npy array: {str(exc).splitlines()[0][:200]}",
            "write it with numpy.save (object arrays and pickles are refused)",
        ) from exc


def _npy_header(data: bytes) -> tuple[Any, tuple[int, ...], bool]:
    from numpy.lib import format as npy

    if not data.startswith(NPY_MAGIC):
        raise ValueError("it does not start with the .npy magic bytes")
    stream = io.BytesIO(data)
    version = npy.read_magic(stream)
    read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, fortran, dtype = read(stream)
    if dtype.hasobject:
        raise ValueError("object arrays are refused")
    return dtype, tuple(shape), bool(fortran)


def raw_tensor(model: Model, body: bytes, headers: Mapping[str, str]) -> Any:
    """Raw little-endian bytes shaped by ``X-Shape: 1,3,224,224`` (``X-Dtype``: the model's
    dtype unless given)."""
    import numpy as np

    dtype_name = headers.get("x-dtype") or model.inputs[0].dtype
    try:
        shape = [int(d) for d in headers["x-shape"].replace("x", ",").split(",") if d.strip()]
        dtype = np.dtype(dtype_name).newbyteorder("<")
        array = np.frombuffer(body, dtype=dtype)
        return array.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    except (ValueError, TypeError) as exc:
        raise BadInputError(
            f"the body ({len(body)} bytes) does not hold a {dtype_name} tensor of shape "
            f"{headers['x-shape']!r}: {str(exc).splitlines()[0][:200]}",
            "X-Shape gives the sizes comma-separated (1,3,224,224), X-Dtype the numpy dtype",
        ) from exc


def from_json(model: Model, body: bytes) -> Batch:
    """``{"inputs": nested list}``, ``{"inputs": {"NAME": nested list}}`` or base64 images
    as ``{"image": "..."}`` / ``{"images": [...]}``."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError(f"the body is not valid JSON: {exc}", 'send {"inputs": [...]}') from exc
    if isinstance(document, dict) and ("image" in document or "images" in document):
        encoded = document.get("images") or [document.get("image")]
        return from_images(model, [_base64(e) for e in encoded])
    if not isinstance(document, dict) or "inputs" not in document:
        raise BadInputError(
            'the JSON body has no "inputs"',
            'send {"inputs": [[...]]}, {"inputs": {"NAME": [...]}} or {"image": "BASE64"}',
        )
    given = document["inputs"]
    if not isinstance(given, dict):
        given = {model.inputs[0].name: given}
    missing = [i.name for i in model.inputs if i.name not in given]
    if missing:
        raise BadInputError(f"no value for input {', '.join(missing)}", "give every input by name")
    feeds = {i.name: check(_array(given[i.name], i), i) for i in model.inputs}
    first = feeds[model.inputs[0].name]
    rows = len(first) if not isinstance(model.inputs[0].shape[0], int) else 1
    return Batch(feeds, rows, tensor_sizes(first, model) if len(feeds) == 1 else [])


def _array(value: Any, expected: Expected) -> Any:
    import numpy as np

    try:
        array = np.array(value)
    except ValueError as exc:
        raise BadInputError(
            f"input {expected.name!r} is not a rectangular nested list of numbers",
            f"send a nested list shaped {expected.describe()}",
        ) from exc
    target = np.dtype(expected.dtype)
    if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and target.kind in "iu"):
        raise BadInputError(
            f"input {expected.name!r} holds {array.dtype} values, the model takes "
            f"{expected.describe()}",
            "send numbers",
        )
    return array.astype(target, copy=False)


def _base64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise BadInputError("an image in JSON must be a base64 string", "base64-encode the file")
    try:
        return base64.b64decode(
            text.split(",", 1)[-1] if text.startswith("data:") else text, validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise BadInputError(
            f"the image is not valid base64: {exc}", "base64-encode the file"
        ) from exc
