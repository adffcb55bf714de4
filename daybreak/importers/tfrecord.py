"""TFRecord files (TensorBoard event files) read with their checksums verified, fast.

A record is a little-endian uint64 length, the masked CRC-32C of those 8 bytes, the data and
the masked CRC-32C of the data. TensorBoard's own reader checks the checksums in pure Python
(~10 µs a record, most of an import's time) and treats a bad one as the end of the file; here
checksums are computed with numpy for many records at once, and a bad one is an error.
"""

from __future__ import annotations

import array
import dataclasses
import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from daybreak.errors import ImportFormatError

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8
_GROUP_ROWS = 1 << 18  # records checksummed in one numpy pass (bounds its memory)
_FEW_ROWS = 16  # a group of fewer records is checksummed in Python


def _table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _table()
_TABLE_LIST = [int(x) for x in _TABLE]


def masked_crc(data: bytes) -> int:
    """Masked CRC-32C of one byte string, in Python (for the odd long record)."""
    crc = 0xFFFFFFFF
    table = _TABLE_LIST
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crcs(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Masked CRC-32C of ``buffer[start:start + length]`` for each record, in numpy.

    Records are taken longest first, in groups of similar length: numpy steps through a
    group byte by byte, for all its records at once; a group of a few records is cheaper in
    Python.
    """
    out = np.empty(len(starts), dtype=np.uint32)
    order = np.argsort(-lengths, kind="stable")
    ordered = lengths[order]
    first = 0
    while first < len(order):
        longest = int(ordered[first])
        stop = int(np.searchsorted(-ordered, -(longest // 2), side="right"))
        stop = min(max(stop, first + 1), first + _GROUP_ROWS)
        group = order[first:stop]
        first = stop
        if len(group) < _FEW_ROWS:
            for index in group:
                begin = int(starts[index])
                out[index] = masked_crc(buffer[begin : begin + int(lengths[index])].tobytes())
        else:
            out[group] = _crc_group(buffer, starts[group], lengths[group], longest)
    return out


def _crc_group(
    buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray, longest: int
) -> np.ndarray:
    """CRCs of records sorted longest first: byte ``j`` is fed to those longer than ``j``,
    a prefix of them."""
    longer = np.searchsorted(-lengths, -np.arange(longest), side="left")
    crc = np.full(len(starts), 0xFFFFFFFF, dtype=np.uint32)
    for j in range(longest):
        n = longer[j]
        head = crc[:n]
        crc[:n] = _TABLE[(head ^ buffer[starts[:n] + j]) & 0xFF] ^ (head >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(_MASK_DELTA)


@dataclasses.dataclass
class Records:
    """The records of one file: ``starts`` and ``lengths`` of each record's data in ``buffer``."""

    path: Path
    buffer: np.ndarray
    raw: bytes | mmap.mmap
    starts: np.ndarray
    lengths: np.ndarray
    truncated: int  # bytes at the end that do not make a whole record (a writer cut off)

    def __len__(self) -> int:
        return len(self.starts)

    def data(self, index: int) -> bytes:
        start = int(self.starts[index])
        return self.raw[start : start + int(self.lengths[index])]

    def verify(self, indices: np.ndarray) -> None:
        """Check the data checksums of these records; raise on the first that is wrong."""
        if not len(indices):
            return
        starts, lengths = self.starts[indices], self.lengths[indices]
        found = masked_crcs(self.buffer, starts, lengths)
        expected = self.buffer[(starts + lengths)[:, None] + np.arange(4)].copy().view("<u4")
        bad = np.flatnonzero(found != expected[:, 0])
        if len(bad):
            index = int(indices[bad[0]])
            raise corrupt(self.path, self.starts[index] - 12, "its data fails the checksum")


@contextmanager
def open_records(path: Path) -> Iterator[Records]:
    """Frame the records of ``path`` (checking every length's checksum); the file is mapped,
    not read, so a large file costs little memory."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        if size == 0:
            yield Records(path, np.empty(0, np.uint8), b"", *_empty(), truncated=0)
            return
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            records = _frame(path, np.frombuffer(mapped, dtype=np.uint8), mapped)
            try:
                yield records
            finally:
                records.buffer, records.raw = np.empty(0, np.uint8), b""
        finally:
            # an error's traceback may still hold a view of the map: then it closes with it
            with suppress(BufferError):
                mapped.close()


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, np.int64), np.empty(0, np.int64)


def _frame(path: Path, buffer: np.ndarray, raw: mmap.mmap) -> Records:
    size = len(buffer)
    heads = array.array("q")
    sizes = array.array("q")
    position = 0
    unpack = struct.Struct("<Q").unpack_from
    while position + 12 <= size:
        (length,) = unpack(raw, position)
        end = position + 16 + length
        if end > size:
            break
        heads.append(position)
        sizes.append(length)
        position = end
    tail = size - position
    if tail >= 12:  # a partial record: cut off (fine), unless its length is garbage
        (expected,) = struct.unpack_from("<I", raw, position + 8)
        if masked_crc(bytes(raw[position : position + 8])) != expected:
            raise corrupt(path, position, "its length fails the checksum")
    starts = np.frombuffer(heads, dtype=np.int64) if heads else np.empty(0, np.int64)
    if len(starts):
        found = masked_crcs(buffer, starts, np.full(len(starts), 8, dtype=np.int64))
        expected = buffer[(starts + 8)[:, None] + np.arange(4)].copy().view("<u4")[:, 0]
        bad = np.flatnonzero(found != expected)
        if len(bad):
            raise corrupt(path, int(starts[bad[0]]), "its length fails the checksum")
    lengths = np.frombuffer(sizes, dtype=np.int64) if sizes else np.empty(0, np.int64)
    return Records(path, buffer, raw, starts + 12, lengths, tail)


def corrupt(path: Path, offset: int, why: str) -> ImportFormatError:
    return ImportFormatError(
        f"{path} is not a readable TensorBoard event file: the record at byte {offset} {why}",
        "the file is damaged; move it (or its folder) out of the way and import again; "
        "nothing was imported",
    )
