"""Exporting a dataset version: to folders (``SPLIT/LABEL/SHA.EXT``) or to COCO JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from daybreak.config import Settings
from daybreak.lake import masks
from daybreak.lake.datasets import DatasetVersion, labels_of, require_readable, rows
from daybreak.lake.reader import read_assets
from daybreak.lake.tables import Lake, file_name

CATEGORY_KINDS = ("class", "box", "keypoints", "mask")


def export_folders(lake: Lake, settings: Settings, record: DatasetVersion, target: Path) -> int:
    """Write ``target/SPLIT/LABEL/SHA.EXT`` (``_unlabelled`` for assets without a class)."""
    require_readable(record)
    table = rows(settings, record).to_pydict()
    items = read_assets(lake, record.assets_version, table["sha256"], ["sha256", "data", "format"])
    written = 0
    for index, item in enumerate(items):
        label = (table["labels"][index] or ["_unlabelled"])[0]
        folder = target / table["split"][index] / _safe(label)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / file_name(item["sha256"], item["format"])).write_bytes(item["data"])
        written += 1
    return written


def _safe(label: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.\- ]", "_", label).strip(" .")
    return cleaned or "_"


def export_coco(
    lake: Lake, settings: Settings, record: DatasetVersion, target: Path
) -> dict[str, int]:
    """Write ``target/images/SHA.EXT`` and one COCO file per split, ``annotations_SPLIT.json``,
    from the labels as they were when the version was made (boxes, keypoints with names and
    skeleton, masks as RLE, captions). Returns images written per split."""
    require_readable(record)
    table = rows(settings, record).to_pydict()
    split_of_sha = dict(zip(table["sha256"], table["split"], strict=True))
    labels = labels_of(lake, settings, record)
    categories = sorted({n["label"] for n in labels if n["label"] and n["kind"] in CATEGORY_KINDS})
    category_ids = {name: i + 1 for i, name in enumerate(categories)}
    files: dict[str, dict[str, Any]] = {
        split: {"images": [], "annotations": [], "categories": _categories(labels, category_ids)}
        for split in record.splits
    }
    image_ids: dict[str, int] = {}
    (target / "images").mkdir(parents=True, exist_ok=True)
    columns = ["sha256", "data", "format", "width", "height"]
    for item in read_assets(lake, record.assets_version, table["sha256"], columns):
        name = file_name(item["sha256"], item["format"])
        (target / "images" / name).write_bytes(item["data"])
        image_ids[item["sha256"]] = len(image_ids) + 1
        files[split_of_sha[item["sha256"]]]["images"].append(
            {
                "id": image_ids[item["sha256"]],
                "file_name": f"images/{name}",
                "width": item["width"],
                "height": item["height"],
                "sha256": item["sha256"],
            }
        )
    next_id = 1
    for note in labels:
        coco = _coco_annotation(note, image_ids, category_ids)
        if coco is not None:
            coco["id"] = next_id
            next_id += 1
            files[split_of_sha[note["sha256"]]]["annotations"].append(coco)
    for split, content in files.items():
        (target / f"annotations_{split}.json").write_text(json.dumps(content))
    return {split: len(content["images"]) for split, content in files.items()}


def _categories(labels: list[dict[str, Any]], category_ids: dict[str, int]) -> list[dict[str, Any]]:
    """COCO categories; a keypoint category carries its keypoint names and skeleton."""
    extra: dict[str, dict[str, Any]] = {}
    for note in labels:
        if note["kind"] == "keypoints" and note["meta"] and note["label"] not in extra:
            meta = json.loads(note["meta"])
            extra[note["label"]] = {k: meta[k] for k in ("keypoints", "skeleton") if k in meta}
    return [{"id": i, "name": name, **extra.get(name, {})} for name, i in category_ids.items()]


def _coco_annotation(
    note: dict[str, Any], image_ids: dict[str, int], category_ids: dict[str, int]
) -> dict[str, Any] | None:
    base: dict[str, Any] = {"image_id": image_ids[note["sha256"]], "iscrowd": 0}
    if note["label"] in category_ids:
        base["category_id"] = category_ids[note["label"]]
    if note["kind"] == "box" and note["bbox"]:
        x, y, w, h = note["bbox"]
        return {**base, "bbox": [x, y, w, h], "area": w * h}
    if note["kind"] == "keypoints" and note["keypoints"]:
        points = note["keypoints"]
        visible = sum(1 for i in range(2, len(points), 3) if points[i] > 0)
        return {**base, "keypoints": points, "num_keypoints": visible}
    if note["kind"] == "mask":
        return {**base, **masks.coco_fields(note.get("mask"), note["meta"])}
    if note["kind"] == "caption" and note["caption"]:
        return {**base, "caption": note["caption"]}
    return None
