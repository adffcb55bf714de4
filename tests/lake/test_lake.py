"""The lake: ingest into Lance, SQL with DuckDB, dataset versions with stable splits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from daybreak.cli.main import app
from daybreak.errors import ConfigError, NotFoundError
from daybreak.lake import datasets, export
from daybreak.lake.ingest import ingest
from daybreak.lake.query import LakeSQLError, run_sql
from daybreak.lake.tables import Lake


def make_images(folder: Path, classes: dict[str, int], seed: int = 0, size: int = 24) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for label, count in classes.items():
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            path = folder / label / f"{label}-{seed}-{i}.{'png' if i % 3 == 0 else 'jpg'}"
            Image.fromarray((rng.random((size, size + i % 5, 3)) * 255).astype("uint8")).save(path)
            paths.append(path)
    return paths


@pytest.fixture
def lake(settings):
    return Lake(settings)


def test_ingest_dedupes_skips_bad_files_and_reads_metadata(lake, tmp_path):
    images = make_images(tmp_path / "data", {"cat": 6, "dog": 5})
    shutil.copy(images[0], tmp_path / "data" / "dog" / "same-bytes.jpg")
    (tmp_path / "data" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    good = images[1].read_bytes()
    (tmp_path / "data" / "cat" / "cut.jpg").write_bytes(good[: len(good) // 2])
    (tmp_path / "data" / "readme.md").write_text("hello")

    report = ingest(lake, [tmp_path / "data"], folder_labels=True)
    assert report.added == 11 and report.commits == 1
    assert [Path(p).name for p, _ in report.duplicates] == ["same-bytes.jpg"]
    assert sorted(Path(p).name for p, _ in report.skipped) == ["broken.jpg", "cut.jpg", "readme.md"]
    columns, rows = run_sql(
        lake, "SELECT format, width, height, size, path FROM assets ORDER BY path"
    )
    first = dict(zip(columns, rows[0], strict=True))
    assert first["format"] in ("png", "jpeg") and first["height"] == 24 and first["size"] > 0
    _, counts = run_sql(lake, "SELECT label, count(*) FROM labels GROUP BY label ORDER BY label")
    assert counts == [("cat", 6), ("dog", 6)]  # the copy in dog/ labels the cat image as dog too


def test_ingest_again_adds_nothing_and_keeps_the_version(lake, tmp_path):
    make_images(tmp_path / "data", {"a": 4})
    ingest(lake, [tmp_path / "data"], folder_labels=True)
    before = lake.versions()
    again = ingest(lake, [tmp_path / "data"], folder_labels=True)
    assert again.added == 0 and len(again.duplicates) == 4 and again.labels_added == 0
    assert lake.versions() == before


def test_each_commit_is_a_version_so_an_interruption_loses_no_commit(lake, tmp_path):
    make_images(tmp_path / "data", {"a": 6})
    report = ingest(lake, [tmp_path / "data"], batch_bytes=1)
    assert report.commits == 6 and lake.versions()["assets"] == 6
    import lance

    assert lance.dataset(lake.uri("assets"), version=3).count_rows() == 3


def test_missing_path_is_a_clear_error(lake, tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        ingest(lake, [tmp_path / "nope"])


def test_splits_are_stable_when_the_dataset_grows(lake, settings, tmp_path):
    make_images(tmp_path / "first", {"cat": 30, "dog": 30})
    ingest(lake, [tmp_path / "first"], folder_labels=True)
    v1 = datasets.create(
        lake, settings, "pets", "label IN ('cat', 'dog')", datasets.parse_splits("80/10/10")
    )
    make_images(tmp_path / "more", {"cat": 30, "dog": 30}, seed=1)
    ingest(lake, [tmp_path / "more"], folder_labels=True)
    v2 = datasets.create(
        lake, settings, "pets", "label IN ('cat', 'dog')", datasets.parse_splits("80/10/10")
    )
    assert (v1.version, v1.rows, v2.version, v2.rows) == (1, 60, 2, 120)
    first = dict(
        zip(
            *datasets.rows(settings, v1).select(["sha256", "split"]).to_pydict().values(),
            strict=True,
        )
    )
    second = dict(
        zip(
            *datasets.rows(settings, v2).select(["sha256", "split"]).to_pydict().values(),
            strict=True,
        )
    )
    assert all(second[sha] == split for sha, split in first.items())
    assert 70 <= v2.split_counts["train"] <= 110 and v2.split_counts["val"] > 0
    assert v1.fingerprint != v2.fingerprint
    again = datasets.create(
        lake, settings, "pets-copy", "label IN ('cat', 'dog')", datasets.parse_splits("80/10/10")
    )
    assert again.rows == 120


def test_same_selection_same_fingerprint(lake, settings, tmp_path):
    make_images(tmp_path / "data", {"cat": 5, "dog": 5})
    ingest(lake, [tmp_path / "data"], folder_labels=True)
    one = datasets.create(lake, settings, "d", "label = 'cat'", {"train": 1.0})
    two = datasets.create(lake, settings, "d", "label = 'cat' AND width > 0", {"train": 1.0})
    assert one.fingerprint == two.fingerprint and two.version == 2
    assert (
        datasets.get(settings, "d").version == 2
        and datasets.get(settings, "d@1").predicate == "label = 'cat'"
    )
    # a box on one cat: the same assets, splits and class names, but other labels
    from daybreak.lake.labels import import_labels

    first = datasets.rows(settings, one).column("sha256")[0].as_py()
    (tmp_path / "box.jsonl").write_text(json.dumps({"sha256": first, "bbox": [1, 1, 4, 4]}) + "\n")
    import_labels(lake, tmp_path / "box.jsonl", "jsonl")
    three = datasets.create(lake, settings, "d", "label = 'cat'", {"train": 1.0})
    assert datasets.rows(settings, three).equals(datasets.rows(settings, one))
    assert three.fingerprint != one.fingerprint


@pytest.mark.parametrize(
    "spec", ["80/30", "train=0.5", "train=a", "1/2/3/4", "tr ain=1.0", "train=-0.2,val=1.2"]
)
def test_bad_split_specs(spec):
    with pytest.raises(ConfigError, match="split spec"):
        datasets.parse_splits(spec)


def test_good_split_specs():
    assert datasets.parse_splits("80/10/10") == pytest.approx(
        {"train": 0.8, "val": 0.1, "test": 0.1}
    )
    assert datasets.parse_splits("train=0.7, val=0.3") == {"train": 0.7, "val": 0.3}


def test_bad_predicates_and_unknown_datasets(lake, settings, tmp_path):
    make_images(tmp_path / "data", {"cat": 2})
    ingest(lake, [tmp_path / "data"], folder_labels=True)
    with pytest.raises(LakeSQLError, match="labell"):
        datasets.create(lake, settings, "d", "labell = 'cat'", {"train": 1.0})
    with pytest.raises(NotFoundError, match="selects no assets"):
        datasets.create(lake, settings, "d", "label = 'zebra'", {"train": 1.0})
    with pytest.raises(NotFoundError, match="no dataset"):
        datasets.get(settings, "d")
    assert datasets.list_versions(settings) == []


def test_cli_ingest_sql_and_datasets(home, tmp_path):
    make_images(tmp_path / "data", {"cat": 3, "dog": 2})
    runner = CliRunner()
    done = runner.invoke(
        app, ["lake", "ingest", str(tmp_path / "data"), "--folder-labels", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["added"] == 5
    rows = json.loads(
        runner.invoke(
            app,
            [
                "lake",
                "sql",
                "SELECT label, count(*) AS n FROM items GROUP BY 1 ORDER BY 1",
                "--json",
            ],
        ).output
    )
    assert rows == [{"label": "cat", "n": 3}, {"label": "dog", "n": 2}]
    made = runner.invoke(
        app,
        ["dataset", "create", "pets", "--where", "label = 'dog'", "--split", "train=1", "--json"],
    )
    assert made.exit_code == 0 and json.loads(made.output)["rows"] == 2
    listed = json.loads(runner.invoke(app, ["dataset", "ls", "--json"]).output)
    assert [(d["name"], d["version"]) for d in listed] == [("pets", 1)]
    bad = runner.invoke(app, ["dataset", "create", "pets", "--split", "90/20"])
    assert bad.exit_code != 0
    stats = json.loads(runner.invoke(app, ["lake", "stats", "--json"]).output)
    assert stats["versions"] == {"assets": 1, "annotations": 1}


def test_stats_diff_and_export(lake, settings, tmp_path):
    from daybreak.lake.labels import import_labels

    paths = make_images(tmp_path / "data", {"cat": 6, "dog": 4})
    ingest(lake, [tmp_path / "data"], folder_labels=True)
    v1 = datasets.create(lake, settings, "pets", "label = 'cat'", {"train": 0.5, "val": 0.5})
    counts = datasets.stats(settings, v1)
    assert sum(counts.get("train", {}).values()) + sum(counts.get("val", {}).values()) == 6
    assert set().union(*[set(c) for c in counts.values()]) == {"cat"}
    relabel = tmp_path / "fix.csv"
    relabel.write_text(f"path,label\n{paths[0]},kitten\n")
    import_labels(lake, relabel, "csv")
    v2 = datasets.create(
        lake, settings, "pets", "label IN ('cat', 'dog')", {"train": 0.5, "val": 0.5}
    )
    changes = datasets.diff(settings, v1, v2)
    assert len(changes["added"]) == 4 and changes["removed"] == [] and changes["moved"] == []
    assert len(changes["relabelled"]) == 1 and changes["unchanged"] == 5
    written = export.export_folders(lake, settings, v2, tmp_path / "out")
    files = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == 10 == len(files)
    assert {p.parent.parent.name for p in files} <= {"train", "val"}
    import hashlib

    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.stem for p in files)
    runner = CliRunner()
    shown = json.loads(runner.invoke(app, ["dataset", "diff", "pets@1", "pets@2", "--json"]).output)
    assert len(shown["added"]) == 4
    assert (
        json.loads(runner.invoke(app, ["dataset", "stats", "pets@1", "--json"]).output)["dataset"]
        == "pets@1"
    )


def test_stratified_splits_keep_class_fractions_and_stay_sticky(lake, settings, tmp_path):
    make_images(tmp_path / "a", {"rare": 10, "common": 90})
    ingest(lake, [tmp_path / "a"], folder_labels=True)
    spec = {"train": 0.8, "val": 0.2}
    v1 = datasets.create(lake, settings, "s", "TRUE", spec, stratify="label")
    counts = datasets.stats(settings, v1)
    assert counts["val"]["rare"] == 2 and counts["train"]["rare"] == 8
    assert counts["val"]["common"] == 18 and v1.stratify == "label"
    before = dict(
        zip(
            *datasets.rows(settings, v1).select(["sha256", "split"]).to_pydict().values(),
            strict=True,
        )
    )
    make_images(tmp_path / "b", {"rare": 10}, seed=5)
    ingest(lake, [tmp_path / "b"], folder_labels=True)
    v2 = datasets.create(lake, settings, "s", "TRUE", spec, stratify="label")
    after = dict(
        zip(
            *datasets.rows(settings, v2).select(["sha256", "split"]).to_pydict().values(),
            strict=True,
        )
    )
    assert all(after[sha] == split for sha, split in before.items())
    assert datasets.stats(settings, v2)["val"]["rare"] == 4
    with pytest.raises(ConfigError, match="cannot stratify"):
        datasets.create(lake, settings, "s", "TRUE", spec, stratify="width")


def test_a_store_that_cannot_be_reached_says_so(home, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("DAYBREAK_BLOBS", "s3://nowhere/blobs")
    result = CliRunner().invoke(app, ["lake", "sql", "SELECT count(*) FROM assets"])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "cannot open the lake table s3://nowhere/blobs/lake/assets.lance" in str(
        result.exception
    )
    assert "AWS_ENDPOINT_URL" in (result.exception.hint or "")
