"""MLflow's artifact proxy (``mlflow-artifacts:/EXP/RUN/artifacts/PATH``) over Daybreak's
artifacts: each file is a run artifact whose ``meta.path`` is its MLflow path, its bytes in the
blob store under the run. Paths are checked so that nothing can land outside the run."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, BinaryIO

from daybreak.blobs import BlobStore
from daybreak.config import Settings
from daybreak.mlflow_api.errors import MlflowApiError, invalid
from daybreak.store.engine import Database
from daybreak.tracking import service

MAX_PATH = 1000
NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")
BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclasses.dataclass(frozen=True)
class Location:
    """Where an MLflow artifact path points: a run, and a path inside its artifacts."""

    experiment_id: str
    run_id: str
    path: str  # '' for the run's artifact root


def safe_relative(path: str) -> str:
    """``path`` if it stays inside its root: no '..', no absolute path, no odd bytes."""
    if len(path) > MAX_PATH:
        raise invalid(f"artifact path is {len(path)} characters; the limit is {MAX_PATH}")
    if BAD_CHARS.search(path):
        raise invalid(
            "artifact path has a control character or a backslash", "use plain '/'-separated names"
        )
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise invalid(f"artifact path {path!r} is absolute", "give a path relative to the run")
    parts = [p for p in path.split("/") if p != ""]
    if any(p in (".", "..") for p in parts):
        raise invalid(f"artifact path {path!r} has a '.' or '..' part", "remove it")
    return "/".join(parts)


def locate(full_path: str) -> Location:
    """Split ``EXP/RUN/artifacts/PATH`` (what the client puts in the URL)."""
    parts = full_path.lstrip("/").split("/", 3)
    if len(parts) < 3 or parts[2] != "artifacts" or not parts[0] or not parts[1]:
        raise invalid(
            f"artifact path {full_path!r} is not EXPERIMENT/RUN/artifacts/PATH",
            "use the artifact_uri the server gave the run",
        )
    head = safe_relative("/".join(parts[:3]))
    experiment, run, _ = head.split("/")
    return Location(experiment, run, safe_relative(parts[3]) if len(parts) > 3 else "")


def _name_of(path: str) -> str:
    name = NAME_CHARS.sub("_", path.replace("/", "."))[:200]
    return name if name[:1].isalnum() or name[:1] == "_" else f"_{name}"[:200]


def _path_of(row: dict[str, Any]) -> str:
    meta = row.get("meta") or {}
    if isinstance(meta.get("path"), str):
        return str(meta["path"])
    filename = row["uri"].rsplit("/", 1)[-1]
    folder = row["name"] if row["step"] is None else f"{row['name']}/step-{row['step']}"
    return f"{row['kind']}s/{folder}/{filename}"


class ArtifactProxy:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db

    @property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.blobs_url)

    def put(self, where: Location, source: Path) -> None:
        if not where.path:
            raise invalid("an artifact needs a file name", "PUT to EXP/RUN/artifacts/NAME")
        self._remove(where)
        key = f"runs/{where.run_id}/mlflow/{where.path}"
        uri, size, digest = self.blobs.put_file(source, key)
        service.add_artifact(
            self.db,
            where.run_id,
            name=_name_of(where.path),
            kind="artifact",
            uri=uri,
            size=size,
            sha256=digest,
            meta={"path": where.path, "source": "mlflow"},
        )

    def list(self, where: Location) -> list[dict[str, Any]]:
        """The files and folders directly inside ``where.path``, MLflow-style."""
        prefix = f"{where.path}/" if where.path else ""
        files: dict[str, int] = {}
        folders: set[str] = set()
        for row in service.list_artifacts(self.db, where.run_id):
            path = _path_of(row)
            if not path.startswith(prefix):
                continue
            head, slash, _ = path[len(prefix) :].partition("/")
            if slash:
                folders.add(head)
            else:
                files[head] = int(row["size"])
        out = [{"path": f, "is_dir": True} for f in sorted(folders)]
        out += [{"path": f, "is_dir": False, "file_size": s} for f, s in sorted(files.items())]
        return out

    def open(self, where: Location) -> tuple[BinaryIO, int]:
        row = self._find(where)
        if row is None:
            raise MlflowApiError(
                f"run {where.run_id} has no artifact {where.path!r}",
                "list the run's artifacts first",
                "RESOURCE_DOES_NOT_EXIST",
                404,
            )
        blobs = self.blobs
        return blobs.open(blobs.key_of(row["uri"])), int(row["size"])  # type: ignore[return-value]

    def _find(self, where: Location) -> dict[str, Any] | None:
        rows = [
            r for r in service.list_artifacts(self.db, where.run_id) if _path_of(r) == where.path
        ]
        return rows[-1] if rows else None

    def _remove(self, where: Location) -> None:
        """An upload to an existing path replaces it, as on MLflow's own server."""
        from daybreak.tracking.readers import LocalBackend

        rows = [
            r for r in service.list_artifacts(self.db, where.run_id) if _path_of(r) == where.path
        ]
        if rows:
            LocalBackend(self.settings).delete_artifacts(rows)
