"""``TorchDataset``: a dataset version as a map-style PyTorch dataset.

Rows are fetched many at a time (``__getitems__``, which the DataLoader's batch fetcher
calls) from the assets table at the version the dataset was made from, so a version reads the
same bytes whatever was ingested later. The Lance table is opened lazily in each process: Lance
is not fork-safe once opened, so workers open their own.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from daybreak.config import Settings, get_settings
from daybreak.errors import ConfigError
from daybreak.lake import datasets
from daybreak.lake.tables import Lake, row_positions


class TorchDataset:
    """``TorchDataset("pose@3", split="train", transform=fn)``: items are ``(image, label)``
    where ``image`` is a PIL image (the raw encoded bytes with ``decode=False``, e.g. for GPU
    decoding), passed through ``transform``, and ``label`` the index of the asset's first label
    in ``classes`` (-1 when it has none)."""

    def __init__(
        self,
        ref: str,
        split: str | None = "train",
        transform: Callable[[Any], Any] | None = None,
        settings: Settings | None = None,
        decode: bool = True,
        run: Any = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.version = datasets.get(self.settings, ref)
        if split is not None and split not in self.version.splits:
            raise ConfigError(
                f"{self.version.ref} has no split {split!r}",
                f"its splits: {', '.join(self.version.splits)}",
            )
        rows = datasets.rows(self.settings, self.version).to_pydict()
        keep = [i for i, s in enumerate(rows["split"]) if split is None or s == split]
        self.sha256 = [rows["sha256"][i] for i in keep]
        all_labels = sorted({label for labels in rows["labels"] for label in labels})
        self.classes = all_labels
        index = {label: i for i, label in enumerate(all_labels)}
        self.targets = [index[rows["labels"][i][0]] if rows["labels"][i] else -1 for i in keep]
        self.transform = transform
        self.decode = decode
        self._record_lineage(run, split)
        self._positions: list[int] | None = None
        self._table: Any = None

    def _record_lineage(self, run: Any, split: str | None) -> None:
        """Inside a run (the one given, or the only one active in this process), note that it
        read this dataset version."""
        if run is None:
            from daybreak.tracking.hooks import active_runs

            active = active_runs()
            run = active[0] if len(active) == 1 else None
        if run is None or self.settings.remote:
            return
        run.flush()  # registered before the lineage row points at it
        datasets.record_use(self.settings, run.id, self.version, split)

    def __len__(self) -> int:
        return len(self.sha256)

    def _open(self) -> Any:
        if self._table is None:
            lake = Lake(self.settings)
            table = lake.open("assets", self.version.assets_version)
            where = row_positions(table)  # of the pinned version: stable, unlike the live table's
            self._positions = [where[sha] for sha in self.sha256]
            self._table = table
        return self._table

    def __getitems__(self, indices: list[int]) -> list[tuple[Any, int]]:
        """Fetch a batch of rows with one storage call."""
        from PIL import Image

        table = self._open()
        assert self._positions is not None
        wanted = [self._positions[i] for i in indices]
        data = table.take(wanted, columns=["data"]).column("data").to_pylist()
        out = []
        for i, raw in zip(indices, data, strict=True):
            item: Any = raw
            if self.decode:
                item = Image.open(io.BytesIO(raw))
                item.load()
            out.append((self.transform(item) if self.transform else item, self.targets[i]))
        return out

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.__getitems__([index])[0]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_table"] = None  # each worker opens its own
        return state
