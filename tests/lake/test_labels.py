"""Label importers: COCO, Label Studio, CSV/JSONL; checked whole, nothing half written."""

from __future__ import annotations

import json

import numpy as np
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
    from daybreak.lake import datasets, export

    lake, paths = lake_with_images
    source = tmp_path / "coco.json"
    source.write_text(json.dumps(coco(paths)))
    import_labels(lake, source, "coco", source="vendor")
    version = datasets.create(lake, settings, "people", "TRUE", {"train": 0.5, "val": 0.5})
    counts = export.export_coco(lake, settings, version, tmp_path / "out")
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


def stored_masks(lake):
    """The mask rows, each with its decoded array."""
    from daybreak.lake.masks import decode_mask

    table = lake.open("annotations").to_table(
        columns=["sha256", "label", "mask", "meta"], filter="kind = 'mask'"
    )
    return [{**r, "array": decode_mask(r["mask"], r["meta"])} for r in table.to_pylist()]


def write_png(path, array, mode=None):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(array, dtype=np.uint8))
    (image.convert(mode) if mode else image).save(path)
    return path


def test_png_masks_from_csv_and_jsonl_round_trip(lake_with_images, tmp_path):
    lake, paths = lake_with_images  # 40x40, 41x40 and 42x40 (width x height)
    first = np.zeros((40, 40), np.uint8)
    first[5:15, 10:30] = 1
    first[20:25, 0:5] = 3  # a class map keeps its values
    write_png(tmp_path / "labels" / "masks" / "a.png", first)
    table = tmp_path / "labels" / "m.csv"
    table.write_text(f"path,mask,mask_label\n{paths[0]},masks/a.png,road\n")
    assert import_labels(lake, table, "csv").by_kind == {"mask": 1}
    second = (np.arange(40 * 41).reshape(40, 41) % 7 == 0).astype(np.uint8) * 255
    absolute = write_png(tmp_path / "elsewhere" / "b.png", second)
    lines = tmp_path / "m.jsonl"
    lines.write_text(json.dumps({"file": paths[1].name, "mask": str(absolute)}) + "\n")
    assert import_labels(lake, lines, "jsonl").by_kind == {"mask": 1}
    rows = {r["label"]: r for r in stored_masks(lake)}
    assert rows["road"]["array"].dtype == np.uint8
    np.testing.assert_array_equal(rows["road"]["array"], first)
    np.testing.assert_array_equal(rows[None]["array"], second)
    meta = json.loads(rows["road"]["meta"])
    assert meta == {"mask_file": "masks/a.png", "mask_encoding": "png"}


def test_palette_png_mask_keeps_its_indices(lake_with_images, tmp_path):
    from PIL import Image

    lake, paths = lake_with_images
    indices = np.zeros((40, 40), np.uint8)
    indices[:, 20:] = 2
    image = Image.fromarray(indices).convert("P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    image.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    table = tmp_path / "p.csv"
    table.write_text(f"path,mask\n{paths[0]},p.png\n")
    import_labels(lake, table, "csv")
    np.testing.assert_array_equal(stored_masks(lake)[0]["array"], indices)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: write_png(d / "small.png", np.ones((30, 30))),
            r"small\.png\) is 30x30, but the image is 40x40",
        ),
        (lambda d: d / "small.png", r"small\.png\): the file does not exist"),
        (lambda d: write_png(d / "small.png", np.ones((40, 40)), "RGB"), "mode RGB"),
        (lambda d: (d / "small.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage"), "does not decode"),
    ],
)
def test_bad_png_mask_names_file_line_and_field(lake_with_images, tmp_path, make, message):
    lake, paths = lake_with_images
    write_png(tmp_path / "good.png", np.ones((40, 40)))
    make(tmp_path)
    table = tmp_path / "m.csv"
    table.write_text(f"path,mask\n{paths[0]},good.png\n{paths[0]},small.png\n")
    with pytest.raises(LabelImportError, match=message) as caught:
        import_labels(lake, table, "csv")
    assert "m.csv: line 3: field 'mask'" in str(caught.value)
    assert lake.open("annotations") is None  # the good line is not imported either


def labelstudio_file(tmp_path, paths, *annotations):
    tasks = [
        {
            "data": {"image": f"/data/upload/1/{paths[0].name}"},
            "annotations": [{"result": list(results)} for results in annotations],
        }
    ]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks))
    return path


def ls_result(kind, value, size=40, **extra):
    return {
        "type": kind,
        "original_width": size,
        "original_height": size,
        "value": value,
        **extra,
    }


def test_label_studio_polygon_becomes_a_mask(lake_with_images, tmp_path):
    lake, paths = lake_with_images
    square = [[25, 25], [75, 25], [75, 75], [25, 75]]  # percent: pixels 10 to 30
    path = labelstudio_file(
        tmp_path,
        paths,
        [ls_result("polygonlabels", {"points": square, "polygonlabels": ["lake"]})],
    )
    assert import_labels(lake, path, "labelstudio").by_kind == {"mask": 1}
    (row,) = stored_masks(lake)
    mask = row["array"]
    assert row["label"] == "lake" and mask.shape == (40, 40)
    assert mask[10:30, 10:30].all()  # the inside
    assert not mask[:9].any() and not mask[32:].any() and not mask[:, :9].any()
    assert not mask[:, 32:].any()
    assert 400 <= int(mask.sum()) <= 441  # 20x20, give or take the edge
    meta = json.loads(row["meta"])
    assert meta["polygons"] == [[10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]]
    assert meta["mask_encoding"] == "png"


def test_label_studio_keypoints_are_grouped_per_annotation(lake_with_images, tmp_path):
    lake, paths = lake_with_images

    def point(x, y, name):
        return ls_result(
            "keypointlabels",
            {"x": x, "y": y, "width": 1, "keypointlabels": [name]},
            from_name="pose",
        )

    path = labelstudio_file(
        tmp_path,
        paths,
        [
            point(10, 20, "nose"),
            ls_result("choices", {"choices": ["ok"]}),
            point(50, 25, "left_eye"),
        ],
        [point(100, 100, "nose")],
    )
    report = import_labels(lake, path, "labelstudio")
    assert report.by_kind == {"keypoints": 2, "class": 1}
    _, rows = run_sql(
        lake,
        "SELECT label, keypoints, meta FROM labels WHERE kind = 'keypoints' ORDER BY len(keypoints)",
    )
    assert rows[0][0] == "pose" and rows[0][1] == [40.0, 40.0, 2.0]
    assert rows[1][1] == [4.0, 8.0, 2.0, 20.0, 10.0, 2.0]
    assert json.loads(rows[1][2]) == {"keypoints": ["nose", "left_eye"]}


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            ls_result("polygonlabels", {"points": [[10, 10], [120, 10], [50, 50]]}),
            r"polygon point \(48\.0, 4\.0\) is outside the 40x40 image",
        ),
        (
            ls_result("keypointlabels", {"x": 150, "y": 10, "keypointlabels": ["nose"]}),
            r"keypoint 0 \(60\.0, 4\.0\) is outside the 40x40 image",
        ),
        (ls_result("polygonlabels", {"points": [[10, 10], [20, 10]]}), "at least 3"),
        (ls_result("brushlabels", {"format": "rle", "rle": [0, 0]}), "brush RLE ends early"),
        (ls_result("brushlabels", {"format": "png", "rle": []}), "brush format 'png'"),
    ],
)
def test_bad_label_studio_shapes_write_nothing(lake_with_images, tmp_path, result, message):
    lake, paths = lake_with_images
    good = ls_result("polygonlabels", {"points": [[10, 10], [20, 10], [20, 20]]})
    path = labelstudio_file(tmp_path, paths, [good, result])
    with pytest.raises(LabelImportError, match=message) as caught:
        import_labels(lake, path, "labelstudio")
    assert "ls.json: task[0].annotations[0]" in str(caught.value)
    assert lake.open("annotations") is None


def ls_encode(values):
    """Label Studio's brush RLE, written as label-studio-converter's ``encode_rle`` does:
    a header (count, word size 8, run-length sizes 3, 4, 8, 16), then one block per run:
    1 bit run/literal, 2 bits size index, the length - 1, the 8-bit value."""
    bits = f"{len(values):032b}" + f"{7:05b}" + "".join(f"{s - 1:04b}" for s in (3, 4, 8, 16))
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        length = j - i
        if length == 1:
            bits += "0" + "00" + "000" + f"{values[i]:08b}"
        else:
            index, size = next((n, s) for n, s in enumerate((3, 4, 8, 16)) if length <= 2**s)
            bits += "1" + f"{index:02b}" + f"{length - 1:0{size}b}" + f"{values[i]:08b}"
        i = j
    bits += "0" * (-len(bits) % 8)
    return [int(bits[k : k + 8], 2) for k in range(0, len(bits), 8)]


def test_label_studio_brush_rle_decodes():
    from daybreak.lake.masks import from_labelstudio_rle

    mask = np.zeros((6, 5), np.uint8)
    mask[1:4, 2:5] = 1
    mask[5, 0] = 1  # a run of one: a literal block
    rgba = np.zeros((6, 5, 4), np.uint8)
    rgba[mask == 1] = [0, 0, 0, 200]
    rgba[0, 0] = [255, 255, 255, 0]  # colour without alpha is background
    rle = ls_encode(rgba.ravel().tolist())
    assert rle[:4] == [0, 0, 0, 120]  # 6 * 5 * 4 values, big-endian
    np.testing.assert_array_equal(from_labelstudio_rle(rle, 5, 6), mask)
    with pytest.raises(ValueError, match="not 6x6x4"):
        from_labelstudio_rle(rle, 6, 6)


def test_label_studio_brush_imports_as_a_mask(lake_with_images, tmp_path):
    lake, paths = lake_with_images
    mask = np.zeros((40, 40), np.uint8)
    mask[3:30, 7:9] = 1
    rgba = np.repeat(mask[:, :, None] * 255, 4, axis=2)
    brush = {"format": "rle", "rle": ls_encode(rgba.ravel().tolist()), "brushlabels": ["wire"]}
    path = labelstudio_file(tmp_path, paths, [ls_result("brushlabels", brush)])
    assert import_labels(lake, path, "labelstudio").by_kind == {"mask": 1}
    (row,) = stored_masks(lake)
    assert row["label"] == "wire"
    np.testing.assert_array_equal(row["array"], mask)
    wrong = labelstudio_file(tmp_path, paths, [ls_result("brushlabels", brush, size=20)])
    with pytest.raises(LabelImportError, match="not 20x20x4"):
        import_labels(lake, wrong, "labelstudio")


def coco_rle_decode(rle):
    """pycocotools' rleFrString and rleDecode, written out here to check the module's."""
    counts, text, p = [], rle["counts"], 0
    while p < len(text):
        x, k, more = 0, 0, 1
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = c & 0x20
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    h, w = rle["size"]
    flat = np.concatenate([np.full(n, i % 2, np.uint8) for i, n in enumerate(counts)])
    return flat.reshape(w, h).T


def test_to_coco_rle_round_trips():
    from daybreak.lake.masks import coco_fields, encode_mask, from_coco_rle, to_coco_rle

    square = np.zeros((10, 10), np.uint8)
    square[2:7, 3:8] = 1
    # by hand: counts 32, nine 5s, 23; from the fourth on, less the count two back; 5-bit
    # groups + 48, 0x20 for "more": 32 -> "P1", 5 -> "5", 0 -> "0", 23 - 5 = 18 -> "b0"
    assert to_coco_rle(square, compressed=False)["counts"] == [32] + [5] * 9 + [23]
    assert to_coco_rle(square) == {"size": [10, 10], "counts": "P1550000000b0"}
    fields = coco_fields(encode_mask(square), None)
    assert fields["area"] == 25 and fields["bbox"] == [3.0, 2.0, 5.0, 5.0]
    assert fields["segmentation"] == to_coco_rle(square)
    rng = np.random.default_rng(1)
    for shape in [(1, 1), (7, 13), (64, 33)]:
        mask = (rng.random(shape) > 0.6).astype(np.uint8)
        mask[0, 0] = 1  # COCO counts then start with a zero-length run
        rle = to_coco_rle(mask * 9)
        np.testing.assert_array_equal(coco_rle_decode(rle), mask)
        np.testing.assert_array_equal(from_coco_rle(rle), mask)
        plain = to_coco_rle(mask, compressed=False)
        assert plain["counts"][0] == 0
        np.testing.assert_array_equal(from_coco_rle(plain), mask)


def test_coco_polygons_and_rle_are_stored_as_png(lake_with_images, tmp_path):
    from daybreak.lake.masks import decode_mask, to_coco_rle

    lake, paths = lake_with_images
    blob = np.zeros((40, 40), np.uint8)
    blob[4:9, 30:36] = 1
    data = coco(
        paths,
        annotations=[
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": to_coco_rle(blob)},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10], [20, 20, 30, 20, 30, 30]],
            },
            {"id": 3, "image_id": 2, "segmentation": to_coco_rle(blob, compressed=False)},
        ],
    )
    path = tmp_path / "seg.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LabelImportError, match=r"annotations\[2\]: segmentation \(RLE\) is 40x40"):
        import_labels(lake, path, "coco")  # image 2 is 41 wide
    data["annotations"].pop()
    path.write_text(json.dumps(data))
    assert import_labels(lake, path, "coco").by_kind == {"mask": 2}
    rows = sorted(stored_masks(lake), key=lambda r: json.loads(r["meta"])["coco_id"])
    np.testing.assert_array_equal(rows[0]["array"], blob)
    polygons = rows[1]["array"]
    assert polygons[0:10, 0:10].all() and polygons[25, 28] and not polygons[28, 22]
    assert not polygons[15:19].any()
    assert json.loads(rows[1]["meta"])["polygons"][1] == [20.0, 20.0, 30.0, 20.0, 30.0, 30.0]
    # rows written before masks.py kept the RLE in meta; they still decode
    np.testing.assert_array_equal(decode_mask(None, {"rle": to_coco_rle(blob)}), blob)


def test_coco_export_writes_masks_that_import_back_the_same(lake_with_images, settings, tmp_path):
    from daybreak.lake import datasets, export
    from daybreak.lake.masks import from_coco_rle

    lake, paths = lake_with_images
    person = np.zeros((40, 40), np.uint8)
    person[4:30, 8:20] = 1
    write_png(tmp_path / "labels" / "p.png", person)
    table = tmp_path / "labels" / "m.csv"
    table.write_text(f"path,mask,mask_label\n{paths[0]},p.png,person\n")
    import_labels(lake, table, "csv")
    version = datasets.create(lake, settings, "seg", "label_kind = 'mask'", {"train": 1.0})
    export.export_coco(lake, settings, version, tmp_path / "out")
    content = json.loads((tmp_path / "out" / "annotations_train.json").read_text())
    (annotation,) = content["annotations"]
    assert content["categories"] == [{"id": 1, "name": "person"}]
    assert annotation["category_id"] == 1 and annotation["area"] == 26 * 12
    assert annotation["bbox"] == [8.0, 4.0, 12.0, 26.0]
    assert np.array_equal(from_coco_rle(annotation["segmentation"]) != 0, person != 0)
    import_labels(
        lake,
        tmp_path / "out" / "annotations_train.json",
        "coco",
        "back",
        images_dir=tmp_path / "out",
    )
    back = [m for m in stored_masks(lake) if m["label"] == "person"]
    assert len(back) == 2 and np.array_equal(back[0]["array"] != 0, back[1]["array"] != 0)
