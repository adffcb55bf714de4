"""SQL over the lake with DuckDB: the views ``assets``, ``labels`` and ``items``.

``items`` is one row per (asset, label), or one row for an asset without labels: the asset's
metadata columns plus ``label``, ``label_kind``, ``label_source``, ``label_round``, ``bbox``,
``keypoints`` and ``caption``. Dataset predicates (``--where``) are written against it.
``position`` is an asset's row in the assets table version the view was made from.
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
    import pyarrow as pa

    assets = lake.open("assets", assets_version)
    labels = lake.open("annotations", annotations_version)
    assets_table = (
        assets.to_table(columns=METADATA_COLUMNS)
        if assets is not None
        else ASSETS.empty_table().select(METADATA_COLUMNS)
    )
    assets_table = assets_table.append_column(
        "position", pa.array(range(assets_table.num_rows), pa.int64())
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


class LakeQuery:
    """One DuckDB connection over the lake at pinned table versions, kept open for repeated
    queries: ``row_ids(where)`` gives the assets table positions to ``take`` in a few ms."""

    def __init__(
        self,
        lake: Lake,
        versions: dict[str, int | None] | None = None,
        materialize: bool = True,
    ) -> None:
        versions = versions or lake.versions()
        self.versions = versions
        self.connection = connect(lake, versions.get("assets"), versions.get("annotations"))
        if materialize:  # join once, not in every query
            self.connection.execute("ALTER VIEW items RENAME TO items_view")
            self.connection.execute("CREATE TEMP TABLE items AS SELECT * FROM items_view")

    def sql(
        self,
        query: str,
        failure: str = "the query failed",
        hint: str = "tables: assets, labels, items (see `daybreak lake sql 'DESCRIBE items'`)",
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows; a bad query says ``failure`` and what DuckDB said and where."""
        try:
            cursor = self.connection.execute(query)
            columns = [d[0] for d in cursor.description or []]
            return columns, cursor.fetchall()
        except Exception as exc:  # duckdb raises its own error classes for parse and bind errors
            raise LakeSQLError(f"{failure}: {_first_line(exc)}", hint) from exc

    def row_ids(self, where: str) -> list[int]:
        """Positions in the assets table (at ``versions["assets"]``) of the assets with an
        ``items`` row matching ``where``, in order."""
        try:
            found = self.connection.execute(
                f"SELECT DISTINCT position FROM items WHERE {where} ORDER BY 1"
            ).fetchnumpy()["position"]
        except Exception as exc:  # duckdb's parse and bind errors
            raise LakeSQLError(
                f"the predicate {where!r} failed: {_first_line(exc)}",
                "columns of `items`: see `daybreak lake sql 'DESCRIBE items'`",
            ) from exc
        return [int(i) for i in found]

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> LakeQuery:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def run_sql(
    lake: Lake,
    query: str,
    failure: str = "the query failed",
    hint: str = "tables: assets, labels, items (see `daybreak lake sql 'DESCRIBE items'`)",
    versions: dict[str, int | None] | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of ``query`` (at the given table versions, else the latest)."""
    with LakeQuery(lake, versions, materialize=False) as connection:
        return connection.sql(query, failure, hint)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text if len(text) < 400 else text[:397] + "..."
