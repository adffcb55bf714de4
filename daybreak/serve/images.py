"""Encoded images (PNG, JPEG, ...) to the tensor a model takes, as its preprocessing says:
decoded by Pillow, converted to its channels, resized, scaled and normalised."""

from __future__ import annotations

import io
from typing import Any

from daybreak.serve.errors import BadInputError, NotAnImageError

MAX_PIXELS = 50_000_000  # a small file can decode to a huge image; refuse before decoding


def input_size(prep: dict[str, Any], shape: list[Any]) -> tuple[int, int]:
    """The (height, width) the model takes: its preprocessing's ``resize``, else its input."""
    if prep.get("resize"):
        height, width = prep["resize"]
        return int(height), int(width)
    nhwc = prep.get("layout") == "NHWC"
    dims = shape[1:3] if nhwc else shape[2:4]
    if len(dims) == 2 and all(isinstance(d, int) for d in dims):
        return int(dims[0]), int(dims[1])
    raise BadInputError(
        "the model's input has no fixed image size, and its preprocessing gives none",
        "send a tensor (application/x-npy) instead of an image",
    )


def channels_of(prep: dict[str, Any], shape: list[Any]) -> int:
    if prep.get("channels"):
        return int(prep["channels"])
    dim = shape[3] if prep.get("layout") == "NHWC" else shape[1]
    return dim if isinstance(dim, int) else 3


def decode(
    data: bytes, prep: dict[str, Any], shape: list[Any], dtype: str
) -> tuple[Any, tuple[int, int]]:
    """One image as the model's input without the batch axis, and its own (width, height)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise NotAnImageError(
                f"the image is {image.width}x{image.height} pixels, more than the server decodes",
                f"send an image of at most {MAX_PIXELS:,} pixels",
            )
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImageError(
            f"the body is not an image Pillow can read ({str(exc).splitlines()[0][:200]})",
            "send a PNG or JPEG file, or a tensor as application/x-npy",
        ) from exc
    own = image.size
    channels = channels_of(prep, shape)
    converted = image.convert("L" if channels == 1 else "RGB")
    height, width = input_size(prep, shape)
    if converted.size != (width, height):
        converted = converted.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.float32).reshape(height, width, -1)
    pixels = _normalise(pixels, prep, pixels.shape[-1])
    if prep.get("layout", "NCHW") != "NHWC":
        pixels = pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(pixels, dtype=dtype), own


def _normalise(pixels: Any, prep: dict[str, Any], channels: int) -> Any:
    """``(pixels * scale - mean) / std`` per channel; scale defaults to 1/255."""
    import numpy as np

    pixels *= float(prep.get("scale", 1 / 255))
    mean = np.asarray(prep.get("mean") or [0.0], dtype=np.float32)
    std = np.asarray(prep.get("std") or [1.0], dtype=np.float32)
    if mean.any():
        pixels -= np.broadcast_to(mean, (channels,))
    if (std != 1).any():
        pixels /= np.broadcast_to(std, (channels,))
    return pixels
