"""Taking assets out of the lake (for example when a user asks for their data to be deleted).

``delete`` removes the assets matching a predicate, and their labels, from the current table
versions: new dataset versions no longer see them. Dataset versions made before keep reading
them (their table versions are tagged) until a purge removes the bytes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from daybreak.config import Settings
from daybreak.errors import NotFoundError
from daybreak.lake import datasets
from daybreak.lake.query import run_sql
from daybreak.lake.tables import Lake

CHUNK = 500


@dataclasses.dataclass
class DeleteReport:
    assets: list[str]
    labels_removed: int
    affected_datasets: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def matching(lake: Lake, where: str) -> list[str]:
    """sha256 of the assets with an ``items`` row matching ``where``."""
    query = f"SELECT DISTINCT sha256 FROM items WHERE {where} ORDER BY 1"
    _, rows = run_sql(
        lake, query, f"the predicate {where!r} failed", "try it with `daybreak lake sql`"
    )
    return [r[0] for r in rows]


def affected(settings: Settings, shas: set[str]) -> list[str]:
    """Dataset versions that contain any of ``shas``."""
    out = []
    for record in datasets.list_versions(settings):
        column = datasets.rows(settings, record).column("sha256").to_pylist()
        if shas.intersection(column):
            out.append(record.ref)
    return out


def delete(lake: Lake, settings: Settings, where: str) -> DeleteReport:
    shas = matching(lake, where)
    if not shas:
        raise NotFoundError(
            f"the predicate {where!r} matches no assets", "check it with `daybreak lake sql`"
        )
    labels_removed = 0
    for start in range(0, len(shas), CHUNK):
        chunk = ", ".join(f"'{sha}'" for sha in shas[start : start + CHUNK])
        predicate = f"sha256 IN ({chunk})"
        annotations = lake.open("annotations")
        if annotations is not None:
            labels_removed += annotations.count_rows(filter=predicate)
            annotations.delete(predicate)
        lake.open("assets").delete(predicate)
    return DeleteReport(shas, labels_removed, affected(settings, set(shas)))
