"""SQL over the lake with DuckDB: the views ``assets``, ``labels`` and ``items``.

``items`` is one row per (asset, label), or one row for an asset without labels: the asset's
metadata columns plus ``label``, ``label_kind``, ``label_source``, ``label_round``, ``bbox``,
``keypoints`` and ``caption``. Dataset predicates (``--where``) are written against it.
"""

from __future__ import annotations

from typing import Any

from daybreak.errors import DaybreakError
from daybreak.lake.tables import ANNOTATIONS, ASSETS, METADATA_COLUMNS, Lake

LABEL_COLUMNS = [
    "sha256",
    "source",
    "round",
    "kind",
    "label",
    "bbox",
    "keypoints",
    "caption",
    "meta",
    "created_at",
]
ITEMS = """
CREATE VIEW items AS
SELECT a.*, l.label AS label, l.kind AS label_kind, l.source AS label_source,
       l.round AS label_round, l.bbox AS bbox, l.keypoints AS keypoints, l.caption AS caption
FROM assets a LEFT JOIN labels l ON l.sha256 = a.sha256
"""


class LakeSQLError(DaybreakError):
    """A query or predicate over the lake does not parse or does not run."""

    http_status = 400


def connect(
    lake: Lake, assets_version: int | None = None, annotations_version: int | None = None
) -> Any:
    """A DuckDB connection with the lake's views (at the given table versions)."""
    import duckdb

    assets = lake.open("assets", assets_version)
    labels = lake.open("annotations", annotations_version)
    assets_table = (
        assets.to_table(columns=METADATA_COLUMNS)
        if assets is not None
        else ASSETS.empty_table().select(METADATA_COLUMNS)
    )
    labels_table = (
        labels.to_table(columns=LABEL_COLUMNS)
        if labels is not None
        else ANNOTATIONS.empty_table().select(LABEL_COLUMNS)
    )
    connection = duckdb.connect()
    connection.register("assets", assets_table)
    connection.register("labels", labels_table)
    connection.execute(ITEMS)
    return connection


def run_sql(
    lake: Lake,
    query: str,
    failure: str = "the query failed",
    hint: str = "tables: assets, labels, items (see `daybreak lake sql 'DESCRIBE items'`)",
    versions: dict[str, int | None] | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of ``query`` (at the given table versions, else the latest); a bad
    query says ``failure`` and what DuckDB said and where."""
    versions = versions or {}
    connection = connect(lake, versions.get("assets"), versions.get("annotations"))
    try:
        cursor = connection.execute(query)
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    except Exception as exc:  # duckdb raises its own error classes for parse and bind errors
        raise LakeSQLError(f"{failure}: {_first_line(exc)}", hint) from exc
    finally:
        connection.close()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text if len(text) < 400 else text[:397] + "..."
