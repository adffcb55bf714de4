"""Reading asset bytes by position, the ingest's structure check, LakeQuery, and the fast paths
into PyTorch (the pre-decoded cache, GPU decoding)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import lance
import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from daybreak.errors import ConfigError
from daybreak.lake import datasets
from daybreak.lake.ingest import ingest
from daybreak.lake.query import LakeQuery, LakeSQLError, run_sql
from daybreak.lake.reader import AssetReader, read_assets
from daybreak.lake.remove import delete
from daybreak.lake.tables import Lake
from tests.lake.test_lake import make_images


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@pytest.fixture
def lake(settings):
    return Lake(settings)


@pytest.fixture
def many(lake, tmp_path):
    """Three commits (so three fragments), 30 images."""
    paths = make_images(tmp_path / "data", {"a": 10, "b": 10, "c": 10}, size=40)
    for label in ("a", "b", "c"):
        ingest(lake, [tmp_path / "data" / label], batch_bytes=1)
    return {sha(p.read_bytes()): p.read_bytes() for p in paths}


def test_reads_by_position_return_each_assets_own_bytes(lake, many):
    reader = AssetReader(lake)
    assert reader.blob and len(reader.files) >= 3 and len(reader) == 30
    order = np.random.default_rng(0).permutation(len(reader)).tolist()
    for raw, position in zip(reader.read(order), order, strict=True):
        assert sha(raw) == reader.sha256[position] and raw == many[reader.sha256[position]]
    scanned = [raw for batch in reader.scan(batch=7) for raw in batch]
    assert [sha(raw) for raw in scanned] == reader.sha256
    assert reader.read([]) == []


def test_positions_hold_after_a_delete_at_each_version(lake, settings, many):
    before = AssetReader(lake)
    gone = before.sha256[3]
    delete(lake, settings, f"sha256 = '{gone}'")
    after = AssetReader(lake)
    assert len(after) == 29 and gone not in after.position
    assert [sha(raw) for raw in after.read(list(range(29)))] == after.sha256
    old = AssetReader(lake, before.version)  # the version before still reads the deleted bytes
    assert sha(old.read([old.position[gone]])[0]) == gone


def test_a_truncated_data_file_is_an_error_not_short_bytes(lake, many):
    reader = AssetReader(lake)
    path = Path(reader.files[0])
    path.write_bytes(path.read_bytes()[:100])
    rows = [i for i in range(len(reader)) if reader.file_of[i] == 0]
    with pytest.raises(OSError, match="shorter"):
        reader.read(rows[-2:])


def test_a_table_written_before_blob_columns_still_reads(lake, tmp_path):
    from daybreak.lake.tables import ASSETS

    payload = [b"\xff\xd8old-one\xff\xd9", b"\xff\xd8old-two\xff\xd9"]
    plain = pa.schema([f.remove_metadata() if f.name == "data" else f for f in ASSETS])
    rows = {name: [None, None] for name in plain.names}
    rows.update(
        sha256=[sha(p) for p in payload],
        data=payload,
        kind=["image", "image"],
        size=[len(p) for p in payload],
        ingested_at=[0.0, 0.0],
    )
    lance.write_dataset(pa.table(rows, schema=plain), lake.uri("assets"))
    reader = AssetReader(lake)
    assert not reader.blob
    assert reader.read([1, 0]) == payload[::-1]
    assert [raw for batch in reader.scan() for raw in batch] == payload
    # appending to it keeps its schema
    make_images(tmp_path / "new", {"x": 2})
    assert ingest(lake, [tmp_path / "new"]).added == 2
    assert len(AssetReader(lake)) == 4


def test_read_assets_joins_metadata_and_bytes_in_the_order_asked(lake, many):
    shas = sorted(many)[::-1][:5]
    rows = list(read_assets(lake, None, shas, ["sha256", "width", "data"], chunk=2))
    assert [r["sha256"] for r in rows] == shas
    assert all(r["data"] == many[r["sha256"]] and r["width"] >= 40 for r in rows)


def jpeg(size: int = 32) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(size).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def test_structure_check_catches_truncation_and_keeps_padded_files(lake, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = jpeg()
    (folder / "cut.jpg").write_bytes(good[: len(good) - 200])
    (folder / "no-end-marker.jpg").write_bytes(good[:-2])  # every pixel is there: decodes
    (folder / "zero-padded.jpg").write_bytes(good + b"\x00" * 16)
    (folder / "trailing-junk.jpg").write_bytes(jpeg(33) + b"junk after the end")
    png = io.BytesIO()
    noise = np.random.default_rng(1).integers(0, 255, (32, 32), dtype=np.uint8)
    Image.fromarray(noise).save(png, "PNG")
    (folder / "cut.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    report = ingest(lake, [folder])
    skipped = sorted(Path(p).name for p, _ in report.skipped)
    assert skipped == ["cut.jpg", "cut.png"], report.skipped
    assert all("truncated" in why or "corrupt" in why for _, why in report.skipped)
    assert report.added == 3
    with pytest.raises(ConfigError, match="unknown check"):
        ingest(lake, [folder], verify="quick")
    assert ingest(lake, [folder], verify="decode").added == 0  # all in already


def test_lake_query_row_ids_match_sql_and_bad_predicates_say_so(lake, many, tmp_path):
    from daybreak.lake.labels import import_labels

    rows = "sha256,label\n" + "".join(f"{s},odd\n" for s in sorted(many)[::2])
    (tmp_path / "l.csv").write_text(rows)
    import_labels(lake, tmp_path / "l.csv", "csv")
    with LakeQuery(lake) as query:
        ids = query.row_ids("label = 'odd'")
        reader = AssetReader(lake, query.versions["assets"])
        assert sorted(reader.sha256[i] for i in ids) == sorted(many)[::2]
        assert query.row_ids("label = 'none'") == []
        with pytest.raises(LakeSQLError, match="predicate"):
            query.row_ids("label = ")
    _, counted = run_sql(lake, "SELECT count(DISTINCT position) FROM items WHERE label = 'odd'")
    assert counted == [(15,)]


torch = pytest.importorskip("torch")


@pytest.fixture
def pets(lake, settings, tmp_path):
    make_images(tmp_path / "pets", {"cat": 7, "dog": 6}, size=30)
    ingest(lake, [tmp_path / "pets"], folder_labels=True)
    return datasets.create(lake, settings, "pets", "TRUE", {"train": 0.6, "val": 0.4})


def test_the_cache_holds_the_decoded_resized_images_and_is_built_once(settings, pets):
    from daybreak.lake.torch import TorchDataset

    plain = TorchDataset("pets@1", split="train", settings=settings)
    cached = TorchDataset("pets@1", split="train", settings=settings, cache=(20, 24))
    assert cached.cache_path is not None and cached.cache_path.exists()
    built = cached.cache_path.stat().st_mtime_ns
    indices = list(range(len(plain)))[::-1]
    for (image, target), (tensor, cached_target) in zip(
        plain.__getitems__(indices), cached.__getitems__(indices), strict=True
    ):
        expected = np.asarray(image.convert("RGB").resize((24, 20), Image.Resampling.BILINEAR))
        assert tensor.dtype == torch.uint8 and tuple(tensor.shape) == (3, 20, 24)
        assert np.abs(tensor.permute(1, 2, 0).numpy().astype(int) - expected).max() <= 1
        assert target == cached_target
    again = TorchDataset("pets@1", split="train", settings=settings, cache=(20, 24))
    assert again.cache_path == cached.cache_path and cached.cache_path.stat().st_mtime_ns == built
    other = TorchDataset("pets@1", split="val", settings=settings, cache=(20, 24))
    assert other.cache_path != cached.cache_path and len(other) == pets.split_counts["val"]
    assert not list(cached.cache_path.parent.glob("*.partial"))
    with pytest.raises(ConfigError, match="not a size"):
        TorchDataset("pets@1", settings=settings, cache=(0, 5))


def test_the_cache_through_dataloader_workers(settings, pets):
    from daybreak.lake.torch import TorchDataset

    cached = TorchDataset("pets@1", split=None, settings=settings, cache=(16, 16))
    loader = torch.utils.data.DataLoader(
        cached, batch_size=4, num_workers=2, multiprocessing_context="spawn"
    )
    images, targets = zip(*loader, strict=True)
    batch = torch.cat(images)
    assert tuple(batch.shape) == (13, 3, 16, 16)
    assert torch.cat(targets).tolist() == cached.targets
    direct = torch.stack([image for image, _ in cached.__getitems__(list(range(13)))])
    assert torch.equal(batch, direct)


def test_encoded_batches_for_gpu_decoding(settings, pets):
    from daybreak.lake.torch import TorchDataset, collate_encoded, decode_jpegs

    data = TorchDataset("pets@1", split=None, settings=settings, decode=False)
    encoded, targets = collate_encoded(data.__getitems__([0, 1, 2]))
    assert [bytes(t.numpy()) for t in encoded] == [raw for raw, _ in data.__getitems__([0, 1, 2])]
    assert encoded[0].dtype == torch.uint8 and targets.tolist() == data.targets[:3]
    try:
        import torchvision  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(ConfigError, match="needs torchvision"):
            decode_jpegs(encoded, device="cpu")
    else:
        jpegs = [
            t
            for t, (raw, _) in zip(encoded, data.__getitems__([0, 1, 2]), strict=True)
            if raw[:2] == b"\xff\xd8"
        ]
        assert all(image.shape[0] == 3 for image in decode_jpegs(jpegs, device="cpu"))
