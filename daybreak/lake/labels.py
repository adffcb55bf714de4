"""Label importers: COCO JSON, Label Studio JSON export, and CSV/JSONL.

Every file is read and checked whole before anything is written: a malformed file, a label for
an asset the lake does not have, a box, keypoint or polygon outside its image, a mask of the
wrong size, each stops the import with a message naming the file and the record, and nothing is
written. Each import is one round of its source (``--round``, default the next), appended in one
commit. Masks are stored as :mod:`daybreak.lake.masks` says.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daybreak.errors import DaybreakError, ImportFormatError
from daybreak.lake import masks
from daybreak.lake.tables import Lake

if TYPE_CHECKING:
    import numpy as np

FORMATS = ("coco", "labelstudio", "csv", "jsonl")

# A reader defers a mask to the import, which knows the asset's size: a label's "_mask" is
# (what it is, for errors; a function of the asset's width and height giving the HxW array).
# "_polygons" (pixels) are checked against the image like boxes.
MaskMaker = Callable[[int, int], "np.ndarray"]


class LabelImportError(ImportFormatError):
    """A label file that cannot be imported as it is."""


@dataclasses.dataclass
class LabelReport:
    source: str
    round: int
    added: int = 0
    by_kind: dict[str, int] = dataclasses.field(default_factory=dict)
    unknown_assets: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AssetInfo:
    sha256: str
    width: int | None
    height: int | None


class AssetIndex:
    """Finds the lake asset a label refers to: by sha256, by the file's bytes, or by path."""

    def __init__(self, lake: Lake, images_dir: Path | None) -> None:
        dataset = lake.open("assets")
        table = dataset.to_table(columns=["sha256", "width", "height", "path"]) if dataset else None
        rows = table.to_pylist() if table is not None else []
        self.by_sha = {r["sha256"]: AssetInfo(r["sha256"], r["width"], r["height"]) for r in rows}
        self.by_path: dict[str, AssetInfo] = {}
        self.by_name: dict[str, list[AssetInfo]] = {}
        for row in rows:
            info = self.by_sha[row["sha256"]]
            self.by_path[row["path"]] = info
            self.by_name.setdefault(Path(row["path"]).name, []).append(info)
        self.images_dir = images_dir

    def find(self, reference: str) -> AssetInfo | None:
        if reference in self.by_sha:
            return self.by_sha[reference]
        if reference in self.by_path:
            return self.by_path[reference]
        if self.images_dir is not None:
            root = self.images_dir.resolve()
            candidate = (root / reference).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():  # never outside it
                return self.by_sha.get(hashlib.sha256(candidate.read_bytes()).hexdigest())
        same_name = self.by_name.get(Path(reference).name, [])
        return same_name[0] if len(same_name) == 1 else None


def import_labels(
    lake: Lake,
    path: Path,
    fmt: str,
    source: str | None = None,
    round_: int | None = None,
    images_dir: Path | None = None,
    allow_unknown: bool = False,
) -> LabelReport:
    """Check ``path`` whole, then append its labels as one round of ``source``."""
    import pyarrow as pa

    if fmt not in FORMATS:
        raise LabelImportError(f"unknown label format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise LabelImportError(f"{path} does not exist", "check the path")
    source = source or path.stem
    index = AssetIndex(lake, images_dir)
    parsed = list(_READERS[fmt](path))
    rows: list[dict[str, Any]] = []
    report = LabelReport(
        source=source, round=round_ if round_ is not None else _next_round(lake, source)
    )
    problems: list[str] = []
    now = time.time()
    for where, reference, label in parsed:
        asset = index.find(reference)
        if asset is None:
            report.unknown_assets.append(reference)
            if not allow_unknown:
                problems.append(f"{where}: no asset in the lake for {reference!r}")
            continue
        problem = _outside(label, asset)
        if problem is None and "_mask" in label:
            label, problem = _with_mask(label, asset)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        rows.append(
            {
                **_empty_row(),
                **label,
                "sha256": asset.sha256,
                "source": source,
                "round": report.round,
                "created_at": now,
            }
        )
        report.by_kind[label["kind"]] = report.by_kind.get(label["kind"], 0) + 1
    if problems:
        shown = "\n  ".join(problems[:20]) + (
            f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        )
        raise LabelImportError(
            f"{path}: {len(problems)} problem(s), nothing imported:\n  {shown}",
            "fix the file; --allow-unknown skips labels for assets not in the lake (ingest them first)",
        )
    if rows:
        lake.append("annotations", pa.Table.from_pylist(rows))
    report.added = len(rows)
    return report


def _empty_row() -> dict[str, Any]:
    return {
        "label": None,
        "bbox": None,
        "keypoints": None,
        "mask": None,
        "caption": None,
        "meta": None,
    }


def _with_mask(label: dict[str, Any], asset: AssetInfo) -> tuple[dict[str, Any], str | None]:
    """The label with its mask made at the asset's size and encoded, or what is wrong."""
    what, make = label["_mask"]
    row = {k: v for k, v in label.items() if not k.startswith("_")}
    if asset.width is None or asset.height is None:
        return row, f"{what}: the asset has no width and height, so it cannot have a mask"
    try:
        array = make(asset.width, asset.height)
    except ValueError as exc:
        return row, f"{what}: {exc}"
    if array.shape != (asset.height, asset.width):
        size = f"{array.shape[-1]}x{array.shape[0]}"
        return row, f"{what} is {size}, but the image is {asset.width}x{asset.height}"
    row["mask"] = masks.encode_mask(array)
    row["meta"] = json.dumps(
        {**json.loads(row.get("meta") or "{}"), "mask_encoding": masks.ENCODING}
    )
    return row, None


def _outside(label: dict[str, Any], asset: AssetInfo) -> str | None:
    """A box, keypoint or polygon point that does not fit its image."""
    width, height = asset.width, asset.height
    if width is None or height is None:
        return None
    if label.get("bbox") is not None:
        x, y, w, h = label["bbox"]
        if w < 0 or h < 0 or x < -0.5 or y < -0.5 or x + w > width + 0.5 or y + h > height + 0.5:
            return f"box {[x, y, w, h]} is outside the {width}x{height} image"
    if label.get("keypoints") is not None:
        points = label["keypoints"]
        for i in range(0, len(points), 3):
            x, y, visible = points[i : i + 3]
            if visible > 0 and not (-0.5 <= x <= width + 0.5 and -0.5 <= y <= height + 0.5):
                return f"keypoint {i // 3} ({x}, {y}) is outside the {width}x{height} image"
    for polygon in label.get("_polygons") or []:
        for x, y in zip(polygon[::2], polygon[1::2], strict=False):
            if not (-0.5 <= x <= width + 0.5 and -0.5 <= y <= height + 0.5):
                return f"polygon point ({x}, {y}) is outside the {width}x{height} image"
    return None


def _next_round(lake: Lake, source: str) -> int:
    dataset = lake.open("annotations")
    if dataset is None:
        return 0
    table = dataset.to_table(
        columns=["round"], filter=f"source = '{source.replace(chr(39), chr(39) * 2)}'"
    )
    rounds = table.column("round").to_pylist()
    return max(rounds) + 1 if rounds else 0


Parsed = Iterator[tuple[str, str, dict[str, Any]]]  # (where in the file, asset reference, label)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LabelImportError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", "fix the file"
        ) from exc
    except UnicodeDecodeError as exc:
        raise LabelImportError(f"{path}: not UTF-8 text", "save the file as UTF-8") from exc


def _need(record: dict[str, Any], field: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if field not in record:
        raise LabelImportError(
            f"{where}: missing field {field!r}", "see the format's documentation in docs/lake.md"
        )
    value = record[field]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise LabelImportError(
            f"{where}: field {field!r} has the wrong type ({type(value).__name__})", "fix the file"
        )
    return value


def _numbers(values: Any, where: str, field: str, size: int | None = None) -> list[float]:
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise LabelImportError(f"{where}: {field} must be a list of numbers", "fix the file")
    if size is not None and len(values) != size:
        raise LabelImportError(
            f"{where}: {field} must have {size} numbers, not {len(values)}", "fix the file"
        )
    return [float(v) for v in values]


def read_coco(path: Path) -> Parsed:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise LabelImportError(f"{path}: a COCO file is a JSON object", "fix the file")
    images = {}
    for i, image in enumerate(_need(data, "images", f"{path}", list)):
        where = f"{path}: images[{i}]"
        images[_need(image, "id", where, (int, str))] = _need(image, "file_name", where, str)
    categories = {}
    for i, category in enumerate(data.get("categories", [])):
        where = f"{path}: categories[{i}]"
        meta = {k: category[k] for k in ("keypoints", "skeleton", "supercategory") if k in category}
        categories[_need(category, "id", where, int)] = (_need(category, "name", where, str), meta)
    for i, note in enumerate(_need(data, "annotations", f"{path}", list)):
        where = f"{path}: annotations[{i}]"
        image_id = _need(note, "image_id", where, (int, str))
        if image_id not in images:
            raise LabelImportError(
                f"{where}: image_id {image_id!r} is not in images", "fix the file"
            )
        category = categories.get(note.get("category_id"))
        if "category_id" in note and category is None:
            raise LabelImportError(
                f"{where}: category_id {note['category_id']!r} is not in categories", "fix the file"
            )
        name, meta = category if category else (None, {})
        ids = {"coco_id": note.get("id"), **meta}
        if "bbox" in note:
            yield (
                where,
                images[image_id],
                {
                    "kind": "box",
                    "label": name,
                    "bbox": _numbers(note["bbox"], where, "bbox", 4),
                    "meta": json.dumps({"coco_id": note.get("id")}),
                },
            )
        if note.get("keypoints"):
            points = _numbers(note["keypoints"], where, "keypoints")
            if len(points) % 3:
                raise LabelImportError(
                    f"{where}: keypoints must be x, y, visibility triples", "fix the file"
                )
            yield (
                where,
                images[image_id],
                {"kind": "keypoints", "label": name, "keypoints": points, "meta": json.dumps(ids)},
            )
        segmentation = note.get("segmentation")
        mask: dict[str, Any] = {}
        if isinstance(segmentation, dict):
            mask = {
                "meta": json.dumps(ids),
                "_mask": ("segmentation (RLE)", _coco_rle(segmentation)),
            }
        elif isinstance(segmentation, list) and segmentation:
            if not all(isinstance(p, list) for p in segmentation):
                raise LabelImportError(
                    f"{where}: segmentation must be an RLE object or a list of polygons",
                    "fix the file",
                )
            polygons = [_numbers(p, where, "segmentation") for p in segmentation]
            mask = _polygon_mask(polygons, "segmentation (polygons)", ids)
        if mask:
            yield where, images[image_id], {"kind": "mask", "label": name, **mask}
        if "caption" in note:
            yield (
                where,
                images[image_id],
                {"kind": "caption", "caption": _need(note, "caption", where, str)},
            )


def _coco_rle(rle: dict[str, Any]) -> MaskMaker:
    return lambda _width, _height: masks.from_coco_rle(rle)


def _polygon_mask(
    polygons: list[list[float]], what: str, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A mask drawn from polygons (pixels), which ``meta["polygons"]`` keeps too."""
    return {
        "meta": json.dumps({**(meta or {}), "polygons": polygons}),
        "_polygons": polygons,
        "_mask": (what, functools.partial(masks.polygons_to_mask, polygons)),
    }


def read_labelstudio(path: Path) -> Parsed:
    data = _load_json(path)
    if not isinstance(data, list):
        raise LabelImportError(
            f"{path}: a Label Studio export is a JSON list of tasks",
            "export as JSON (not JSON-MIN)",
        )
    for t, task in enumerate(data):
        where = f"{path}: task[{t}]"
        reference = _task_image(task, where)
        for a, annotation in enumerate(task.get("annotations", [])):
            groups: dict[str, tuple[list[float], list[str | None]]] = {}
            for r, result in enumerate(annotation.get("result", [])):
                here = f"{where}.annotations[{a}].result[{r}]"
                if result.get("type") == "keypointlabels":
                    _add_keypoint(groups, result, here)
                else:
                    yield from _labelstudio_result(result, here, reference)
            for name, (points, names) in groups.items():
                yield (
                    f"{where}.annotations[{a}]",
                    reference,
                    {
                        "kind": "keypoints",
                        "label": name,
                        "keypoints": points,
                        "meta": json.dumps({"keypoints": names}),
                    },
                )


def _size(result: dict[str, Any], where: str, what: str) -> tuple[int, int]:
    width, height = result.get("original_width"), result.get("original_height")
    if (
        isinstance(width, int | float)
        and isinstance(height, int | float)
        and min(width, height) > 0
    ):
        return int(width), int(height)
    raise LabelImportError(
        f"{where}: original_width/original_height are needed for {what}", "export again"
    )


def _add_keypoint(
    groups: dict[str, tuple[list[float], list[str | None]]], result: dict[str, Any], where: str
) -> None:
    """One Label Studio keypoint (percent) into its annotation's group, by control name."""
    width, height = _size(result, where, "keypoints")
    value = _need(result, "value", where, dict)
    x = _need(value, "x", where, (int, float)) * width / 100
    y = _need(value, "y", where, (int, float)) * height / 100
    points, names = groups.setdefault(str(result.get("from_name") or "keypoints"), ([], []))
    for name in value.get("keypointlabels") or [None]:
        points.extend([x, y, 2.0])
        names.append(name)


def _task_image(task: Any, where: str) -> str:
    data = _need(task, "data", where, dict)
    for value in data.values():
        if isinstance(value, str):
            return (
                value.split("?d=")[-1].rsplit("/", 1)[-1]
                if value.startswith(("/data/", "http"))
                else value
            )
    raise LabelImportError(f"{where}: data has no image reference", "fix the file")


def _labelstudio_result(result: dict[str, Any], where: str, reference: str) -> Parsed:
    kind = result.get("type")
    value = _need(result, "value", where, dict)
    if kind == "choices":
        for choice in _need(value, "choices", where, list):
            yield where, reference, {"kind": "class", "label": str(choice)}
    elif kind == "rectanglelabels":
        width, height = _size(result, where, "boxes")
        box = [
            value["x"] * width / 100,
            value["y"] * height / 100,
            value["width"] * width / 100,
            value["height"] * height / 100,
        ]
        for label in value.get("rectanglelabels", [None]):
            yield where, reference, {"kind": "box", "label": label, "bbox": box}
    elif kind == "textarea":
        for text in value.get("text", []):
            yield where, reference, {"kind": "caption", "caption": str(text)}
    elif kind == "polygonlabels":
        width, height = _size(result, where, "polygons")
        pairs = _need(value, "points", where, list)
        polygon = [
            v * size / 100
            for pair in pairs
            for v, size in zip(_numbers(pair, where, "points", 2), (width, height), strict=True)
        ]
        for label in value.get("polygonlabels") or [None]:
            mask = _polygon_mask([polygon], "polygon")
            yield where, reference, {"kind": "mask", "label": label, **mask}
    elif kind == "brushlabels":
        width, height = _size(result, where, "brushes")
        if value.get("format") != "rle":
            raise LabelImportError(
                f"{where}: brush format {value.get('format')!r} is not supported", "export as rle"
            )
        rle = _need(value, "rle", where, list)
        make = functools.partial(_brush, rle, width, height)
        for label in value.get("brushlabels") or [None]:
            yield where, reference, {"kind": "mask", "label": label, "_mask": ("brush", make)}


def _brush(rle: list[int], width: int, height: int, _width: int, _height: int) -> np.ndarray:
    """A brush decodes at its own size (original_width/height); the import checks the asset's."""
    return masks.from_labelstudio_rle(rle, width, height)


def read_table(path: Path) -> Parsed:
    """CSV with a header, or JSONL: ``sha256``/``path``/``file``, then ``label``, ``caption``,
    ``bbox`` ("x y w h" or a JSON list) with ``box_label``, ``mask`` (a PNG file, relative to
    this file's folder or absolute) with ``mask_label``."""
    if path.suffix.lower() == ".jsonl":
        records = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((f"{path}: line {number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise LabelImportError(
                    f"{path}: line {number} is not JSON ({exc.msg})", "fix the file"
                ) from exc
    else:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"sha256", "path", "file"} & set(reader.fieldnames):
                raise LabelImportError(
                    f"{path}: the header needs a sha256, path or file column", "add one"
                )
            records = [(f"{path}: line {n}", row) for n, row in enumerate(reader, 2)]
    for where, record in records:
        if not isinstance(record, dict):
            raise LabelImportError(f"{where}: each record must be an object", "fix the file")
        reference = record.get("sha256") or record.get("path") or record.get("file")
        if not reference:
            raise LabelImportError(f"{where}: no sha256, path or file", "fix the file")
        if record.get("label"):
            yield where, str(reference), {"kind": "class", "label": str(record["label"])}
        if record.get("caption"):
            yield where, str(reference), {"kind": "caption", "caption": str(record["caption"])}
        if record.get("bbox"):
            raw = record["bbox"]
            values = raw if isinstance(raw, list) else str(raw).replace(",", " ").split()
            try:
                box = _numbers([float(v) for v in values], where, "bbox", 4)
            except ValueError as exc:
                raise LabelImportError(
                    f"{where}: bbox {raw!r} is not four numbers", "write x y w h"
                ) from exc
            yield (
                where,
                str(reference),
                {"kind": "box", "label": record.get("box_label") or None, "bbox": box},
            )
        if record.get("mask"):
            written = str(record["mask"])
            png = Path(written) if Path(written).is_absolute() else path.parent / written
            yield (
                where,
                str(reference),
                {
                    "kind": "mask",
                    "label": record.get("mask_label") or None,
                    "meta": json.dumps({"mask_file": written}),
                    "_mask": (f"field 'mask' ({png})", functools.partial(_png, png)),
                },
            )


def _png(png: Path, _width: int, _height: int) -> np.ndarray:
    if not png.is_file():
        raise ValueError("the file does not exist")
    return masks.read_png(png.read_bytes())


_READERS = {
    "coco": read_coco,
    "labelstudio": read_labelstudio,
    "csv": read_table,
    "jsonl": read_table,
}

__all__ = ["FORMATS", "DaybreakError", "LabelImportError", "LabelReport", "import_labels"]
