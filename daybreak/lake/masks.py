"""The one place masks are encoded and decoded.

Stored form: the ``mask`` column of ``annotations`` holds PNG bytes of an 8-bit HxW array, the
size of the asset, and the row's ``meta`` says ``"mask_encoding": "png"``. Non-zero is foreground.
Masks from COCO (RLE, polygons) and Label Studio (brush, polygons) are stored as 0/1; a PNG mask
from a CSV/JSONL file keeps its pixel values, so a class map (one class per value) stays one.
Rows written before this module have no mask bytes and keep a COCO RLE in ``meta["rle"]``;
:func:`decode_mask` reads both.

Decoders raise ``ValueError`` with a message fit to show after the record's place in the file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

ENCODING = "png"


def encode_mask(array: np.ndarray) -> bytes:
    """PNG bytes (8-bit grayscale) of an HxW bool or uint8 array: the stored form."""
    from PIL import Image

    if array.ndim != 2:
        raise ValueError(f"a mask is HxW, not {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_mask(mask: bytes | None, meta: str | dict[str, Any] | None = None) -> np.ndarray:
    """The HxW uint8 array of a stored mask: PNG bytes, or the older COCO RLE in ``meta``."""
    if mask is not None:
        return read_png(mask)
    info = json.loads(meta) if isinstance(meta, str) else (meta or {})
    if isinstance(info.get("rle"), dict):
        return from_coco_rle(info["rle"])
    raise ValueError("the row has no mask")


def read_png(data: bytes) -> np.ndarray:
    """A single-channel or palette PNG as HxW uint8 (palette images give their indices)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.format != "PNG":
                raise ValueError(f"it is {image.format}, not PNG")
            if image.mode not in ("1", "L", "P", "I", "I;16", "I;16B"):
                raise ValueError(
                    f"it has mode {image.mode}; save it as a grayscale (L) or palette (P) PNG"
                )
            array = np.asarray(image)
    except (OSError, UnidentifiedImageError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"it does not decode as a PNG ({exc})") from exc
    if array.size and (int(array.min()) < 0 or int(array.max()) > 255):
        raise ValueError("it has values outside 0-255, which an 8-bit mask cannot hold")
    return array.astype(np.uint8)


def polygons_to_mask(polygons: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """Fill polygons (each ``[x1, y1, x2, y2, ...]`` in pixels) into an HxW 0/1 array."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    for points in polygons:
        if len(points) % 2 or len(points) < 6:
            raise ValueError("a polygon needs at least 3 x, y points")
        draw.polygon([float(v) for v in points], fill=1, outline=1)
    return np.asarray(image, dtype=np.uint8)


def _runs_to_mask(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    if any(c < 0 for c in counts) or sum(counts) != height * width:
        raise ValueError(f"RLE counts do not add up to {height}x{width} pixels")
    values = np.zeros(len(counts), dtype=np.uint8)
    values[1::2] = 1
    flat = np.repeat(values, np.asarray(counts, dtype=np.int64))
    return flat.reshape((width, height)).T.copy()  # COCO runs go down the columns


def _counts_from_string(text: str) -> list[int]:
    """pycocotools' compressed counts: 5-bit groups, ASCII offset 48, deltas from two back."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise ValueError("the compressed RLE string ends in the middle of a number")
            c = ord(text[position]) - 48
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            position += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _counts_to_string(counts: Sequence[int]) -> str:
    out = []
    for i, count in enumerate(counts):
        value = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = value & 0x1F
            value >>= 5
            more = value != -1 if c & 0x10 else value != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


def from_coco_rle(rle: dict[str, Any]) -> np.ndarray:
    """A COCO RLE (``counts`` a list, or pycocotools' compressed string) as HxW 0/1."""
    size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise ValueError("an RLE needs size [height, width]")
    if isinstance(counts, str):
        counts = _counts_from_string(counts)
    if not isinstance(counts, list) or not all(isinstance(c, int) for c in counts):
        raise ValueError("RLE counts must be a list of integers or a compressed string")
    return _runs_to_mask(counts, size[0], size[1])


def to_coco_rle(array: np.ndarray, compressed: bool = True) -> dict[str, Any]:
    """COCO RLE of the foreground (non-zero) of an HxW array: ``{"size": [h, w], "counts"}``,
    counts as pycocotools' string when ``compressed``, else a list."""
    flat = (np.asarray(array) != 0).T.ravel().astype(np.int8)  # column-major, as COCO
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts.insert(0, 0)  # COCO counts start with a run of background
    height, width = array.shape
    return {"size": [height, width], "counts": _counts_to_string(counts) if compressed else counts}


def coco_fields(mask: bytes | None, meta: str | dict[str, Any] | None) -> dict[str, Any]:
    """``segmentation`` (compressed RLE), ``area`` and ``bbox`` of a stored mask, for COCO."""
    array = decode_mask(mask, meta) != 0
    ys, xs = np.nonzero(array)
    bbox = (
        [
            float(xs.min()),
            float(ys.min()),
            float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1),
        ]
        if xs.size
        else [0.0, 0.0, 0.0, 0.0]
    )
    return {"segmentation": to_coco_rle(array), "area": int(array.sum()), "bbox": bbox}


class _Bits:
    """Reads big-endian bit fields from bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def read(self, size: int) -> int:
        end = self.position + size
        if end > len(self.data) * 8:
            raise ValueError("the brush RLE ends early")
        first, last = self.position // 8, (end + 7) // 8
        chunk = int.from_bytes(self.data[first:last], "big")
        self.position = end
        return (chunk >> (last * 8 - end)) & ((1 << size) - 1)


def from_labelstudio_rle(rle: Sequence[int], width: int, height: int) -> np.ndarray:
    """Label Studio's brush RLE (label-studio-converter ``brush.decode_rle``) as HxW 0/1.

    The bit stream: 32 bits value count, 5 bits word size - 1, four 4-bit run-length sizes - 1;
    then blocks of 1 bit (run or literals), 2 bits (which run-length size), the length - 1, and
    one word (run) or length words (literals). The values are RGBA; the alpha is the mask.
    """
    if not all(isinstance(v, int) and 0 <= v <= 255 for v in rle):
        raise ValueError("brush rle must be a list of bytes (0-255)")
    bits = _Bits(bytes(rle))
    count = bits.read(32)
    if count != width * height * 4:
        raise ValueError(f"brush RLE holds {count} values, not {width}x{height}x4")
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(count, dtype=bool)  # only non-zero matters
    i = 0
    while i < count:
        run = bits.read(1)
        j = min(count, i + 1 + bits.read(sizes[bits.read(2)]))
        if run:
            out[i:j] = bits.read(word) > 0
        else:
            out[i:j] = [bits.read(word) > 0 for _ in range(j - i)]
        i = j
    return out.reshape(height, width, 4)[:, :, 3].astype(np.uint8)


__all__ = [
    "ENCODING",
    "coco_fields",
    "decode_mask",
    "encode_mask",
    "from_coco_rle",
    "from_labelstudio_rle",
    "polygons_to_mask",
    "read_png",
    "to_coco_rle",
]
