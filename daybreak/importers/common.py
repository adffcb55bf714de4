"""What every importer shares: stable run ids, metric key mapping, staging and the result.

Staging reuses the machinery of ``daybreak runs import`` (daybreak/tracking/transfer.py):
points go to a folder under the Daybreak home and the runs are registered together at the
end, so a failure anywhere leaves no run, no metric file and no staging folder behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
import shutil
from collections.abc import Callable, Iterator
from typing import Any

from daybreak.config import Settings
from daybreak.errors import ConfigError, ConflictError, InvalidMetricError
from daybreak.tracking import transfer
from daybreak.tracking.records import RunRecord
from daybreak.tracking.values import MAX_KEY, check_key, key_filename

Progress = Callable[[int], None]
DEFAULT_PROJECT = "imported"
MAX_NAME = 300
_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9_.\-/:@ ()\[\]=+,]")
_KEY_START = re.compile(r"[A-Za-z0-9_]")


def missing_package(package: str, what: str) -> ConfigError:
    """The error for an importer whose source package is not installed."""
    return ConfigError(
        f"{what} needs the {package} package, which is not installed", f"pip install {package}"
    )


def stable_id(tool: str, source: str) -> str:
    """The Daybreak run id of a source run: the same source always gets the same id, so a
    second import of it is recognised and skipped."""
    return hashlib.sha256(f"{tool}\0{source}".encode()).hexdigest()[:12]


def check_project(project: str) -> str:
    if not transfer.project_ok(project):
        raise ConfigError(
            f"--project {project!r} is not an allowed project name", "use a short name without '/'"
        )
    return project


def run_name(name: str) -> str:
    """A run name that fits the store (300 characters; the end of a long path is kept)."""
    return name if len(name) <= MAX_NAME else "…" + name[-(MAX_NAME - 1) :]


def metric_key(name: str) -> str:
    """``name`` as a metric key Daybreak allows (see ``check_key``): other characters become
    ``_``, empty, ``.`` and ``..`` path segments go, a key too long is cut and given a hash."""
    parts = [p for p in _NOT_IN_KEY.sub("_", name).split("/") if p]
    key = "/".join("_" * len(p) if p in (".", "..") else p for p in parts).rstrip(" /")
    if not key or not _KEY_START.match(key):
        key = "_" + key
    if _too_long(key):
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        while _too_long(f"{key}_{digest}"):
            key = key[:-1].rstrip(" /")
        key = f"{key}_{digest}"
    try:
        return check_key(key)
    except InvalidMetricError:
        return "metric_" + hashlib.sha256(name.encode()).hexdigest()[:12]


def _too_long(key: str) -> bool:
    return len(key) > MAX_KEY or len(key_filename(key)) > 250


def local_store(settings: Settings) -> Any:
    """The local store an import writes to (never a remote server)."""
    if settings.remote:
        raise ConfigError(
            "import writes to the local store, but DAYBREAK_URL points at a server",
            "run the import on the server's machine, or unset DAYBREAK_URL",
        )
    from daybreak.tracking.readers import LocalBackend

    return LocalBackend(settings)


def existing_ids(settings: Settings, run_ids: list[str]) -> set[str]:
    """Which of these run ids the store already holds."""
    from daybreak.tracking import service

    db = local_store(settings).db
    return {run_id for run_id in run_ids if run_id in service.find_runs(db, run_id)}


class KeyMap:
    """Source metric names to Daybreak keys for one run; two names that map to the same key
    get ``_2``, ``_3``... Renames are collected in ``renamed`` (shared by all runs)."""

    def __init__(self, renamed: dict[str, str]) -> None:
        self.keys: dict[str, str] = {}
        self.taken: set[str] = set()
        self.renamed = renamed

    def __call__(self, name: str) -> str:
        key = self.keys.get(name)
        if key is None:
            key = base = metric_key(name)
            number = 2
            while key in self.taken:
                key = f"{base}_{number}"
                number += 1
            self.taken.add(key)
            self.keys[name] = key
            if key != name:
                self.renamed[name] = key
        return key


@dataclasses.dataclass
class ImportedRun:
    id: str
    name: str
    project: str
    source: str
    points: int


@dataclasses.dataclass
class Skipped:
    source: str
    reason: str
    id: str | None = None


@dataclasses.dataclass
class ImportResult:
    """What an import did: runs imported and skipped, metric names renamed, warnings."""

    tool: str
    source: str
    imported: list[ImportedRun] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    renamed: dict[str, str] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(r.points for r in self.imported)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["points"] = self.points
        return data


class Staging(transfer.Importer):
    """Imported runs written under ``$DAYBREAK_HOME/tmp`` and registered all at once."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(local_store(settings), None, False)

    def exists(self, run_id: str) -> bool:
        from daybreak.tracking import service

        return run_id in service.find_runs(self.store.db, run_id)

    def start(self, record: RunRecord) -> transfer.StagedRun:
        run = transfer.StagedRun(record, self.staging / record.id, len(self.staged) + 1)
        self.staged.append(run)
        return run

    def drop(self, run: transfer.StagedRun) -> None:
        """Forget a staged run that turned out to hold nothing worth importing."""
        if run.files is not None:
            run.files.close()
        shutil.rmtree(run.folder, ignore_errors=True)
        self.staged.remove(run)

    def check_free(self, run_id: str, number: int) -> None:
        if self.exists(run_id):
            raise ConflictError(
                f"run {run_id} was created while this import ran (the same source imported "
                "twice at once?); nothing was imported",
                "run the import again: it skips runs already imported",
            )
        folder = self.store.run_dir(run_id)
        if folder.exists():
            raise ConflictError(
                f"a folder for run {run_id} already exists at {folder}; nothing was imported",
                "it is left over from an earlier run; remove it and import again",
            )

    def commit_all(self) -> None:
        if self.staged:
            self.finish()
        else:
            shutil.rmtree(self.staging, ignore_errors=True)


@contextlib.contextmanager
def staging(settings: Settings) -> Iterator[Staging]:
    """Stage runs in the ``with`` block; on leaving it commit them all, or on an error none."""
    staged = Staging(settings)
    try:
        yield staged
        staged.commit_all()
    except BaseException as exc:
        staged.rollback()
        if isinstance(exc, OSError):
            raise transfer.os_error(exc, "import; nothing was imported") from exc
        raise
