"""``TorchDataset``: a dataset version as a map-style PyTorch dataset.

Rows are fetched many at a time (``__getitems__``, which the DataLoader's batch fetcher
calls) from the assets table at the version the dataset was made from, so a version reads the
same bytes whatever was ingested later. The Lance table is opened lazily in each process: Lance
is not fork-safe once opened, so workers open their own.

Two fast paths for when JPEG decoding on the CPU cannot keep a GPU busy:

- ``decode=False`` with ``collate_encoded`` and ``decode_jpegs``: the encoded bytes go to the GPU
  and nvJPEG decodes them there (through torchvision, where it is installed).
- ``cache=(height, width)``: every image of the split decoded once, resized to the training
  resolution and kept as one uint8 array on local disk (memory-mapped), per dataset version,
  split and resolution. Items are then ``uint8`` tensors ``[3, height, width]``.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from daybreak.config import Settings, get_settings
from daybreak.errors import ConfigError
from daybreak.lake import datasets
from daybreak.lake.reader import AssetReader
from daybreak.lake.tables import Lake


class TorchDataset:
    """``TorchDataset("pose@3", split="train", transform=fn)``: items are ``(image, label)``
    where ``image`` is a PIL image (the raw encoded bytes with ``decode=False``, e.g. for GPU
    decoding), passed through ``transform``, and ``label`` the index of the asset's first label
    in ``classes`` (-1 when it has none)."""

    def __init__(
        self,
        ref: str,
        split: str | None = "train",
        transform: Callable[[Any], Any] | None = None,
        settings: Settings | None = None,
        decode: bool = True,
        run: Any = None,
        cache: tuple[int, int] | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.version = datasets.get(self.settings, ref)
        datasets.require_readable(self.version)
        if split is not None and split not in self.version.splits:
            raise ConfigError(
                f"{self.version.ref} has no split {split!r}",
                f"its splits: {', '.join(self.version.splits)}",
            )
        rows = datasets.rows(self.settings, self.version).to_pydict()
        keep = [i for i, s in enumerate(rows["split"]) if split is None or s == split]
        self.sha256 = [rows["sha256"][i] for i in keep]
        all_labels = sorted({label for labels in rows["labels"] for label in labels})
        self.classes = all_labels
        index = {label: i for i, label in enumerate(all_labels)}
        self.targets = [index[rows["labels"][i][0]] if rows["labels"][i] else -1 for i in keep]
        self.transform = transform
        self.decode = decode
        self._record_lineage(run, split)
        self._positions: list[int] | None = None
        self._reader: AssetReader | None = None
        self.cache_path: Path | None = None
        self._cache: Any = None
        if cache is not None:
            self.cache_path = self._build_cache(split, cache)

    def _record_lineage(self, run: Any, split: str | None) -> None:
        """Inside a run (the one given, or the only one active in this process), note that it
        read this dataset version."""
        if run is None:
            from daybreak.tracking.hooks import active_runs

            active = active_runs()
            run = active[0] if len(active) == 1 else None
        if run is None or self.settings.remote:
            return
        if getattr(getattr(run, "settings", None), "db_url", self.settings.db_url) != (
            self.settings.db_url
        ):
            return  # a run of another store (another home) did not read this version
        run.flush()  # registered before the lineage row points at it
        datasets.record_use(self.settings, run.id, self.version, split)

    def __len__(self) -> int:
        return len(self.sha256)

    def _open(self) -> AssetReader:
        if self._reader is None:
            reader = AssetReader(Lake(self.settings), self.version.assets_version)
            where = reader.position  # of the pinned version: stable, unlike the live table's
            self._positions = [where[sha] for sha in self.sha256]
            self._reader = reader
        return self._reader

    def __getitems__(self, indices: list[int]) -> list[tuple[Any, int]]:
        """Fetch a batch of rows with one storage call."""
        from PIL import Image

        if self.cache_path is not None:
            return self._cached_items(indices)
        reader = self._open()
        assert self._positions is not None
        data = reader.read([self._positions[i] for i in indices])
        out = []
        for i, raw in zip(indices, data, strict=True):
            item: Any = raw
            if self.decode:
                item = Image.open(io.BytesIO(raw))
                item.load()
            out.append((self.transform(item) if self.transform else item, self.targets[i]))
        return out

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.__getitems__([index])[0]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_reader"] = None  # each worker opens its own
        state["_cache"] = None  # and maps the cache itself
        return state

    def _build_cache(self, split: str | None, size: tuple[int, int]) -> Path:
        """The split's images decoded and resized to ``size`` (height, width), as one ``.npy``
        file under ``$DAYBREAK_HOME/cache``; built once, then reused by every process."""
        height, width = size
        if height <= 0 or width <= 0:
            raise ConfigError(f"cache size {size} is not a size", "give (height, width) in pixels")
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", self.version.name)
        folder = self.settings.home / "cache" / "datasets" / name
        path = folder / (
            f"v{self.version.version}-{self.version.fingerprint[:16]}-"
            f"{split or 'all'}-{height}x{width}.npy"
        )
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            try:
                _write_cache(self, partial, height, width)
                os.replace(partial, path)  # readers see a whole cache or none
            finally:
                partial.unlink(missing_ok=True)
        return path

    def _cached_items(self, indices: list[int]) -> list[tuple[Any, int]]:
        import numpy as np
        import torch

        if self._cache is None:
            assert self.cache_path is not None
            self._cache = np.load(self.cache_path, mmap_mode="r")
        order = np.asarray(indices)
        batch = torch.from_numpy(self._cache[order])
        return [
            (self.transform(image) if self.transform else image, self.targets[i])
            for image, i in zip(batch, indices, strict=True)
        ]


def _write_cache(dataset: TorchDataset, path: Path, height: int, width: int) -> None:
    """Decode ``dataset``'s images with a thread pool (Pillow decodes without the GIL) into a
    memory-mapped ``[N, 3, height, width]`` uint8 array (the layout models take)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from PIL import Image
    from rich.progress import Progress

    def decoded(raw: bytes) -> Any:
        with Image.open(io.BytesIO(raw)) as image:
            image.draft("RGB", (width, height))  # JPEG: decode at a reduced scale when it can
            rgb = image.convert("RGB")
            if rgb.size != (width, height):
                rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(rgb).transpose(2, 0, 1)

    array = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint8, shape=(len(dataset), 3, height, width)
    )
    workers = min(8, (os.cpu_count() or 1) + 1)
    with (
        ThreadPoolExecutor(workers) as pool,
        Progress(transient=True, disable=not sys.stderr.isatty()) as progress,
    ):
        task = progress.add_task(f"caching {dataset.version.ref}", total=len(dataset))
        position = 0
        for chunk in _encoded_chunks(dataset):
            for offset, pixels in enumerate(pool.map(decoded, chunk)):
                array[position + offset] = pixels
            position += len(chunk)
            progress.update(task, advance=len(chunk))
    array.flush()
    del array


def _encoded_chunks(dataset: TorchDataset, size: int = 512) -> Iterator[list[bytes]]:
    reader = dataset._open()
    assert dataset._positions is not None
    for start in range(0, len(dataset), size):
        yield reader.read(dataset._positions[start : start + size])


def collate_encoded(batch: list[tuple[bytes, int]]) -> tuple[list[Any], Any]:
    """``collate_fn`` for ``decode=False``: the encoded images as 1-D uint8 tensors (what
    ``decode_jpegs`` takes) and the targets as one tensor."""
    import numpy as np
    import torch

    encoded = [torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).copy()) for raw, _ in batch]
    return encoded, torch.tensor([target for _, target in batch])


def decode_jpegs(encoded: list[Any], device: str = "cuda") -> list[Any]:
    """Decode a batch of JPEGs on ``device`` (nvJPEG on a CUDA device) into uint8 ``[3, H, W]``
    tensors, through torchvision."""
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "decoding JPEGs on the GPU needs torchvision (it calls nvJPEG)",
            "pip install the torchvision that matches your torch build, "
            "or decode on the CPU with TorchDataset(..., decode=True)",
        ) from exc
    return list(decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device))
