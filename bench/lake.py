"""The lake against plain files with a Parquet index, measured in the same run.

Reference workload: 20,000 JPEGs of 128x128 (~6 KB each) in 10 labelled folders. The baseline
keeps the same files on disk with a Parquet index (path, label, width, height, size).

1. ingest: ``daybreak.lake.ingest`` (read, sha256, structure check, metadata, Lance commit) in
   images/s (floor ≥ 5,000), and the lake's disk use over the payload (floor ≤ 1.05x).
2. batched random access: 64 random rows per call, Lance ``take`` vs reading 64 files;
   warm (floor ≥ 1.0x the files' images/s) and cold, page cache evicted (floor ≥ 1.5x).
3. full scan without decode: every image's bytes (floor ≥ 3x the files).
4. predicate → row ids on a warm ``LakeQuery`` (floor ≤ 10 ms); predicate plus fetching the
   selected images (floor ≤ 0.6x the baseline's time: Parquet filter, then read the files).
5. DataLoader with JPEG decode, 2 workers, batch 64: ``TorchDataset`` vs a files dataset
   (floor ≥ 0.9x, i.e. within 10%).
6. the pre-decoded cache (``TorchDataset(..., cache=(128, 128))``, read in the main process as
   documented) vs the JPEG path with 2 workers (floor ≥ 5x); with 2 workers for information.

    python bench/lake.py [--quick] [--images N]
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import numpy as np
from _common import Result, median

LABELS = [f"class{i}" for i in range(10)]
BATCH = 64


def make_images(root: Path, count: int) -> int:
    """``count`` 128x128 JPEGs of ~6 KB in label folders; returns the payload's bytes."""
    from PIL import Image

    rng = np.random.default_rng(0)  # the same images every run
    total = 0
    for label in LABELS:
        (root / label).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        base = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(
            (128, 128), Image.BICUBIC
        )
        pixels = np.asarray(base).astype(np.int16) + rng.integers(-30, 31, (128, 128, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=80)
        path = root / LABELS[i % len(LABELS)] / f"{i:06d}.jpg"
        path.write_bytes(buffer.getvalue())
        total += len(buffer.getvalue())
    return total


def plain_ingest(source: Path, target: Path) -> tuple[float, Path]:
    """The baseline's ingest: copy each file under its sha256, probe it, write a Parquet index."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    start = time.perf_counter()
    rows: dict[str, list[Any]] = {
        k: [] for k in ("path", "label", "width", "height", "size", "sha256")
    }
    for path in sorted(source.rglob("*.jpg")):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        stored = target / digest[:2] / f"{digest}.jpg"
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(data)
        for key, value in zip(
            rows, (str(stored), path.parent.name, width, height, len(data), digest), strict=True
        ):
            rows[key].append(value)
    index = target / "index.parquet"
    pq.write_table(pa.table(rows), index)
    return time.perf_counter() - start, index


def evict(folder: Path) -> None:
    """Drop ``folder``'s files from the page cache (posix_fadvise DONTNEED), for cold reads."""
    os.sync()
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def rate(action: Callable[[], int], reps: int) -> list[float]:
    """Items per second of ``action`` (which returns how many it handled), per repetition."""
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        count = action()
        out.append(count / (time.perf_counter() - start))
    return out


def timed_ms(action: Callable[[], Any], reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        action()
        out.append((time.perf_counter() - start) * 1e3)
    return out


class FilesDataset:
    """The baseline's map-style dataset: one file per item, decoded with Pillow."""

    def __init__(
        self, paths: list[str], targets: list[int], transform: Callable[[Any], Any]
    ) -> None:
        self.paths, self.targets, self.transform = paths, targets, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        from PIL import Image

        with Image.open(self.paths[index]) as image:
            image.load()
            return self.transform(image), self.targets[index]


def to_tensor(image: Any) -> Any:
    import torch

    return torch.from_numpy(np.asarray(image.convert("RGB"))).permute(2, 0, 1)


def loader_rate(dataset: Any, workers: int, epochs: int) -> list[float]:
    """Images/s of whole epochs through a DataLoader (the first batch, worker start-up, excluded)."""
    import torch

    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        multiprocessing_context="spawn" if workers else None,
        generator=torch.Generator().manual_seed(0),
    )
    out = []
    for _ in range(epochs + 1):
        iterator = iter(loader)
        images, _ = next(iterator)
        start, seen = time.perf_counter(), 0
        for images, _ in iterator:
            seen += len(images)
        out.append(seen / (time.perf_counter() - start))
    return out[1:]  # the first epoch also starts the workers


def main() -> int:
    options = _common.args(
        __doc__.split("\n")[0],
        lambda p: p.add_argument("--images", type=int, help="workload size (20000)"),
    )
    count = options.images or (4000 if options.quick else 20000)
    reps = 3 if options.quick else 7
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from daybreak.config import get_settings
    from daybreak.lake import datasets
    from daybreak.lake.ingest import ingest
    from daybreak.lake.query import LakeQuery
    from daybreak.lake.reader import AssetReader
    from daybreak.lake.tables import Lake
    from daybreak.lake.torch import TorchDataset

    results: list[Result] = []
    details: dict[str, Any] = {"images": count}
    work = Path(tempfile.mkdtemp(prefix="daybreak-bench-lake-"))
    try:
        source = work / "source"
        payload = make_images(source, count)
        details["payload_mb"] = payload / 1e6
        files_scan_source = [p.read_bytes() for p in source.rglob("*.jpg")]  # both read it warm
        del files_scan_source
        plain_seconds, index_path = plain_ingest(source, work / "plain")
        with _common.temp_home() as home:
            settings = get_settings()
            lake = Lake(settings)

            # 1. ingest
            start = time.perf_counter()
            report = ingest(lake, [source], folder_labels=True)
            seconds = time.perf_counter() - start
            assert report.added == count and not report.skipped, (report.added, report.skipped[:3])
            results.append(
                Result(
                    "ingest (read, sha256, structure check, metadata, commit)",
                    count / seconds,
                    "images/s",
                    "copy + sha256 + probe + Parquet index",
                    count / plain_seconds,
                    5000,
                    higher_is_better=True,
                    note=f"{count} images in {seconds:.2f} s, {report.commits} commit(s); "
                    "source files in the page cache for both",
                )
            )
            import dataclasses

            decoded_lake = Lake(dataclasses.replace(settings, blobs=str(home / "blobs-decode")))
            start = time.perf_counter()
            assert (
                ingest(decoded_lake, [source], folder_labels=True, verify="decode").added == count
            )
            decode_seconds = time.perf_counter() - start
            results.append(
                Result(
                    "ingest with --verify decode (every image decoded)",
                    count / decode_seconds,
                    "images/s",
                    "copy + sha256 + probe + Parquet index",
                    count / plain_seconds,
                    None,
                    higher_is_better=True,
                )
            )
            lake_disk = disk_bytes(home / "blobs" / "lake" / "assets.lance")
            results.append(
                Result(
                    "lake disk use / payload",
                    lake_disk / payload,
                    "x",
                    "plain files' disk use / payload",
                    disk_bytes(work / "plain") / payload,
                    1.05,
                    note=f"assets table {lake_disk / 1e6:.1f} MB for {payload / 1e6:.1f} MB of JPEGs",
                )
            )

            index = pq.read_table(index_path)
            paths = index.column("path").to_pylist()
            assets = AssetReader(lake)
            rng = np.random.default_rng(1)
            batches = [
                rng.choice(count, BATCH, replace=False) for _ in range(max(20, count // 400))
            ]

            def files_batches() -> int:
                for batch in batches:
                    for i in batch:
                        with open(paths[i], "rb") as handle:
                            handle.read()
                return len(batches) * BATCH

            def lake_batches(reader: AssetReader) -> int:
                for batch in batches:
                    reader.read(batch.tolist())
                return len(batches) * BATCH

            # 2. batched random access, warm then cold
            files_batches(), lake_batches(assets)
            warm_files = rate(files_batches, reps)
            warm_lake = rate(lambda: lake_batches(assets), reps)
            results.append(
                Result(
                    f"random access, {BATCH}-row batches, warm",
                    median(warm_lake),
                    "images/s",
                    "plain files",
                    median(warm_files),
                    1.0,
                    higher_is_better=True,
                    floor_on_ratio=True,
                    ratio_value=median(warm_lake) / median(warm_files),
                    note=f"lake {_common.spread(warm_lake)}, files {_common.spread(warm_files)}",
                )
            )
            cold_files, cold_lake = [], []
            for _ in range(max(3, reps // 2)):
                evict(work / "plain")
                cold_files += rate(files_batches, 1)
                evict(home / "blobs" / "lake")
                cold_lake += rate(lambda: lake_batches(AssetReader(lake)), 1)
            results.append(
                Result(
                    f"random access, {BATCH}-row batches, cold",
                    median(cold_lake),
                    "images/s",
                    "plain files",
                    median(cold_files),
                    1.5,
                    higher_is_better=True,
                    floor_on_ratio=True,
                    ratio_value=median(cold_lake) / median(cold_files),
                    note="page cache evicted with posix_fadvise before each repetition",
                )
            )

            # 3. full scan without decode
            def files_scan() -> int:
                for path in paths:
                    with open(path, "rb") as handle:
                        handle.read()
                return len(paths)

            def lake_scan() -> int:
                seen = 0
                for batch in assets.scan():
                    seen += len(batch)
                return seen

            files_scan(), lake_scan()
            scan_files, scan_lake = rate(files_scan, reps), rate(lake_scan, reps)
            results.append(
                Result(
                    "full scan without decode, warm",
                    median(scan_lake),
                    "images/s",
                    "plain files",
                    median(scan_files),
                    3.0,
                    higher_is_better=True,
                    floor_on_ratio=True,
                    ratio_value=median(scan_lake) / median(scan_files),
                )
            )

            # 4. predicate → row ids, and predicate + fetch
            where = "label = 'class3' AND width >= 128"
            query = LakeQuery(lake)
            selected = query.row_ids(where)
            assert len(selected) == count // 10, len(selected)
            ids_ms = timed_ms(lambda: query.row_ids(where), reps * 3)

            def files_select() -> list[str]:
                table = pq.read_table(index_path, columns=["path", "label", "width"])
                mask = pc.and_(
                    pc.equal(table["label"], "class3"), pc.greater_equal(table["width"], 128)
                )
                return table.filter(mask).column("path").to_pylist()

            parquet_ms = timed_ms(files_select, reps * 3)
            results.append(
                Result(
                    "predicate → row ids (warm LakeQuery)",
                    median(ids_ms),
                    "ms",
                    "Parquet index filter",
                    median(parquet_ms),
                    10,
                    note=f"{len(selected)} of {count} rows: {where}",
                )
            )

            def files_select_fetch() -> None:
                for path in files_select():
                    with open(path, "rb") as handle:
                        handle.read()

            def lake_select_fetch() -> None:
                ids = query.row_ids(where)
                assets.read(ids)

            fetch_files = timed_ms(files_select_fetch, reps)
            fetch_lake = timed_ms(lake_select_fetch, reps)
            results.append(
                Result(
                    "predicate + fetching the selected images",
                    median(fetch_lake),
                    "ms",
                    "Parquet filter + read files",
                    median(fetch_files),
                    0.6,
                    floor_on_ratio=True,
                    ratio_value=median(fetch_lake) / median(fetch_files),
                    note="lower is better",
                )
            )
            query.close()

            # 5. DataLoader with decode, and 6. the pre-decoded cache
            datasets.create(lake, settings, "bench", "", {"train": 1.0})
            os.environ.update(
                DAYBREAK_HOME=str(home), DAYBREAK_DB=settings.db_url
            )  # for spawned workers
            targets = [LABELS.index(label) for label in index.column("label").to_pylist()]
            epochs = 2 if options.quick else 3
            plain_loader = loader_rate(FilesDataset(paths, targets, to_tensor), 2, epochs)
            jpeg_lake = TorchDataset(
                "bench@1", split="train", transform=to_tensor, settings=settings
            )
            lake_loader = loader_rate(jpeg_lake, 2, epochs)
            results.append(
                Result(
                    "DataLoader with JPEG decode, 2 workers",
                    median(lake_loader),
                    "images/s",
                    "plain files",
                    median(plain_loader),
                    0.9,
                    higher_is_better=True,
                    floor_on_ratio=True,
                    ratio_value=median(lake_loader) / median(plain_loader),
                    note=f"batch {BATCH}, spawn workers, epochs {_common.spread(lake_loader)}",
                )
            )
            start = time.perf_counter()
            cached = TorchDataset("bench@1", split="train", cache=(128, 128), settings=settings)
            build = time.perf_counter() - start
            cache_loader = loader_rate(cached, 2, epochs)
            cache_inline = loader_rate(cached, 0, epochs)
            results.append(
                Result(
                    "pre-decoded cache, in the main process",
                    median(cache_inline),
                    "images/s",
                    "the lake's JPEG path, 2 workers",
                    median(lake_loader),
                    5.0,
                    higher_is_better=True,
                    floor_on_ratio=True,
                    ratio_value=median(cache_inline) / median(lake_loader),
                    note=f"num_workers=0, as documented for the cache; built once in {build:.1f} s",
                )
            )
            results.append(
                Result(
                    "pre-decoded cache, 2 workers",
                    median(cache_loader),
                    "images/s",
                    "the lake's JPEG path",
                    median(lake_loader),
                    None,
                    higher_is_better=True,
                    note="workers only add inter-process copies when an item is a memory copy",
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _common.report(
        f"lake: {count} JPEGs of 128x128 against plain files + Parquet", results, options, details
    )


if __name__ == "__main__":
    sys.exit(main())
