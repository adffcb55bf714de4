"""Removing bytes from storage for good: the forced cleanup, and ``daybreak lake purge``.

A deleted asset leaves the current table version at once (``lake delete``), but its bytes stay
in storage while an older table version refers to them, and every dataset version pins the
table version it was made from. Removing the bytes means letting those table versions go:

- A dataset version whose assets are all still in the current table is **re-pinned** to it.
  Assets are addressed by the sha256 of their bytes, so it reads back byte-identical, and its
  labels come from its own snapshot, not from the annotations table's history.
- A dataset version that holds a deleted asset cannot be read any more: it is **retired**. Its
  rows and label snapshot lose the purged assets; reading it says what happened and when.

Then every table version but the current one is deleted. ``purge`` first rewrites the current
fragments without their deleted rows, so no file holds a purged asset afterwards. Nothing
should ingest into the lake while either runs.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any

import sqlalchemy as sa

from daybreak.blobs import BlobStore
from daybreak.config import Settings
from daybreak.lake import datasets
from daybreak.lake.datasets import DatasetVersion
from daybreak.lake.tables import Lake
from daybreak.store.engine import get_database
from daybreak.store.schema import dataset_versions
from daybreak.store.schema import datasets as datasets_table

TABLES = ("assets", "annotations")


@dataclasses.dataclass
class CleanupReport:
    repinned: list[str] = dataclasses.field(default_factory=list)
    retired: list[str] = dataclasses.field(default_factory=list)
    runs: list[str] = dataclasses.field(default_factory=list)  # runs that read a retired version
    versions_removed: dict[str, int] = dataclasses.field(default_factory=dict)
    bytes_removed: dict[str, int] = dataclasses.field(default_factory=dict)
    purged_assets: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def force_cleanup(
    lake: Lake,
    settings: Settings,
    reason: str = "forced cleanup",
    present: set[str] | None = None,
) -> CleanupReport:
    """Re-pin or retire every dataset version, then delete every table version but the current.
    ``present``: the current version's assets, when the caller has read them already."""
    report = CleanupReport()
    current = lake.open("assets")
    present = lake.shas() if present is None else present
    for record in datasets.list_versions(settings):
        if record.purged_at is not None:
            continue
        datasets.ensure_label_snapshot(lake, settings, record)
        shas = datasets.rows(settings, record).column("sha256").to_pylist()
        missing = {sha for sha in shas if sha not in present}
        if missing:
            _retire(lake, settings, record, missing, reason)
            report.retired.append(record.ref)
            report.runs += datasets.runs_using(settings, record)
        elif current is not None:
            _repin(lake, settings, record, int(current.version))
            report.repinned.append(record.ref)
    for table in TABLES:
        dataset = lake.open(table)
        if dataset is None:
            continue
        for tag, info in dataset.tags.list().items():
            if info["version"] != dataset.version or table != "assets":
                dataset.tags.delete(tag)
        stats = dataset.cleanup_old_versions(
            older_than=datetime.timedelta(0),
            delete_unverified=True,
            error_if_tagged_old_versions=False,
        )
        report.versions_removed[table] = int(stats.old_versions)
        report.bytes_removed[table] = int(stats.bytes_removed)
    report.runs = sorted(set(report.runs))
    return report


def purge(lake: Lake, settings: Settings) -> CleanupReport:
    """Remove from storage the bytes (and labels) of every asset deleted from the lake."""
    stored = _every_stored_asset(lake)
    for table in TABLES:
        dataset = lake.open(table)
        if dataset is not None:
            dataset.optimize.compact_files(
                materialize_deletions=True, materialize_deletions_threshold=0.0
            )
    present = lake.shas()
    report = force_cleanup(lake, settings, "assets it held were deleted and purged", present)
    report.purged_assets = sorted(stored - present)
    return report


def _every_stored_asset(lake: Lake) -> set[str]:
    """The sha256 of every asset any retained assets table version holds."""
    dataset = lake.open("assets")
    if dataset is None:
        return set()
    found: set[str] = set()
    for entry in dataset.versions():
        found |= lake.shas(int(entry["version"]))
    return found


def _repin(lake: Lake, settings: Settings, record: DatasetVersion, version: int) -> None:
    tag = datasets.lance_tag(record.name, record.version)
    assets = lake.open("assets")
    if tag in assets.tags.list():
        assets.tags.update(tag, version)
    else:
        assets.tags.create(tag, version)
    _update(settings, record, assets_version=version)


def _retire(
    lake: Lake, settings: Settings, record: DatasetVersion, missing: set[str], reason: str
) -> None:
    """Take the purged assets out of the version's rows and label snapshot, and mark it."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    blobs = BlobStore(settings.blobs_url)
    for uri in (record.uri, datasets.labels_uri(record)):
        key = blobs.key_of(uri)
        with blobs.open(key) as handle:
            table = pq.read_table(handle)
        kept = table.filter(pc.invert(pc.is_in(table["sha256"], value_set=_strings(missing))))
        datasets.put_table(blobs, kept, key)
    note = f"{reason}: {len(missing)} of its {record.rows} assets"
    _update(settings, record, purged_at=time.time(), purged_note=note)


def _strings(values: set[str]) -> Any:
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())


def _update(settings: Settings, record: DatasetVersion, **values: Any) -> None:
    with get_database(settings.db_url).write() as conn:
        dataset_id = conn.execute(
            sa.select(datasets_table.c.id).where(datasets_table.c.name == record.name)
        ).scalar_one()
        conn.execute(
            dataset_versions.update()
            .where(
                dataset_versions.c.dataset_id == dataset_id,
                dataset_versions.c.version == record.version,
            )
            .values(**values)
        )
