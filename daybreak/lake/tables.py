"""The lake's two Lance tables and where they live.

``assets``: one row per distinct content (sha256 of the bytes), with the bytes and metadata.
``annotations``: labels on assets, many per asset, each with its source and round; relabelling
appends here and never rewrites image bytes.
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

from daybreak.config import Settings
from daybreak.errors import ConfigError

ASSETS = pa.schema(
    [
        pa.field("sha256", pa.string(), nullable=False),
        # a blob column: each asset's bytes lie whole in the data file (see reader.py)
        pa.field(
            "data", pa.large_binary(), nullable=False, metadata={"lance-encoding:blob": "true"}
        ),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("format", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("path", pa.string()),
        pa.field("ingested_at", pa.float64(), nullable=False),
        pa.field("video", pa.string()),
        pa.field("frame_ts", pa.float64()),
        pa.field("text", pa.string()),
    ]
)

ANNOTATIONS = pa.schema(
    [
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("round", pa.int32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        pa.field("bbox", pa.list_(pa.float32())),
        pa.field("keypoints", pa.list_(pa.float32())),
        pa.field("mask", pa.large_binary()),
        pa.field("caption", pa.string()),
        pa.field("meta", pa.string()),  # JSON: keypoint names and skeleton, source ids, ...
        pa.field("created_at", pa.float64(), nullable=False),
    ]
)

STORAGE_VERSION: Final = "2.0"  # Lance file format of new tables; blob positions verified in tests
METADATA_COLUMNS = [f.name for f in ASSETS if f.name != "data"]


class Lake:
    """Opens the lake's tables under the blob store (``$DAYBREAK_HOME/blobs/lake`` by default)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.blobs_url.rstrip("/") + "/lake"

    def uri(self, table: str) -> str:
        return f"{self.root}/{table}.lance"

    def open(self, table: str, version: int | None = None) -> Any:
        """The Lance dataset, or None when nothing was ingested yet."""
        import lance

        try:
            return lance.dataset(self.uri(table), version=version)
        except (ValueError, FileNotFoundError, OSError) as exc:
            if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
                return None
            raise ConfigError(
                f"cannot open the lake table {self.uri(table)}: {exc}",
                "check DAYBREAK_BLOBS, that the storage server is up (AWS_ENDPOINT_URL) and your "
                "credentials; an http:// endpoint also needs AWS_ALLOW_HTTP=true",
            ) from exc

    def append(self, table: str, rows: pa.Table) -> int:
        """Append ``rows`` as one commit (all or nothing); returns the new table version."""
        import lance

        existing = self.open(table)
        # a table written by an earlier release keeps its own schema
        new_schema = ASSETS if table == "assets" else ANNOTATIONS
        schema = new_schema if existing is None else existing.schema
        ordered = rows.select(schema.names).cast(schema)
        dataset = lance.write_dataset(
            ordered,
            self.uri(table),
            schema=schema,
            mode="create" if existing is None else "append",
            data_storage_version=STORAGE_VERSION,
        )
        return int(dataset.version)

    def protect(self, versions: dict[str, int | None], tag: str) -> None:
        """Tag table versions so compaction and cleanup keep them readable."""
        for table, version in versions.items():
            dataset = self.open(table)
            if dataset is not None and version is not None and tag not in dataset.tags.list():
                dataset.tags.create(tag, version)

    def compact(self) -> dict[str, Any]:
        """Merge small fragments (each ingest commit makes one); old versions stay readable."""
        out: dict[str, Any] = {}
        for table in ("assets", "annotations"):
            dataset = self.open(table)
            if dataset is not None:
                metrics = dataset.optimize.compact_files()
                out[table] = {
                    "fragments_removed": metrics.fragments_removed,
                    "fragments_added": metrics.fragments_added,
                }
        return out

    def cleanup(self, older_than_seconds: float) -> dict[str, Any]:
        """Delete table versions older than this that no dataset version or tag refers to."""
        import datetime

        out: dict[str, Any] = {}
        for table in ("assets", "annotations"):
            dataset = self.open(table)
            if dataset is not None:
                stats = dataset.cleanup_old_versions(
                    older_than=datetime.timedelta(seconds=older_than_seconds),
                    error_if_tagged_old_versions=False,
                )
                out[table] = {
                    "versions_removed": stats.old_versions,
                    "bytes_removed": stats.bytes_removed,
                }
        return out

    def shas(self, version: int | None = None) -> set[str]:
        """The sha256 of every asset in an assets table version (the latest by default)."""
        dataset = self.open("assets", version)
        if dataset is None:
            return set()
        return set(dataset.to_table(columns=["sha256"]).column("sha256").to_pylist())

    def versions(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for table in ("assets", "annotations"):
            dataset = self.open(table)
            out[table] = None if dataset is None else int(dataset.version)
        return out


def file_name(sha256: str, fmt: str | None) -> str:
    """``SHA.jpg`` and the like, for exported assets."""
    extension = {"jpeg": "jpg"}.get(fmt or "bin", fmt or "bin")
    return f"{sha256}.{extension}"
