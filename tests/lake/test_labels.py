"""Label importers: COCO, Label Studio, CSV/JSONL; checked whole, nothing half written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from daybreak.cli.main import app
from daybreak.lake.ingest import ingest
from daybreak.lake.labels import LabelImportError, import_labels
from daybreak.lake.query import run_sql
from daybreak.lake.tables import Lake
from tests.lake.test_lake import make_images


@pytest.fixture
def lake_with_images(settings, tmp_path):
    lake = Lake(settings)
    paths = make_images(tmp_path / "imgs", {"person": 3}, size=40)
    ingest(lake, [tmp_path / "imgs"])
    return lake, paths


def coco(paths, **overrides):
    data = {
        "images": [
            {"id": i + 1, "file_name": p.name, "width": 40, "height": 40}
            for i, p in enumerate(paths)
        ],
        "categories": [
            {"id": 1, "name": "person", "keypoints": ["nose", "left_eye"], "skeleton": [[1, 2]]}
        ],
        "annotations": [
            {
                "id": 10,
                "image_id": 1,
                "category_id": 1,
                "bbox": [2, 3, 20, 30],
                "keypoints": [5, 6, 2, 7, 8, 1],
            },
            {"id": 11, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10]},
        ],
    }
    data.update(overrides)
    return data


def labels_count(lake):
    return run_sql(lake, "SELECT count(*) FROM labels")[1][0][0]


def test_coco_boxes_and_keypoints_with_names_and_skeleton(lake_with_images, tmp_path):
    lake, paths = lake_with_images
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco(paths)))
    report = import_labels(lake, path, "coco", source="round1-vendor")
    assert report.added == 3 and report.by_kind == {"box": 2, "keypoints": 1} and report.round == 0
    _, rows = run_sql(
        lake, "SELECT kind, label, bbox, keypoints, meta FROM labels ORDER BY kind, bbox[1]"
    )
    box = rows[0]
    assert box[0] == "box" and box[1] == "person" and box[2] == [0.0, 0.0, 10.0, 10.0]
    keypoints = next(r for r in rows if r[0] == "keypoints")
    assert keypoints[3] == [5.0, 6.0, 2.0, 7.0, 8.0, 1.0]
    assert json.loads(keypoints[4])["keypoints"] == ["nose", "left_eye"] and json.loads(
        keypoints[4]
    )["skeleton"] == [[1, 2]]
    again = import_labels(lake, path, "coco", source="round1-vendor")
    assert again.round == 1  # a second import is the source's next round; bytes are never rewritten
    assert lake.versions()["assets"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"annotations": [{"image_id": 1, "category_id": 1, "bbox": [30, 30, 20, 20]}]},
            "outside the 40x40 image",
        ),
        (
            {"annotations": [{"image_id": 1, "category_id": 1, "keypoints": [50, 5, 2]}]},
            "keypoint 0",
        ),
        (
            {"annotations": [{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1]}]},
            "image_id 99",
        ),
        (
            {"annotations": [{"image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1]}]},
            "category_id 7",
        ),
        ({"annotations": [{"image_id": 1, "bbox": [0, 0, 1]}]}, "4 numbers"),
        ({"images": [{"id": 1}]}, "missing field 'file_name'"),
    ],
)
def test_bad_coco_names_the_record_and_writes_nothing(lake_with_images, tmp_path, change, message):
    lake, paths = lake_with_images
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(coco(paths, **change)))
    with pytest.raises(LabelImportError, match=message) as caught:
        import_labels(lake, path, "coco")
    assert "bad.json" in str(caught.value)
    assert lake.open("annotations") is None


def test_unknown_assets_stop_the_import_unless_allowed(lake_with_images, tmp_path):
    lake, paths = lake_with_images
    data = coco(paths)
    data["images"].append({"id": 9, "file_name": "never-ingested.jpg", "width": 40, "height": 40})
    data["annotations"].append({"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]})
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LabelImportError, match=r"never-ingested\.jpg"):
        import_labels(lake, path, "coco")
    report = import_labels(lake, path, "coco", allow_unknown=True)
    assert report.unknown_assets == ["never-ingested.jpg"] and report.added == 3


def test_malformed_json_says_where(lake_with_images, tmp_path):
    lake, _ = lake_with_images
    path = tmp_path / "broken.json"
    path.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(LabelImportError, match=r"line 2"):
        import_labels(lake, path, "coco")


def test_label_studio_choices_boxes_and_text(lake_with_images, tmp_path):
    lake, paths = lake_with_images
    tasks = [
        {
            "data": {"image": f"/data/upload/1/{paths[0].name}"},
            "annotations": [
                {
                    "result": [
                        {"type": "choices", "value": {"choices": ["smiling"]}},
                        {
                            "type": "rectanglelabels",
                            "original_width": 40,
                            "original_height": 40,
                            "value": {
                                "x": 10,
                                "y": 20,
                                "width": 50,
                                "height": 25,
                                "rectanglelabels": ["face"],
                            },
                        },
                        {"type": "textarea", "value": {"text": ["a person smiling"]}},
                    ]
                }
            ],
        }
    ]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks))
    report = import_labels(lake, path, "labelstudio")
    assert report.by_kind == {"class": 1, "box": 1, "caption": 1}
    _, rows = run_sql(lake, "SELECT bbox FROM labels WHERE kind = 'box'")
    assert rows[0][0] == pytest.approx([4.0, 8.0, 20.0, 10.0])


def test_csv_and_jsonl(lake_with_images, tmp_path):
    lake, paths = lake_with_images
    table = tmp_path / "labels.csv"
    table.write_text(
        "path,label,caption\n" + "".join(f"{p},happy,a face {i}\n" for i, p in enumerate(paths))
    )
    assert import_labels(lake, table, "csv").by_kind == {"class": 3, "caption": 3}
    lines = tmp_path / "labels.jsonl"
    lines.write_text(
        json.dumps({"file": paths[0].name, "bbox": [1, 1, 5, 5]})
        + "\n\n"
        + json.dumps({"file": paths[1].name, "label": "sad"})
        + "\n"
    )
    assert import_labels(lake, lines, "jsonl").by_kind == {"box": 1, "class": 1}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"file": paths[0].name, "label": "x"}) + "\n{oops\n")
    with pytest.raises(LabelImportError, match="line 2"):
        import_labels(lake, bad, "jsonl")
    no_ref = tmp_path / "noref.csv"
    no_ref.write_text("label\nhappy\n")
    with pytest.raises(LabelImportError, match="sha256, path or file column"):
        import_labels(lake, no_ref, "csv")
    assert labels_count(lake) == 8


def test_cli_labels(home, tmp_path):
    make_images(tmp_path / "imgs", {"x": 2}, size=40)
    runner = CliRunner()
    assert runner.invoke(app, ["lake", "ingest", str(tmp_path / "imgs")]).exit_code == 0
    table = tmp_path / "l.csv"
    table.write_text(
        "file,label\n"
        + "".join(f"{p.name},cat\n" for p in sorted((tmp_path / "imgs" / "x").iterdir()))
    )
    done = runner.invoke(app, ["lake", "labels", str(table), "--format", "csv", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["added"] == 2
    wrong = runner.invoke(app, ["lake", "labels", str(table), "--format", "yaml"])
    assert wrong.exit_code != 0


def test_coco_export_round_trips(lake_with_images, settings, tmp_path):
    from daybreak.lake import datasets

    lake, paths = lake_with_images
    source = tmp_path / "coco.json"
    source.write_text(json.dumps(coco(paths)))
    import_labels(lake, source, "coco", source="vendor")
    version = datasets.create(lake, settings, "people", "TRUE", {"train": 0.5, "val": 0.5})
    counts = datasets.export_coco(lake, settings, version, tmp_path / "out")
    assert counts == version.split_counts
    exported = [
        json.loads((tmp_path / "out" / f"annotations_{s}.json").read_text()) for s in version.splits
    ]
    categories = exported[0]["categories"]
    assert categories == [
        {"id": 1, "name": "person", "keypoints": ["nose", "left_eye"], "skeleton": [[1, 2]]}
    ]
    boxes = sorted(a["bbox"] for f in exported for a in f["annotations"] if "bbox" in a)
    assert boxes == [[0.0, 0.0, 10.0, 10.0], [2.0, 3.0, 20.0, 30.0]]
    assert [a["keypoints"] for f in exported for a in f["annotations"] if "keypoints" in a] == [
        [5.0, 6.0, 2.0, 7.0, 8.0, 1.0]
    ]
    for split, content in zip(version.splits, exported, strict=True):
        for image in content["images"]:
            assert (tmp_path / "out" / image["file_name"]).is_file()
        again = import_labels(
            lake,
            tmp_path / "out" / f"annotations_{split}.json",
            "coco",
            source=f"back-{split}",
            images_dir=tmp_path / "out",
        )
        assert again.unknown_assets == []
    _, rows = run_sql(
        lake, "SELECT count(*) FROM labels WHERE source LIKE 'back-%' AND kind = 'box'"
    )
    assert rows == [(2,)]
