"""Artifacts and checkpoints: files copied into the blob store and indexed on the run."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from daybreak.blobs import BlobStore
from daybreak.config import Settings
from daybreak.errors import InvalidMetricError, NotFoundError
from daybreak.store.engine import Database
from daybreak.tracking import service

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidMetricError(
            f"artifact name {name!r} is not allowed",
            "use letters, digits, '_', '-' and '.', starting with a letter, digit or '_'",
        )
    return name


def blob_key(run_id: str, kind: str, name: str, step: int | None, filename: str) -> str:
    folder = f"{kind}s/{name}" if step is None else f"{kind}s/{name}/step-{step:012d}"
    return f"runs/{run_id}/{folder}/{filename}"


def store_artifact(
    settings: Settings,
    db: Database,
    run_id: str,
    path: Path,
    name: str,
    kind: str,
    step: int | None,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Copy a file (or a folder, as a zip) into the blob store and record it on the run."""
    check_name(name)
    path = Path(path)
    if not path.exists():
        raise NotFoundError(
            f"cannot log artifact {name!r}: {path} does not exist", "check the path"
        )
    blobs = BlobStore(settings.blobs_url)
    with tempfile.TemporaryDirectory() as tmp:
        source, filename = path, path.name
        if path.is_dir():
            source = Path(shutil.make_archive(str(Path(tmp) / path.name), "zip", path))
            filename, meta = source.name, {**meta, "archive": "zip"}
        uri, size, digest = blobs.put_file(source, blob_key(run_id, kind, name, step, filename))
    return service.add_artifact(
        db, run_id, name=name, kind=kind, uri=uri, size=size, sha256=digest, step=step, meta=meta
    )
