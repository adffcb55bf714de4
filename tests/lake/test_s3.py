"""The same ingest, compose and load paths, and artifacts, against S3 (moto on 127.0.0.1)."""

from __future__ import annotations

import hashlib

import pytest

import daybreak
from daybreak.config import get_settings
from daybreak.lake import datasets
from daybreak.lake.ingest import ingest
from daybreak.lake.tables import Lake
from daybreak.lake.torch import TorchDataset
from tests.lake.test_lake import make_images
from tests.s3 import s3_blobs  # noqa: F401  (fixture)

pytest.importorskip("torch")


def test_lake_on_s3_ingest_compose_load(s3_blobs, tmp_path):  # noqa: F811
    settings = get_settings()
    assert settings.blobs_url.startswith("s3://")
    lake = Lake(settings)
    assert lake.uri("assets").startswith("s3://")
    paths = make_images(tmp_path / "data", {"cat": 4, "dog": 4})
    report = ingest(lake, [tmp_path / "data"], folder_labels=True)
    assert report.added == 8
    assert ingest(lake, [tmp_path / "data"], folder_labels=True).added == 0
    version = datasets.create(lake, settings, "pets", "label = 'cat'", {"train": 0.5, "val": 0.5})
    assert version.uri.startswith("s3://") and version.rows == 4
    data = TorchDataset("pets@1", split=None, decode=False, settings=settings)
    got = sorted(
        hashlib.sha256(raw).hexdigest() for raw, _ in data.__getitems__(list(range(len(data))))
    )
    expected = sorted(
        hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.parent.name == "cat"
    )
    assert got == expected


def test_artifacts_and_checkpoints_on_s3(s3_blobs, tmp_path):  # noqa: F811
    run = daybreak.init(project="s3", system_metrics=False, capture_output=False)
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights" * 100)
    row = run.log_artifact(weights)
    checkpoint = run.save_checkpoint({"step": 3}, step=3, keep=1)
    run.save_checkpoint({"step": 4}, step=4, keep=1)
    run.finish()
    assert row["uri"].startswith(s3_blobs) and checkpoint.uri.startswith(s3_blobs)
    view = daybreak.get_run(run.id)
    assert [c["step"] for c in view.checkpoints()] == [4]
    assert run.latest_checkpoint().load() == {"step": 4}


def test_ingest_from_an_s3_prefix_with_folder_labels(s3_blobs, tmp_path):  # noqa: F811
    import boto3

    settings = get_settings()
    bucket = s3_blobs.split("/")[2]
    client = boto3.client("s3")
    paths = make_images(tmp_path / "up", {"cat": 2, "dog": 3})
    for path in paths:
        client.upload_file(str(path), bucket, f"raw/{path.parent.name}/{path.name}")
    lake = Lake(settings)
    report = ingest(lake, [f"s3://{bucket}/raw"], folder_labels=True)
    assert report.added == 5 and report.labels_added == 5 and report.skipped == []
    from daybreak.lake.query import run_sql

    _, rows = run_sql(lake, "SELECT label, count(*) FROM labels GROUP BY label ORDER BY label")
    assert rows == [("cat", 2), ("dog", 3)]
    _, stored = run_sql(lake, "SELECT path FROM assets ORDER BY path LIMIT 1")
    assert stored[0][0].startswith(f"s3://{bucket}/raw/cat/")
    assert ingest(lake, [tmp_path / "up"]).added == 0  # the same bytes from disk are duplicates
    with pytest.raises(daybreak.DaybreakError, match="nothing found"):
        ingest(lake, [f"s3://{bucket}/nothing-here"])


def test_total_size_of_an_s3_prefix_in_one_listing(s3_blobs, tmp_path):  # noqa: F811
    import boto3

    from daybreak.lake.ingest import total_size, walk

    bucket = s3_blobs.split("/")[2]
    client = boto3.client("s3")
    paths = make_images(tmp_path / "up", {"cat": 2})
    for path in paths:
        client.upload_file(str(path), bucket, f"sized/{path.name}")
    local = tmp_path / "up" / "cat"
    found = list(walk([f"s3://{bucket}/sized", str(local)]))
    assert total_size(found) == 2 * sum(p.stat().st_size for p in paths)
