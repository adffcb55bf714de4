"""Reading asset bytes from one pinned version of the assets table, by row position.

The ``data`` column is a Lance blob column: each row's bytes sit whole in the fragment's data
file, and the column reads back as a ``(position, size)`` descriptor. ``AssetReader`` loads the
descriptors once, then reads bytes with positioned reads: ``os.pread`` on local files (after
asking the kernel to read every range ahead at once, so a cold batch costs one round of parallel
IO, not one per row), ``cat_ranges`` (concurrent range requests) on object storage. A table
written before the blob column (plain ``large_binary``) is read with Lance's ``take``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from daybreak.lake.tables import Lake

BLOB = b"lance-encoding:blob"
SCAN_CHUNK = 16 << 20


def is_blob(dataset: Any) -> bool:
    metadata = dataset.schema.field("data").metadata or {}
    return metadata.get(BLOB) == b"true"


class AssetReader:
    """Asset bytes at one table version: ``read([row positions])``, ``scan()``, ``position``."""

    def __init__(self, lake: Lake, version: int | None = None) -> None:
        dataset = lake.open("assets", version)
        if dataset is None:
            raise ValueError("the lake has no assets yet")
        self.dataset = dataset
        self.version = int(dataset.version)
        self.blob = is_blob(dataset)
        columns = ["sha256", "data"] if self.blob else ["sha256"]
        table = dataset.to_table(columns=columns, with_row_address=self.blob)
        self.sha256: list[str] = table.column("sha256").to_pylist()
        self._position: dict[str, int] | None = None
        if self.blob:
            data = table.column("data").combine_chunks()
            self.offsets = data.field("position").to_numpy().astype(np.int64)
            self.sizes = data.field("size").to_numpy().astype(np.int64)
            fragments = (table.column("_rowaddr").to_numpy() >> 32).astype(np.int64)
            self.files, self.file_of = _data_files(lake, dataset, fragments)
        self._handles: dict[int, int] = {}
        self._scratch = bytearray()
        self._pid = os.getpid()
        self.local = "://" not in lake.uri("assets") or lake.uri("assets").startswith("file://")

    def __len__(self) -> int:
        return len(self.sha256)

    @property
    def position(self) -> dict[str, int]:
        """Each asset's row position in this table version."""
        if self._position is None:
            self._position = {sha: i for i, sha in enumerate(self.sha256)}
        return self._position

    def read(self, positions: list[int]) -> list[bytes]:
        """The bytes of the rows at ``positions``, in that order, in one round of IO."""
        if not positions:
            return []
        if not self.blob:
            return self.dataset.take(positions, columns=["data"]).column("data").to_pylist()
        rows = np.asarray(positions, dtype=np.int64)
        if self.local:
            return self._pread(rows)
        return self._ranges(rows)

    def scan(self, batch: int = 1024) -> Iterator[list[bytes]]:
        """Every row's bytes in position order, ``batch`` rows at a time, read sequentially in
        large chunks."""
        if not self.blob:
            for part in self.dataset.to_batches(columns=["data"], batch_size=batch):
                yield part.column("data").to_pylist()
            return
        for start in range(0, len(self), batch):
            yield self._sequential(np.arange(start, min(start + batch, len(self))))

    def _fd(self, file: int) -> int:
        handle = self._handles.get(file)
        if handle is None:
            handle = self._handles[file] = os.open(self.files[file], os.O_RDONLY)
        return handle

    def _check_process(self) -> None:
        if self._pid != os.getpid():  # a forked worker opens its own files
            self._handles, self._pid = {}, os.getpid()

    def _pread(self, rows: np.ndarray) -> list[bytes]:
        self._check_process()
        offsets, sizes = self.offsets[rows].tolist(), self.sizes[rows].tolist()
        handles = [self._fd(f) for f in self.file_of[rows].tolist()]
        if len(rows) > 1:  # the kernel fetches every range at once when they are not cached
            for fd, offset, size in zip(handles, offsets, sizes, strict=True):
                os.posix_fadvise(fd, offset, size, os.POSIX_FADV_WILLNEED)
        out = [
            os.pread(fd, size, offset)
            for fd, offset, size in zip(handles, offsets, sizes, strict=True)
        ]
        if sum(map(len, out)) != sum(sizes):
            raise OSError("a lake data file is shorter than its table says (truncated?)")
        return out

    def _ranges(self, rows: np.ndarray) -> list[bytes]:
        import fsspec

        fs, _ = fsspec.core.url_to_fs(self.files[0])
        starts = self.offsets[rows]
        ends = starts + self.sizes[rows]
        paths = [fs._strip_protocol(self.files[int(f)]) for f in self.file_of[rows]]
        return [bytes(b) for b in fs.cat_ranges(paths, starts.tolist(), ends.tolist())]

    def _sequential(self, rows: np.ndarray) -> list[bytes]:
        """Rows that sit one after another in one file (a scan's batch): one read for all, into
        a buffer kept for the next batch."""
        offsets, sizes, files = self.offsets[rows], self.sizes[rows], self.file_of[rows]
        first, last = int(offsets[0]), int(offsets[-1] + sizes[-1])
        ordered = bool(np.all(files == files[0]) and np.all(np.diff(offsets) >= 0))
        if not (self.local and ordered and last - first <= 4 * SCAN_CHUNK):
            return self.read(rows.tolist())
        self._check_process()
        if len(self._scratch) < last - first:
            self._scratch = bytearray(last - first)
        chunk = memoryview(self._scratch)[: last - first]
        if os.preadv(self._fd(int(files[0])), [chunk], first) != last - first:
            raise OSError(f"{self.files[int(files[0])]} is shorter than its table says")
        starts = (offsets - first).tolist()
        return [
            bytes(chunk[at : at + size]) for at, size in zip(starts, sizes.tolist(), strict=True)
        ]

    def close(self) -> None:
        if self._pid == os.getpid():
            for handle in self._handles.values():
                os.close(handle)
        self._handles = {}

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("an AssetReader is per process: open one in each worker")


def _data_files(lake: Lake, dataset: Any, fragments: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The file holding the ``data`` column of each fragment, and each row's index into them."""
    field_id = dataset.lance_schema.field("data").id()
    root = lake.uri("assets").rstrip("/")
    files: list[str] = []
    index: dict[int, int] = {}
    for fragment in dataset.get_fragments():
        for data_file in fragment.data_files():
            if field_id in data_file.fields:
                index[fragment.fragment_id] = len(files)
                files.append(f"{root}/data/{data_file.path}")
    return files, np.asarray([index[int(f)] for f in fragments], dtype=np.int32)


def read_assets(
    lake: Lake, version: int | None, shas: Sequence[str], columns: list[str], chunk: int = 256
) -> Iterator[dict[str, Any]]:
    """Rows of the assets ``shas`` at table ``version``, in that order, a chunk per storage call
    (``data`` holds the bytes)."""
    reader = AssetReader(lake, version)
    metadata = [c for c in columns if c != "data"]
    try:
        for start in range(0, len(shas), chunk):
            wanted = [reader.position[sha] for sha in shas[start : start + chunk]]
            rows = (
                reader.dataset.take(wanted, columns=metadata).to_pylist()
                if metadata
                else [{} for _ in wanted]
            )
            if "data" in columns:
                for row, raw in zip(rows, reader.read(wanted), strict=True):
                    row["data"] = raw
            yield from rows
    finally:
        reader.close()
