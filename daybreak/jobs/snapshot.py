"""Freezing the code a job runs at submit time, so later edits do not change queued jobs.

In a git repository the snapshot is every file git tracks plus the untracked ones it does not
ignore, as they are in the working tree (uncommitted edits included); ``code: commit`` takes
the committed tree of HEAD instead. Outside git it is the entry script's folder. The snapshot is
a tar.gz in the blob store under the sha256 of its content, so equal snapshots are stored once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

from daybreak.blobs import BlobStore
from daybreak.jobs.spec import JobSpec, SpecError

MAX_BYTES = 200 << 20


@dataclasses.dataclass(frozen=True)
class Snapshot:
    uri: str | None  # None: nothing frozen (an installed module, or code: none)
    root: str  # the folder the snapshot was taken from
    workdir: str  # where the job starts, relative to the root
    commit: str | None
    digest: str | None

    def entry_in_snapshot(self, spec: JobSpec) -> JobSpec:
        """The spec with a script entry named relative to the snapshot's root."""
        if self.uri is None or spec.entry.kind != "file":
            return spec
        relative = Path(spec.entry.target).resolve().relative_to(Path(self.root))
        return dataclasses.replace(
            spec, entry=dataclasses.replace(spec.entry, target=str(relative))
        )


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return out.stdout


def freeze(spec: JobSpec, blobs: BlobStore, cwd: Path) -> Snapshot:
    """Snapshot the code ``spec`` runs, submitted from ``cwd``."""
    if spec.code == "none":
        return Snapshot(None, str(cwd), ".", None, None)
    anchor = Path(spec.entry.target).resolve().parent if spec.entry.kind == "file" else cwd
    top = _git(anchor, "rev-parse", "--show-toplevel")
    commit = _git(anchor, "rev-parse", "HEAD")
    if top:
        root = Path(top.strip())
        if spec.code == "commit":
            if not commit:
                raise SpecError("code: commit needs a repository with a commit", "commit first")
            data = _archive_commit(root, commit.strip())
        else:
            listing = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
            names = sorted({n for n in (listing or "").split("\0") if n})
            data = _tar(root, names)
    elif spec.entry.kind == "file":
        root = anchor
        names = sorted(
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        data = _tar(root, names)
    else:
        return Snapshot(None, str(cwd), ".", None, None)  # an installed module: nothing to freeze
    digest = hashlib.sha256(data).hexdigest()
    key = f"code/{digest}.tar.gz"
    if not blobs.exists(key):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "code.tar.gz"
            path.write_bytes(data)
            blobs.put_file(path, key)
    try:
        workdir = str(cwd.resolve().relative_to(root))
    except ValueError:
        workdir = "."
    return Snapshot(blobs.uri(key), str(root), workdir, (commit or "").strip() or None, digest)


def _tar(root: Path, names: list[str]) -> bytes:
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=3) as archive:
        for name in names:
            path = root / name
            if not path.is_file() or path.is_symlink():
                continue
            total += path.stat().st_size
            if total > MAX_BYTES:
                raise SpecError(
                    f"the code to snapshot under {root} is over {MAX_BYTES >> 20} MiB",
                    "keep data and checkpoints out of it (.gitignore), or submit with code: none",
                )
            info = archive.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0  # the same files give the same snapshot
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


def _archive_commit(root: Path, commit: str) -> bytes:
    out = subprocess.run(
        ["git", "archive", "--format=tar.gz", commit], cwd=root, capture_output=True, check=True
    )
    return out.stdout


def extract(blobs: BlobStore, snapshot_uri: str, target: Path) -> None:
    """Unpack a snapshot into ``target`` (safely: no member may land outside it)."""
    target.mkdir(parents=True, exist_ok=True)
    with (
        blobs.open(blobs.key_of(snapshot_uri)) as handle,
        tarfile.open(fileobj=handle, mode="r:gz") as archive,
    ):
        archive.extractall(target, filter="data")
    os.utime(target)
