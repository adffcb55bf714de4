"""Read-side views of dataset versions for the web: summaries, stats, a page of samples with
their labels, and the diff between two versions with samples of each change.

A version is immutable, so what it takes to browse it (its rows, the size of each asset and its
labels without mask bytes) is read once and kept in a small in-process cache.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
from collections import Counter, OrderedDict
from typing import Any

from daybreak.config import Settings
from daybreak.errors import ConfigError
from daybreak.lake import datasets
from daybreak.lake.datasets import DatasetVersion
from daybreak.lake.tables import Lake

PER_PAGE = 48
MAX_PER_PAGE = 200
SIZE_BUCKETS = 12
DIFF_SAMPLES = 12
CACHED_VERSIONS = 8
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclasses.dataclass(frozen=True)
class Sample:
    sha256: str
    split: str
    labels: tuple[str, ...]
    width: int | None
    height: int | None
    format: str | None


@dataclasses.dataclass(frozen=True)
class VersionIndex:
    """Everything a page of a version needs, without image or mask bytes."""

    samples: tuple[Sample, ...]
    annotations: dict[str, list[dict[str, Any]]]  # sha256 → its labels, in snapshot order

    @functools.cached_property
    def by_sha(self) -> dict[str, Sample]:
        return {s.sha256: s for s in self.samples}


def summaries(settings: Settings) -> list[dict[str, Any]]:
    """One entry per dataset: how many versions and its latest version."""
    grouped: dict[str, list[DatasetVersion]] = {}
    for record in datasets.list_versions(settings):
        grouped.setdefault(record.name, []).append(record)
    return [
        {"name": name, "versions": len(found), "latest": found[-1].to_dict()}
        for name, found in sorted(grouped.items())
    ]


def version_refs(settings: Settings, name: str) -> list[dict[str, Any]]:
    """A dataset's versions (newest first), each with the runs that read it."""
    found = datasets.list_versions(settings, name)
    if not found:
        datasets.get(settings, name)  # raises the usual "no dataset called ..."
    return [
        {**record.to_dict(), "ref": record.ref, "runs": datasets.runs_using(settings, record)}
        for record in reversed(found)
    ]


def index_of(settings: Settings, record: DatasetVersion) -> VersionIndex:
    """The version's browse index (cached: versions never change)."""
    datasets.require_readable(record)
    return _cached_index(settings, record)


_index_lock = threading.Lock()
_indexes: OrderedDict[tuple[str, str, str, int], VersionIndex] = OrderedDict()


def _cached_index(settings: Settings, record: DatasetVersion) -> VersionIndex:
    key = (settings.blobs_url, record.uri, record.name, record.version)
    with _index_lock:  # one build per version, even when a page asks for many at once
        found = _indexes.get(key)
        if found is None:
            found = _indexes[key] = _build_index(settings, record)
            while len(_indexes) > CACHED_VERSIONS:
                _indexes.popitem(last=False)
        _indexes.move_to_end(key)
        return found


def _build_index(settings: Settings, record: DatasetVersion) -> VersionIndex:
    import pyarrow as pa
    import pyarrow.compute as pc

    lake = Lake(settings)
    table = datasets.rows(settings, record).to_pydict()
    shas = table["sha256"]
    sizes: dict[str, dict[str, Any]] = {}
    assets = lake.open("assets", record.assets_version)
    if assets is not None and shas:
        meta = assets.to_table(columns=["sha256", "width", "height", "format"])
        meta = meta.filter(pc.is_in(meta["sha256"], value_set=pa.array(shas, pa.string())))
        sizes = {row["sha256"]: row for row in meta.to_pylist()}
    samples = tuple(
        Sample(
            sha,
            split,
            tuple(labels or ()),
            sizes.get(sha, {}).get("width"),
            sizes.get(sha, {}).get("height"),
            sizes.get(sha, {}).get("format"),
        )
        for sha, split, labels in zip(shas, table["split"], table["labels"], strict=True)
    )
    annotations: dict[str, list[dict[str, Any]]] = {}
    for row in datasets.labels_of(lake, settings, record):
        found = annotations.setdefault(row["sha256"], [])
        found.append(_annotation(row, len(found)))
    return VersionIndex(samples, annotations)


def _annotation(row: dict[str, Any], index: int) -> dict[str, Any]:
    """A label as the page draws it: no mask bytes, a digest to compare versions by."""
    meta = _meta(row.get("meta"))
    has_mask = row.get("mask") is not None or isinstance(meta.get("rle"), dict)
    fields = [row.get(k) for k in ("kind", "label", "bbox", "keypoints", "caption")]
    digest = hashlib.sha256(json.dumps(fields).encode() + (row.get("mask") or b"")).hexdigest()
    out: dict[str, Any] = {
        "index": index,
        "kind": row["kind"],
        "label": row.get("label"),
        "source": row.get("source"),
        "digest": digest[:16],
    }
    if row.get("bbox") is not None:
        out["bbox"] = [round(float(v), 2) for v in row["bbox"]]
    if row.get("keypoints") is not None:
        out["keypoints"] = [round(float(v), 2) for v in row["keypoints"]]
        out["names"] = meta.get("keypoints")
        out["skeleton"] = meta.get("skeleton")
    if row.get("caption"):
        out["caption"] = row["caption"]
    out["mask"] = has_mask
    return out


def _meta(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def version_stats(settings: Settings, record: DatasetVersion) -> dict[str, Any]:
    """Rows per split, assets and annotations per label and split, image sizes."""
    index = index_of(settings, record)
    splits = list(record.splits) or sorted({s.split for s in index.samples})
    per_label: dict[str, Counter[str]] = {}
    for sample in index.samples:
        for label in sample.labels or ("(none)",):
            per_label.setdefault(label, Counter())[sample.split] += 1
    labels = sorted(per_label, key=lambda k: (-sum(per_label[k].values()), k))
    kinds: Counter[str] = Counter(a["kind"] for found in index.annotations.values() for a in found)
    return {
        "rows": len(index.samples),
        "split_counts": dict(Counter(s.split for s in index.samples)),
        "splits": splits,
        "labels": labels,
        "label_counts": {s: [per_label[k][s] for k in labels] for s in splits},
        "annotation_kinds": dict(sorted(kinds.items())),
        "sizes": size_distribution(index.samples),
    }


def size_distribution(samples: tuple[Sample, ...]) -> dict[str, Any]:
    """The most common image sizes (``WxH``) with their counts, the rest as ``other``."""
    counts = Counter(
        f"{s.width}{TIMES}{s.height}"
        for s in samples
        if s.width is not None and s.height is not None
    )
    common = counts.most_common(SIZE_BUCKETS)
    other = sum(counts.values()) - sum(n for _, n in common)
    buckets = [{"size": size, "count": n} for size, n in common]
    if other:
        buckets.append({"size": "other", "count": other})
    widths = [s.width for s in samples if s.width]
    heights = [s.height for s in samples if s.height]
    return {
        "buckets": buckets,
        "distinct": len(counts),
        "width": [min(widths), max(widths)] if widths else None,
        "height": [min(heights), max(heights)] if heights else None,
    }


def page_of_samples(
    settings: Settings,
    record: DatasetVersion,
    split: str | None = None,
    label: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> dict[str, Any]:
    """One page of the version's samples (filtered by split and label) with their labels."""
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ConfigError(
            f"page {page} / per_page {per_page} is out of range",
            f"pages start at 1; per_page is 1 to {MAX_PER_PAGE}",
        )
    index = index_of(settings, record)
    chosen = [
        s
        for s in index.samples
        if (not split or s.split == split)
        and (not label or label in s.labels or (label == "(none)" and not s.labels))
    ]
    pages = max(1, -(-len(chosen) // per_page))
    start = (page - 1) * per_page
    return {
        "ref": record.ref,
        "total": len(chosen),
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "samples": [sample_view(index, s) for s in chosen[start : start + per_page]],
    }


def sample_view(index: VersionIndex, sample: Sample) -> dict[str, Any]:
    return {
        **dataclasses.asdict(sample),
        "labels": list(sample.labels),
        "annotations": index.annotations.get(sample.sha256, []),
    }


def diff_detail(
    settings: Settings, old: DatasetVersion, new: DatasetVersion, limit: int = DIFF_SAMPLES
) -> dict[str, Any]:
    """``datasets.diff`` plus label changes that keep the class names (a moved box, a new
    mask), split and label counts of both, and up to ``limit`` samples of each change."""
    before, after = index_of(settings, old), index_of(settings, new)
    base = datasets.diff(settings, old, new)
    relabelled = set(base["relabelled"])
    common = sorted(before.by_sha.keys() & after.by_sha.keys())
    redrawn = [
        sha
        for sha in common
        if sha not in relabelled
        and _digests(before.annotations.get(sha)) != _digests(after.annotations.get(sha))
    ]
    changes = {
        "added": (base["added"], None, after),
        "removed": (base["removed"], before, None),
        "moved": (base["moved"], before, after),
        "relabelled": (base["relabelled"], before, after),
        "redrawn": (redrawn, before, after),
    }
    return {
        "old": old.ref,
        "new": new.ref,
        "counts": {kind: len(shas) for kind, (shas, _, _) in changes.items()},
        "unchanged": base["unchanged"] - len(redrawn),
        "splits": _compare_counts(_split_counts(before), _split_counts(after)),
        "labels": _compare_counts(_label_counts(before), _label_counts(after)),
        "samples": {
            kind: [_change(sha, was, now) for sha in shas[:limit]]
            for kind, (shas, was, now) in changes.items()
        },
    }


def _digests(found: list[dict[str, Any]] | None) -> list[str]:
    return sorted(a["digest"] for a in found or [])


def _split_counts(index: VersionIndex) -> Counter[str]:
    return Counter(s.split for s in index.samples)


def _label_counts(index: VersionIndex) -> Counter[str]:
    return Counter(label for s in index.samples for label in s.labels or ("(none)",))


def _compare_counts(old: Counter[str], new: Counter[str]) -> list[dict[str, Any]]:
    keys = sorted(old.keys() | new.keys(), key=lambda k: (-(old[k] + new[k]), k))
    return [{"name": k, "old": old[k], "new": new[k], "change": new[k] - old[k]} for k in keys]


def _change(sha: str, was: VersionIndex | None, now: VersionIndex | None) -> dict[str, Any]:
    """One changed asset: what it was and what it is (``None`` where it is absent)."""
    return {
        "sha256": sha,
        "old": sample_view(was, was.by_sha[sha]) if was else None,
        "new": sample_view(now, now.by_sha[sha]) if now else None,
    }
