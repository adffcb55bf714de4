"""Dataset versions: immutable, fingerprinted selections of lake assets with stable splits.

A version is created by a predicate over the ``items`` view. Each selected asset's split comes
from a hash of the dataset name, the seed and the asset's sha256, so an asset keeps its split
when the dataset grows and validation data never leaks into training. The rows (sha256, split,
labels) are written as Parquet to the blob store; the metadata store keeps the version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daybreak.blobs import BlobStore
from daybreak.config import Settings
from daybreak.errors import ConfigError, NotFoundError
from daybreak.lake.query import run_sql
from daybreak.lake.tables import Lake
from daybreak.store.engine import get_database
from daybreak.store.schema import dataset_versions, datasets

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
SPLIT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


@dataclasses.dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: int
    fingerprint: str
    predicate: str
    splits: dict[str, float]
    seed: int
    stratify: str | None
    assets_version: int | None
    annotations_version: int | None
    rows: int
    split_counts: dict[str, int]
    uri: str
    created_at: float
    purged_at: float | None = None
    purged_note: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_splits(spec: str) -> dict[str, float]:
    """``train=0.8,val=0.1,test=0.1`` or ``80/10/10`` (train/val/test)."""
    spec = spec.strip()
    try:
        if "=" in spec:
            pairs = [part.split("=", 1) for part in spec.split(",") if part.strip()]
            splits = {name.strip(): float(value) for name, value in pairs}
        else:
            parts = [float(p) for p in spec.split("/")]
            if len(parts) > 3:
                raise ValueError("at most three parts")
            splits = dict(zip(("train", "val", "test"), parts, strict=False))
    except ValueError as exc:
        raise ConfigError(
            f"cannot read split spec {spec!r}: {exc}",
            "write train=0.8,val=0.1,test=0.1 or 80/10/10",
        ) from exc
    total = sum(splits.values())
    if "=" not in spec and total > 1.5:  # percentages
        splits = {k: v / 100 for k, v in splits.items()}
        total = sum(splits.values())
    bad = [k for k in splits if not SPLIT_NAME.fullmatch(k)]
    if bad or not splits or any(v < 0 for v in splits.values()) or abs(total - 1.0) > 1e-6:
        raise ConfigError(
            f"split spec {spec!r} must name splits with fractions ≥ 0 that add up to 1 (they add up to {total:g})",
            "write train=0.8,val=0.1,test=0.1 or 80/10/10",
        )
    return splits


def split_of(dataset: str, seed: int, sha256: str, splits: dict[str, float]) -> str:
    """The split of one asset: a pure function of the dataset, the seed and the asset."""
    point = (
        int.from_bytes(hashlib.sha256(f"{dataset}\0{seed}\0{sha256}".encode()).digest()[:8], "big")
        / 2**64
    )
    edge = 0.0
    names = list(splits)
    for name in names:
        edge += splits[name]
        if point < edge:
            return name
    return names[-1]


def parse_ref(ref: str) -> tuple[str, int | None]:
    name, _, version = ref.partition("@")
    if not NAME.fullmatch(name):
        raise ConfigError(
            f"dataset name {name!r} is not allowed", "use letters, digits, '_', '-' and '.'"
        )
    if not version:
        return name, None
    if not (version.isascii() and version.isdigit()):
        raise ConfigError(f"{ref!r}: the version after @ must be a number", "write NAME@3")
    return name, int(version)


def create(
    lake: Lake,
    settings: Settings,
    name: str,
    where: str,
    splits: dict[str, float],
    seed: int = 0,
    stratify: str | None = None,
) -> DatasetVersion:
    """Select assets with ``where`` over ``items`` and store a new version of ``name``.

    Splits are sticky: while the split spec and seed stay the same, an asset keeps the split it
    had in earlier versions. New assets get a split from a hash, or with ``stratify="label"``
    the split that keeps each class closest to the target fractions."""
    if stratify not in (None, "label"):
        raise ConfigError(f"cannot stratify by {stratify!r}", "use --stratify-by label")
    import pyarrow as pa

    parse_ref(name)
    versions = lake.versions()
    query = f"""
        SELECT a.sha256,
               list_sort(list(DISTINCT l.label) FILTER (WHERE l.label IS NOT NULL)) AS labels
        FROM assets a LEFT JOIN labels l ON l.sha256 = a.sha256
        WHERE a.sha256 IN (SELECT sha256 FROM items WHERE {where or "TRUE"})
        GROUP BY a.sha256 ORDER BY a.sha256
    """
    _, rows = run_sql(
        lake,
        query,
        f"the predicate {where!r} failed",
        "columns of `items`: see `daybreak lake sql 'DESCRIBE items'`",
        versions,
    )
    if not rows:
        raise NotFoundError(
            f"the predicate {where!r} selects no assets", "check it with `daybreak lake sql`"
        )
    shas = [r[0] for r in rows]
    labels = [list(r[1] or []) for r in rows]
    earlier = _earlier_splits(settings, name, splits, seed)
    if stratify:
        split_names = _stratified(name, seed, shas, labels, splits, earlier)
    else:
        split_names = [earlier.get(sha) or split_of(name, seed, sha, splits) for sha in shas]
    label_rows = annotation_rows(lake, versions["annotations"], set(shas))
    fingerprint = _fingerprint(shas, split_names, labels, label_rows)
    table = pa.table({"sha256": shas, "split": split_names, "labels": labels})
    return _store(
        settings, name, where, splits, seed, stratify, versions, table, label_rows, fingerprint
    )


def _earlier_splits(
    settings: Settings, name: str, splits: dict[str, float], seed: int
) -> dict[str, str]:
    """Splits assets had in earlier versions made with the same spec and seed."""
    out: dict[str, str] = {}
    for record in list_versions(settings, name):
        if record.splits == splits and record.seed == seed:
            table = rows(settings, record).to_pydict()
            out.update(zip(table["sha256"], table["split"], strict=True))
    return out


def _stratified(
    name: str,
    seed: int,
    shas: list[str],
    labels: list[list[str]],
    splits: dict[str, float],
    earlier: dict[str, str],
) -> list[str]:
    """Per class (first label), earlier assets keep their split; new ones, in hash order, go
    where the class is furthest below its target count."""
    groups: dict[str, list[int]] = {}
    for index, names in enumerate(labels):
        groups.setdefault(names[0] if names else "", []).append(index)
    out = [""] * len(shas)
    for members in groups.values():
        counts = dict.fromkeys(splits, 0)
        fresh = []
        for index in members:
            kept = earlier.get(shas[index])
            if kept in counts:
                out[index] = kept
                counts[kept] += 1
            else:
                fresh.append(index)
        fresh.sort(key=lambda i: hashlib.sha256(f"{name}\0{seed}\0{shas[i]}".encode()).digest())
        for index in fresh:
            total = sum(counts.values()) + 1
            best = max(splits, key=lambda s: (splits[s] * total - counts[s], splits[s]))
            out[index] = best
            counts[best] += 1
    return out


def _fingerprint(
    shas: list[str], splits: list[str], labels: list[list[str]], label_rows: Any
) -> str:
    """sha256 over the sorted rows and every label they carry, with its source and round (so a
    moved box or a new labelling round changes it; when a label was written does not)."""
    digest = hashlib.sha256()
    for sha, split, names in zip(shas, splits, labels, strict=True):
        digest.update(f"{sha}\t{split}\t{','.join(names)}\n".encode())
    fields = ["sha256", "source", "round", "kind", "label", "bbox", "keypoints", "caption"]
    notes = [
        json.dumps([row[f] for f in fields] + [hashlib.sha256(row["mask"] or b"").hexdigest()])
        for row in label_rows.select([*fields, "mask"]).to_pylist()
    ]
    for note in sorted(notes):
        digest.update(note.encode() + b"\n")
    return digest.hexdigest()


def _store(
    settings: Settings,
    name: str,
    where: str,
    splits: dict[str, float],
    seed: int,
    stratify: str | None,
    versions: dict[str, int | None],
    table: Any,
    label_rows: Any,
    fingerprint: str,
) -> DatasetVersion:
    db = get_database(settings.db_url)
    blobs = BlobStore(settings.blobs_url)
    now = time.time()
    with db.write() as conn:
        dataset_id = conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).scalar()
        if dataset_id is None:
            dataset_id = conn.execute(
                datasets.insert().values(name=name, created_at=now)
            ).inserted_primary_key[0]  # type: ignore[index]
        last = conn.execute(
            sa.select(sa.func.max(dataset_versions.c.version)).where(
                dataset_versions.c.dataset_id == dataset_id
            )
        ).scalar()
        version = int(last or 0) + 1
        uri = put_table(blobs, table, f"datasets/{name}/v{version}.parquet")
        put_table(blobs, label_rows, f"datasets/{name}/v{version}.labels.parquet")
        record = DatasetVersion(
            name,
            version,
            fingerprint,
            where,
            splits,
            seed,
            stratify,
            versions["assets"],
            versions["annotations"],
            table.num_rows,
            {s: table.column("split").to_pylist().count(s) for s in splits},
            uri,
            now,
        )
        Lake(settings).protect({"assets": versions["assets"]}, lance_tag(name, version))
        values = record.to_dict()
        values.pop("name")
        conn.execute(dataset_versions.insert().values(dataset_id=dataset_id, **values))
    return record


def labels_uri(record: DatasetVersion) -> str:
    """Where the version's label snapshot lies: its assets' annotation rows when it was made."""
    return record.uri.removesuffix(".parquet") + ".labels.parquet"


def annotation_rows(lake: Lake, annotations_version: int | None, shas: set[str]) -> Any:
    """The annotation rows of ``shas`` at ``annotations_version``, as an Arrow table."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from daybreak.lake.tables import ANNOTATIONS

    table = lake.open("annotations", annotations_version)
    if table is None:
        return ANNOTATIONS.empty_table()
    found = table.to_table()
    return found.filter(pc.is_in(found["sha256"], value_set=pa.array(sorted(shas), pa.string())))


def put_table(blobs: BlobStore, table: Any, key: str) -> str:
    """Write ``table`` as Parquet to ``key`` in the blob store; returns its URI."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.parquet"
        pq.write_table(table, path)
        return blobs.put_file(path, key)[0]


def labels_of(lake: Lake, settings: Settings, record: DatasetVersion) -> list[dict[str, Any]]:
    """The version's annotation rows (every kind, masks included) as they were when it was
    made: from its snapshot, or for a version made before snapshots, the pinned table."""
    import pyarrow.parquet as pq

    blobs = BlobStore(settings.blobs_url)
    key = blobs.key_of(labels_uri(record))
    if blobs.exists(key):
        with blobs.open(key) as handle:
            return list(pq.read_table(handle).to_pylist())
    if record.annotations_version is None:
        return []
    shas = set(rows(settings, record).column("sha256").to_pylist())
    table = lake.open("annotations", record.annotations_version)
    return [n for n in table.to_table().to_pylist() if n["sha256"] in shas]


def ensure_label_snapshot(lake: Lake, settings: Settings, record: DatasetVersion) -> None:
    """Write the snapshot of a version made before snapshots existed (before a purge or a
    forced cleanup removes the table version it points at)."""
    blobs = BlobStore(settings.blobs_url)
    key = blobs.key_of(labels_uri(record))
    if not blobs.exists(key):
        shas = set(rows(settings, record).column("sha256").to_pylist())
        put_table(blobs, annotation_rows(lake, record.annotations_version, shas), key)


class PurgedError(NotFoundError):
    """A dataset version whose assets were purged from the lake."""

    http_status = 410


def require_readable(record: DatasetVersion) -> None:
    """Raise for a version whose assets were purged (its rows cannot be read any more)."""
    if record.purged_at is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.purged_at))
        raise PurgedError(
            f"{record.ref} can no longer be read: {record.purged_note or 'assets were purged'} "
            f"(purged {when})",
            f"create a new version: daybreak dataset create {record.name} --where ...",
        )


def lance_tag(name: str, version: int) -> str:
    """The tag that keeps a dataset version's table versions alive through cleanup."""
    return "ds-" + re.sub(r"[^A-Za-z0-9_-]", "-", name) + f"-v{version}"


def tag(settings: Settings, ref: str, label: str) -> DatasetVersion:
    """Name a version (``pets@paper``): refs accept the tag wherever they accept a number."""
    from daybreak.store.schema import dataset_tags

    if not SPLIT_NAME.fullmatch(label):
        raise ConfigError(
            f"tag {label!r} is not allowed", "use a letter, then letters, digits and '_'"
        )
    record = get(settings, ref)
    db = get_database(settings.db_url)
    with db.write() as conn:
        dataset_id = conn.execute(
            sa.select(datasets.c.id).where(datasets.c.name == record.name)
        ).scalar_one()
        conn.execute(
            dataset_tags.delete().where(
                dataset_tags.c.dataset_id == dataset_id, dataset_tags.c.tag == label
            )
        )
        conn.execute(
            dataset_tags.insert().values(
                dataset_id=dataset_id, tag=label, version=record.version, created_at=time.time()
            )
        )
    return record


def _tagged_version(settings: Settings, name: str, label: str) -> int | None:
    from daybreak.store.schema import dataset_tags

    query = (
        sa.select(dataset_tags.c.version)
        .join(datasets, datasets.c.id == dataset_tags.c.dataset_id)
        .where(datasets.c.name == name, dataset_tags.c.tag == label)
    )
    with get_database(settings.db_url).read() as conn:
        return conn.execute(query).scalar()


def get(settings: Settings, ref: str) -> DatasetVersion:
    """``NAME@N``, ``NAME@TAG``, or ``NAME`` for its latest version."""
    name, _, label = ref.partition("@")
    if label and not (label.isascii() and label.isdigit()) and SPLIT_NAME.fullmatch(label):
        tagged = _tagged_version(settings, name, label)
        if tagged is None:
            raise NotFoundError(
                f"dataset {name!r} has no tag {label!r}", "tag one with `daybreak dataset tag`"
            )
        ref = f"{name}@{tagged}"
    name, version = parse_ref(ref)
    found = list_versions(settings, name)
    if not found:
        raise NotFoundError(
            f"no dataset called {name!r}", "list datasets with `daybreak dataset ls`"
        )
    if version is None:
        return found[-1]
    for record in found:
        if record.version == version:
            return record
    raise NotFoundError(
        f"dataset {name!r} has no version {version}", f"it has versions 1 to {found[-1].version}"
    )


def list_versions(settings: Settings, name: str | None = None) -> list[DatasetVersion]:
    db = get_database(settings.db_url)
    query = (
        sa.select(datasets.c.name, dataset_versions)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .order_by(datasets.c.name, dataset_versions.c.version)
    )
    if name:
        query = query.where(datasets.c.name == name)
    fields = {f.name for f in dataclasses.fields(DatasetVersion)}
    with db.read() as conn:
        return [
            DatasetVersion(**{k: v for k, v in row.items() if k in fields})
            for row in conn.execute(query).mappings()
        ]


def rows(settings: Settings, record: DatasetVersion) -> Any:
    """The version's rows as an Arrow table (sha256, split, labels)."""
    import pyarrow.parquet as pq

    blobs = BlobStore(settings.blobs_url)
    with blobs.open(blobs.key_of(record.uri)) as handle:
        return pq.read_table(handle)


def record_use(settings: Settings, run_id: str, record: DatasetVersion, split: str | None) -> None:
    """Lineage: the run read this dataset version (once per run and version)."""
    from daybreak.store.schema import run_datasets
    from daybreak.tracking.service import _insert

    db = get_database(settings.db_url)
    with db.write() as conn:
        version_id = conn.execute(
            sa.select(dataset_versions.c.id)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(datasets.c.name == record.name, dataset_versions.c.version == record.version)
        ).scalar_one()
        values = {
            "run_id": run_id,
            "dataset_version_id": version_id,
            "split": split or "",
            "used_at": time.time(),
        }
        conn.execute(_insert(conn, run_datasets).values(**values).on_conflict_do_nothing())


def used_by_run(settings: Settings, run_id: str) -> list[str]:
    """``NAME@VERSION`` of every dataset version the run read."""
    from daybreak.store.schema import run_datasets

    query = (
        sa.select(datasets.c.name, dataset_versions.c.version)
        .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
        .join(run_datasets, run_datasets.c.dataset_version_id == dataset_versions.c.id)
        .where(run_datasets.c.run_id == run_id)
        .order_by(datasets.c.name, dataset_versions.c.version)
    )
    with get_database(settings.db_url).read() as conn:
        return [f"{name}@{version}" for name, version in conn.execute(query).all()]


def runs_using(settings: Settings, record: DatasetVersion) -> list[str]:
    """Ids of the runs that read this dataset version."""
    from daybreak.store.schema import run_datasets

    query = (
        sa.select(run_datasets.c.run_id)
        .join(dataset_versions, dataset_versions.c.id == run_datasets.c.dataset_version_id)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(datasets.c.name == record.name, dataset_versions.c.version == record.version)
        .order_by(run_datasets.c.used_at)
    )
    with get_database(settings.db_url).read() as conn:
        return [row[0] for row in conn.execute(query).all()]


def stats(settings: Settings, record: DatasetVersion) -> dict[str, dict[str, int]]:
    """Rows per split and label (``(none)`` for unlabelled assets)."""
    table = rows(settings, record).to_pydict()
    out: dict[str, dict[str, int]] = {}
    for split, labels in zip(table["split"], table["labels"], strict=True):
        for label in labels or ["(none)"]:
            per_split = out.setdefault(split, {})
            per_split[label] = per_split.get(label, 0) + 1
    return out


def diff(settings: Settings, old: DatasetVersion, new: DatasetVersion) -> dict[str, Any]:
    """What changed between two versions: assets added and removed, split moves, relabels."""
    before = _by_sha(rows(settings, old).to_pydict())
    after = _by_sha(rows(settings, new).to_pydict())
    common = before.keys() & after.keys()
    return {
        "old": old.ref,
        "new": new.ref,
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "moved": sorted(s for s in common if before[s][0] != after[s][0]),
        "relabelled": sorted(s for s in common if before[s][1] != after[s][1]),
        "unchanged": sum(1 for s in common if before[s] == after[s]),
    }


def _by_sha(table: dict[str, list[Any]]) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {
        sha: (split, tuple(labels or ()))
        for sha, split, labels in zip(table["sha256"], table["split"], table["labels"], strict=True)
    }
