"""Byte storage by URL through fsspec: a local folder by default, ``s3://`` for a team."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from daybreak.errors import ConfigError, NotFoundError, StorageFullError

CHUNK = 1 << 20


def check_key(key: str) -> str:
    """``key`` if it names a blob under the root: the last guard against a name from outside
    ('..', an absolute path, a backslash, a control character) reaching the file system."""
    parts = key.split("/")
    bad = (
        not key
        or key.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or any(ch == "\\" or ord(ch) < 32 or ord(ch) == 127 for ch in key)
    )
    if bad:
        raise ConfigError(
            f"blob key {key!r} is not a plain relative path", "this is a bug: report it"
        )
    return key


class BlobStore:
    """Keys are '/'-separated paths under the store's root URL."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        try:
            import fsspec
        except ModuleNotFoundError as exc:  # pragma: no cover - fsspec is a core dependency
            raise ConfigError("fsspec is missing", "pip install daybreak") from exc
        try:
            # no instance cache: fsspec's key ignores the endpoint taken from the environment
            self.fs, self.root = fsspec.core.url_to_fs(self.url, skip_instance_cache=True)
        except (ImportError, ValueError) as exc:
            raise ConfigError(
                f"cannot open blob store {url!r}: {exc}",
                "for s3:// URLs pip install 'daybreak[s3]'",
            ) from exc
        self.local = self.fs.protocol in ("file", "local") or "file" in self.fs.protocol

    def uri(self, key: str) -> str:
        return f"{self.url}/{key}"

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def put_file(self, source: Path, key: str) -> tuple[str, int, str]:
        """Copy ``source`` under ``key`` atomically; returns (uri, size, sha256)."""
        digest = hashlib.sha256()
        size = 0
        target = self._path(key)
        try:
            if self.local:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=Path(target).parent, prefix=".partial-")
                try:
                    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                        size = _copy(src, out, digest)
                    os.replace(tmp, target)
                except BaseException:  # a full disk: no half-written file stays behind
                    Path(tmp).unlink(missing_ok=True)
                    raise
            else:
                with self.fs.open(target, "wb") as out, open(source, "rb") as src:
                    size = _copy(src, out, digest)
        except OSError as exc:
            _raise_storage(exc, self.url)
            raise
        return self.uri(key), size, digest.hexdigest()

    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        try:
            return self.fs.open(self._path(key), mode)
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"no blob {key!r} in {self.url}", "it may have been deleted"
            ) from exc

    def local_path(self, key: str) -> Path:
        """A local file with the blob's bytes (the blob itself for a local store)."""
        if self.local:
            path = Path(self._path(key))
            if not path.exists():
                raise NotFoundError(f"no blob {key!r} in {self.url}", "it may have been deleted")
            return path
        cache = (
            Path(tempfile.gettempdir())
            / "daybreak-blobs"
            / hashlib.sha1(self.uri(key).encode()).hexdigest()
        )
        if not cache.exists():
            cache.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get(self._path(key), str(cache))
        return cache

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def delete(self, key: str) -> None:
        """Remove one blob (and, on a local store, the folders it leaves empty)."""
        path = self._path(key)
        if not self.local:
            if self.fs.exists(path):
                self.fs.rm(path)
            return
        Path(path).unlink(missing_ok=True)
        parent = Path(path).parent
        root = Path(self.root)
        while parent != root and root in parent.parents and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if self.local:
            shutil.rmtree(path, ignore_errors=True)
        elif self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def key_of(self, uri: str) -> str:
        if not uri.startswith(self.url + "/"):
            raise NotFoundError(f"{uri!r} is not in blob store {self.url}", "check DAYBREAK_BLOBS")
        return uri[len(self.url) + 1 :]


def _copy(src: IO[bytes], out: IO[bytes], digest: Any) -> int:
    size = 0
    while chunk := src.read(CHUNK):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return size


def _raise_storage(exc: OSError, where: str) -> None:
    import errno

    if exc.errno == errno.ENOSPC:
        raise StorageFullError(f"no space left in {where}", "free disk space, then retry") from exc


__all__ = ["BlobStore"]
