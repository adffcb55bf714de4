"""Small thumbnails of lake assets and of their masks, for the dataset pages.

Assets are addressed by the sha256 of their bytes, so a thumbnail of (sha256, size) never
changes: it is made once with Pillow, kept under ``$DAYBREAK_HOME/cache/thumbnails`` (written
under a temporary name and renamed) and served with a strong ETag for the browser to keep.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from daybreak.config import Settings
from daybreak.errors import ConfigError, NotFoundError
from daybreak.lake.datasets import DatasetVersion, labels_of
from daybreak.lake.reader import AssetReader
from daybreak.lake.tables import Lake

SIZES = (64, 96, 128, 160, 192, 256, 320, 480)
DEFAULT_SIZE = 192
SMALL_PNG = 256 * 256  # PNG sources up to this many pixels stay PNG (crisp, still small)
JPEG_QUALITY = 82
OPEN_READERS = 4
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Thumbnail:
    data: bytes
    media_type: str
    etag: str


def check_size(size: int) -> int:
    if size not in SIZES:
        raise ConfigError(
            f"thumbnail size {size} is not offered", f"use one of {', '.join(map(str, SIZES))}"
        )
    return size


def check_sha(sha256: str) -> str:
    if not SHA256.fullmatch(sha256):
        raise NotFoundError(f"{sha256[:80]!r} is not an asset id", "an asset id is 64 hex digits")
    return sha256


def cache_dir(settings: Settings) -> Path:
    return settings.home / "cache" / "thumbnails"


def thumbnail(settings: Settings, record: DatasetVersion, sha256: str, size: int) -> Thumbnail:
    """The thumbnail (longest side ``size``) of an asset of ``record``, from the cache or made
    now from the asset's bytes at the version's pinned table."""
    check_size(size)
    check_sha(sha256)
    folder = cache_dir(settings) / sha256[:2]
    for ext, media in (("jpg", "image/jpeg"), ("png", "image/png")):
        path = folder / f"{sha256}-{size}.{ext}"
        if path.is_file():
            return Thumbnail(path.read_bytes(), media, f"{sha256[:20]}-{size}")
    data, ext = _make(_asset_bytes(settings, record, sha256), size)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sha256}-{size}.{ext}"
    partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
    partial.write_bytes(data)
    partial.replace(path)
    media = "image/png" if ext == "png" else "image/jpeg"
    return Thumbnail(data, media, f"{sha256[:20]}-{size}")


def _make(raw: bytes, size: int) -> tuple[bytes, str]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:
            source_format = image.format
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            small = image.convert("RGB")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ConfigError(f"the asset is not an image Pillow can read: {exc}", "") from exc
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if source_format == "PNG" and small.width * small.height <= SMALL_PNG:
        small.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), "png"
    small.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue(), "jpg"


_readers: OrderedDict[tuple[str, int | None], AssetReader] = OrderedDict()
_readers_lock = threading.Lock()


def _reader(settings: Settings, version: int | None) -> AssetReader:
    """An open reader per table version (loading its descriptors once, not per thumbnail)."""
    lake = Lake(settings)
    key = (lake.uri("assets"), version)
    with _readers_lock:
        found = _readers.get(key)
        if found is None:
            found = _readers[key] = AssetReader(lake, version)
            while len(_readers) > OPEN_READERS:
                _readers.popitem(last=False)[1].close()
        _readers.move_to_end(key)
        return found


def _asset_bytes(settings: Settings, record: DatasetVersion, sha256: str) -> bytes:
    reader = _reader(settings, record.assets_version)
    position = reader.position.get(sha256)
    if position is None:
        raise NotFoundError(f"{record.ref} has no asset {sha256}", "pick one from its samples")
    with _readers_lock:  # positioned reads share the reader's file handles
        return reader.read([position])[0]


def mask_png(
    settings: Settings, record: DatasetVersion, sha256: str, index: int, size: int
) -> Thumbnail:
    """Annotation ``index`` of an asset as a white-on-black PNG the size of its thumbnail:
    the page colours it and lays it over the image."""
    from PIL import Image

    from daybreak.lake.masks import decode_mask

    check_size(size)
    row = _annotation_row(settings, record, sha256, index)
    try:
        array = decode_mask(row.get("mask"), row.get("meta"))
    except ValueError as exc:
        raise NotFoundError(f"label {index} of {sha256[:12]} has no mask: {exc}", "") from exc
    image = Image.fromarray(((array > 0) * 255).astype("uint8"), mode="L")
    image.thumbnail((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return Thumbnail(buffer.getvalue(), "image/png", f"m{sha256[:20]}-{index}-{size}-{record.ref}")


def _annotation_row(
    settings: Settings, record: DatasetVersion, sha256: str, index: int
) -> dict[str, Any]:
    """The asset's ``index``-th label row of the version's snapshot (masks included)."""
    import pyarrow.parquet as pq

    from daybreak.blobs import BlobStore
    from daybreak.lake.datasets import labels_uri

    blobs = BlobStore(settings.blobs_url)
    key = blobs.key_of(labels_uri(record))
    if blobs.exists(key):
        with blobs.open(key) as handle:
            rows = pq.read_table(handle, filters=[("sha256", "==", sha256)]).to_pylist()
    else:
        rows = [r for r in labels_of(Lake(settings), settings, record) if r["sha256"] == sha256]
    if not 0 <= index < len(rows):
        raise NotFoundError(f"{record.ref} has no label {index} on {sha256[:12]}", "")
    return dict(rows[index])
