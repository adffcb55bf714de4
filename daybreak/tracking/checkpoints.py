"""Checkpoints: artifacts of kind "checkpoint" with a step, for resuming a run where it stopped."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.store.engine import Database
from daybreak.store.schema import artifacts


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A stored checkpoint; ``path`` is a local file with its bytes."""

    run_id: str
    name: str
    step: int | None
    uri: str
    size: int
    sha256: str
    format: str
    settings: Settings = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_row(cls, row: dict[str, Any], settings: Settings) -> Checkpoint:
        meta = row.get("meta") or {}
        fmt = meta.get("format") or Path(row["uri"]).suffix.lstrip(".")
        return cls(
            row["run_id"],
            row["name"],
            row["step"],
            row["uri"],
            row["size"],
            row["sha256"],
            fmt,
            settings,
        )

    @property
    def path(self) -> Path:
        from daybreak.tracking.readers import backend

        return backend(self.settings).local_blob(self.uri)

    def load(self, map_location: Any = None, weights_only: bool = False) -> Any:
        """Read the checkpoint back (``torch.load`` for torch files, pickle otherwise)."""
        if self.format == "pkl":
            with open(self.path, "rb") as handle:
                return pickle.load(handle)
        import torch

        return torch.load(self.path, map_location=map_location, weights_only=weights_only)


def serialise(state: Any, folder: Path) -> Path:
    """Write ``state`` with torch.save when torch is installed, else pickle."""
    try:
        import torch
    except ModuleNotFoundError:
        path = folder / "checkpoint.pkl"
        with open(path, "wb") as handle:
            pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return path
    path = folder / "checkpoint.pt"
    torch.save(state, path)
    return path


def latest(settings: Settings, run_id: str, name: str) -> Checkpoint | None:
    from daybreak.tracking.readers import backend

    rows = [r for r in backend(settings).artifacts(run_id, "checkpoint") if r["name"] == name]
    if not rows:
        return None
    best = max(rows, key=lambda r: (r["step"] if r["step"] is not None else -1, r["id"]))
    return Checkpoint.from_row(best, settings)


def prune(settings: Settings, run_id: str, name: str, keep: int) -> None:
    """Keep the ``keep`` newest checkpoints called ``name``; delete the bytes of the rest."""
    from daybreak.tracking.readers import backend

    store = backend(settings)
    rows = [r for r in store.artifacts(run_id, "checkpoint") if r["name"] == name]
    rows.sort(key=lambda r: (r["step"] if r["step"] is not None else -1, r["id"]))
    if len(rows) > keep:
        store.delete_artifacts(rows[:-keep])


SUPERSEDED = "@superseded"  # suffix of checkpoints from an abandoned path (kept, never resumed)


def supersede(db: Database, run_id: str, after_step: int) -> int:
    """Set aside the run's checkpoints saved after ``after_step`` (the watchdog restarted it
    from there): renamed ``NAME@superseded``, their bytes kept, never picked for resuming or
    pruned as the newest. Returns how many."""
    with db.write() as conn:
        rows = conn.execute(
            sa.select(artifacts.c.id, artifacts.c.name).where(
                artifacts.c.run_id == run_id,
                artifacts.c.kind == "checkpoint",
                artifacts.c.step > after_step,
                ~artifacts.c.name.endswith(SUPERSEDED),
            )
        ).all()
        for row in rows:
            conn.execute(
                artifacts.update()
                .where(artifacts.c.id == row.id)
                .values(name=row.name + SUPERSEDED)
            )
    return len(rows)
