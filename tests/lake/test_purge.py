"""Purging deleted assets from storage, and the forced cleanup: no file keeps a purged asset's
bytes, dataset versions that still can be read read the same, the others say why not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import daybreak
from daybreak.cli.main import app
from daybreak.lake import datasets, export
from daybreak.lake.datasets import PurgedError
from daybreak.lake.ingest import ingest
from daybreak.lake.labels import import_labels
from daybreak.lake.purge import force_cleanup, purge
from daybreak.lake.reader import AssetReader
from daybreak.lake.remove import delete
from daybreak.lake.tables import Lake
from tests.lake.test_lake import make_images


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def stored_files(settings) -> list[Path]:
    root = Path(settings.blobs_url.removeprefix("file://"))
    return [p for p in root.rglob("*") if p.is_file()]


def anywhere(settings, needle: bytes) -> list[Path]:
    return [p for p in stored_files(settings) if needle in p.read_bytes()]


@pytest.fixture
def lake(settings):
    return Lake(settings)


@pytest.fixture
def pets(lake, settings, tmp_path):
    # one commit: deleting one asset of 40 leaves the fragment below Lance's own threshold for
    # rewriting it, so only an explicit purge removes the bytes
    paths = make_images(tmp_path / "data", {"cat": 20, "dog": 20}, size=48)
    ingest(lake, [tmp_path / "data"], folder_labels=True)
    return {p: p.read_bytes() for p in paths}


def test_purge_removes_the_bytes_retires_the_versions_and_names_the_runs(
    lake, settings, pets, tmp_path
):
    cat = next(raw for path, raw in pets.items() if path.parent.name == "cat")
    # a mask on the cat: personal data in the annotations table too
    from PIL import Image

    Image.new("L", (48, 48), 0).save(tmp_path / "m.png")
    (tmp_path / "masks.csv").write_text(f"sha256,mask,mask_label\n{sha(cat)},m.png,person\n")
    import_labels(lake, tmp_path / "masks.csv", "csv")
    v1 = datasets.create(lake, settings, "pets", "TRUE", {"train": 0.5, "val": 0.5})
    datasets.tag(settings, "pets@1", "paper")
    dogs = datasets.create(lake, settings, "dogs", "label = 'dog'", {"train": 1.0})
    run = daybreak.init(project="p", system_metrics=False, capture_output=False)
    from daybreak.lake.torch import TorchDataset

    TorchDataset("pets@1", split="train", settings=settings, run=run)
    run.finish()
    dog_bytes = sorted(
        sha(raw)
        for raw, _ in TorchDataset(
            "dogs@1", split=None, decode=False, settings=settings
        ).__getitems__(list(range(dogs.rows)))
    )

    delete(lake, settings, f"sha256 = '{sha(cat)}'")
    needle = cat[len(cat) // 2 : len(cat) // 2 + 64]
    assert anywhere(settings, needle)  # deleted, but an old version still holds it
    report = purge(lake, settings)

    assert report.purged_assets == [sha(cat)]
    assert report.retired == ["pets@1"] and report.runs == [run.id]
    assert report.repinned == ["dogs@1"]
    assert not anywhere(settings, needle), anywhere(settings, needle)
    assert not [p for p in stored_files(settings) if sha(cat).encode() in p.read_bytes()]
    retired = datasets.get(settings, "pets@1")
    assert sha(cat) not in datasets.rows(settings, retired).column("sha256").to_pylist()
    assert {n["sha256"] for n in datasets.labels_of(lake, settings, retired)} == {
        sha(raw) for raw in pets.values() if raw != cat
    }

    with pytest.raises(PurgedError, match=r"pets@1 can no longer be read: .* 1 of its 40 assets"):
        TorchDataset("pets@paper", settings=settings)
    with pytest.raises(PurgedError):
        export.export_folders(lake, settings, datasets.get(settings, "pets@1"), tmp_path / "x")
    assert datasets.get(settings, "pets@1").rows == 40  # the record stays, for the history
    again = TorchDataset("dogs@1", split=None, decode=False, settings=settings)
    assert sorted(sha(raw) for raw, _ in again.__getitems__(list(range(len(again))))) == dog_bytes
    assert datasets.get(settings, "dogs@1").assets_version == AssetReader(lake).version
    fresh = datasets.create(lake, settings, "pets", "TRUE", {"train": 0.5, "val": 0.5})
    assert fresh.rows == 39 and v1.rows == 40


def test_forced_cleanup_keeps_every_version_readable_and_leaves_one_table_version(
    lake, settings, pets, tmp_path
):
    from daybreak.lake.torch import TorchDataset

    boxes = tmp_path / "boxes.jsonl"
    first = next(iter(pets.values()))
    boxes.write_text(json.dumps({"sha256": sha(first), "bbox": [1, 2, 3, 4], "label": "x"}) + "\n")
    import_labels(lake, boxes, "jsonl")
    v1 = datasets.create(lake, settings, "pets", "TRUE", {"train": 1.0})
    make_images(tmp_path / "more", {"cat": 2}, seed=5, size=48)
    ingest(lake, [tmp_path / "more"], folder_labels=True)
    relabel = tmp_path / "relabel.jsonl"
    relabel.write_text(json.dumps({"sha256": sha(first), "label": "renamed"}) + "\n")
    import_labels(lake, relabel, "jsonl")
    before = export.export_coco(lake, settings, v1, tmp_path / "before")
    dataset = TorchDataset("pets@1", split=None, decode=False, settings=settings)
    bytes_before = [raw for raw, _ in dataset.__getitems__(list(range(len(dataset))))]
    assert len(lake.open("assets").versions()) > 1

    result = CliRunner().invoke(app, ["lake", "cleanup", "--force", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["repinned"] == ["pets@1"] and report["retired"] == []
    assert report["versions_removed"]["assets"] >= 1
    assert len(lake.open("assets").versions()) == 1
    assert len(lake.open("annotations").versions()) == 1
    dataset = TorchDataset("pets@1", split=None, decode=False, settings=settings)
    assert [raw for raw, _ in dataset.__getitems__(list(range(len(dataset))))] == bytes_before
    after = export.export_coco(lake, settings, datasets.get(settings, "pets@1"), tmp_path / "after")
    assert after == before
    assert (tmp_path / "after" / "annotations_train.json").read_text() == (
        tmp_path / "before" / "annotations_train.json"
    ).read_text()  # the labels as they were, not the relabel that came after


def test_cleanup_without_force_keeps_versions_and_purge_asks_first(lake, settings, pets):
    datasets.create(lake, settings, "pets", "TRUE", {"train": 1.0})
    delete(lake, settings, "label = 'cat'")
    runner = CliRunner()
    kept = runner.invoke(app, ["lake", "cleanup", "--older-than-days", "0", "--json"])
    assert kept.exit_code == 0
    assert datasets.get(settings, "pets@1").purged_at is None
    assert len(anywhere(settings, next(iter(pets.values()))[100:164])) >= 1
    refused = runner.invoke(app, ["lake", "purge"], input="n\n")
    assert refused.exit_code != 0 and datasets.get(settings, "pets@1").purged_at is None
    done = runner.invoke(app, ["lake", "purge", "--yes"])
    assert done.exit_code == 0, done.output
    assert "purged 20 assets" in done.output and "pets@1" in done.output
    assert force_cleanup(lake, settings).retired == []  # already retired: left alone
