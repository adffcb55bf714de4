"""The read side: ``daybreak.get_run()`` and the backend the CLI and server read through."""

from __future__ import annotations

import codecs
import shutil
import time
from pathlib import Path
from typing import Any

from daybreak.config import Settings, get_settings
from daybreak.errors import NotFoundError
from daybreak.tracking import points
from daybreak.tracking.downsample import downsample
from daybreak.tracking.points import History
from daybreak.tracking.records import KeyStats, RunRecord
from daybreak.tracking.values import key_filename

SYSTEM_PREFIX = "sys/"


class LocalBackend:
    """Reads and small writes against the metadata store and the run folders on this machine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Any = None

    @property
    def db(self) -> Any:
        if self._db is None:
            from daybreak.store.engine import get_database

            self._db = get_database(self.settings.db_url)
        return self._db

    def run_dir(self, run_id: str) -> Path:
        return self.settings.runs_dir / run_id

    def check_stale(self) -> list[str]:
        from daybreak.tracking import service

        return service.mark_stale_runs(self.db, time.time(), self.settings.stale_after)

    def resolve(self, run_id: str) -> str:
        """A full run id from an id or a unique prefix of one."""
        from daybreak.tracking import service

        matches = service.find_runs(self.db, run_id)
        if run_id in matches:
            return run_id
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFoundError(f"no run with id {run_id!r}", "list runs with `daybreak runs ls`")
        raise NotFoundError(
            f"{run_id!r} matches several runs: {', '.join(matches)}", "type more of the id"
        )

    def get_run(self, run_id: str) -> RunRecord:
        from daybreak.tracking import service

        self.check_stale()
        return service.get_run(self.db, self.resolve(run_id))

    def list_runs(self, **filters: Any) -> list[RunRecord]:
        from daybreak.tracking import service

        self.check_stale()
        return service.list_runs(self.db, **filters)

    def list_projects(self) -> list[dict[str, Any]]:
        from daybreak.tracking import service

        return service.list_projects(self.db)

    def metric_index(self, run_id: str) -> dict[str, KeyStats]:
        from daybreak.tracking import service

        return service.metric_index(self.db, run_id)

    def metric_keys(self, run_id: str) -> list[str]:
        """Keys with points on disk, so a live run shows keys before the index catches up."""
        keys = set(points.list_keys(self.run_dir(run_id))) | set(self.metric_index(run_id))
        return sorted(keys)

    def history(self, run_id: str, key: str, max_points: int | None = None) -> History:
        run_dir = self.run_dir(run_id)
        on_disk = (points.metrics_dir(run_dir) / key_filename(key)).exists()
        if not on_disk and key not in self.metric_index(run_id):  # the index only when needed
            raise NotFoundError(f"run {run_id} has no metric {key!r}", "see the run's metric keys")
        full = points.read_history(run_dir, key)
        return downsample(full, max_points) if max_points else full

    def output(self, run_id: str, offset: int = 0, limit: int = 1 << 20) -> tuple[str, int]:
        """Captured stdout/stderr from byte ``offset``; returns the text and the next offset."""
        path = self.run_dir(run_id) / "output.log"
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read(limit)
        except FileNotFoundError:
            return "", offset
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(data, final=False)  # a character cut at the end waits for next time
        unread = len(decoder.getstate()[0])
        return text, offset + len(data) - unread

    def artifacts(self, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        from daybreak.tracking import service

        return service.list_artifacts(self.db, run_id, kind)

    def delete_artifacts(self, rows: list[dict[str, Any]]) -> None:
        from daybreak.blobs import BlobStore
        from daybreak.tracking import service

        blobs = BlobStore(self.settings.blobs_url)
        for uri in service.remove_artifacts(self.db, [r["id"] for r in rows]):
            blobs.delete(blobs.key_of(uri))  # only bytes no other row (same name and step) uses

    def local_blob(self, uri: str) -> Path:
        from daybreak.blobs import BlobStore

        blobs = BlobStore(self.settings.blobs_url)
        return blobs.local_path(blobs.key_of(uri))

    def add_note(
        self, body: str, run_id: str | None = None, project: str | None = None, author: str = ""
    ) -> int:
        from daybreak.tracking import service

        return service.add_note(self.db, body, run_id=run_id, project=project, author=author)

    def notes(self, run_id: str | None = None, project: str | None = None) -> list[dict[str, Any]]:
        from daybreak.tracking import service

        return service.list_notes(self.db, run_id=run_id, project=project)

    def resume(self, run_id: str, pid: int | None, host: str) -> tuple[RunRecord, int]:
        """Mark ``run_id`` running again; returns it and the step to continue from."""
        from daybreak.tracking import service

        full = self.resolve(run_id)
        record = service.resume_run(self.db, full, time.time(), pid, host)
        return record, next_step(self.metric_index(full), self.run_dir(full))

    def update_run(self, run_id: str, **values: Any) -> None:
        """Change name, tags, summary or config of a run."""
        from daybreak.tracking import service

        service.update_run(self.db, self.resolve(run_id), **values)

    def delete_runs(self, run_ids: list[str]) -> int:
        from daybreak.blobs import BlobStore
        from daybreak.tracking import service

        count = service.delete_runs(self.db, run_ids)
        blobs = BlobStore(self.settings.blobs_url)
        for run_id in run_ids:
            shutil.rmtree(self.run_dir(run_id), ignore_errors=True)
            blobs.delete_prefix(f"runs/{run_id}")
        return count


def next_step(index: dict[str, KeyStats], run_dir: Path) -> int:
    """One past the highest training step logged (system metrics have their own counter)."""
    steps = [
        s.last_step
        for k, s in index.items()
        if not k.startswith(SYSTEM_PREFIX) and s.last_step is not None
    ]
    for key in points.list_keys(run_dir):
        if not key.startswith(SYSTEM_PREFIX):
            records = points.read_records(run_dir, key)
            if len(records):
                steps.append(int(records["step"].max()))
    return max(steps) + 1 if steps else 0


def backend(settings: Settings | None = None) -> Any:
    """The local store, or the server named by ``DAYBREAK_URL``."""
    settings = settings or get_settings()
    if settings.remote:
        from daybreak.tracking.remote import RemoteBackend

        return RemoteBackend(settings)
    return LocalBackend(settings)


class RunView:
    """A stored run, live or ended, as the read side sees it. Get one with ``daybreak.get_run``."""

    def __init__(self, run_id: str, store: Any) -> None:
        self._store = store
        self.record: RunRecord = store.get_run(run_id)

    def refresh(self) -> RunView:
        self.record = self._store.get_run(self.record.id)
        return self

    id = property(lambda self: self.record.id)
    project = property(lambda self: self.record.project)
    name = property(lambda self: self.record.name)
    config = property(lambda self: self.record.config)
    tags = property(lambda self: self.record.tags)
    summary = property(lambda self: self.record.summary)
    error = property(lambda self: self.record.error)
    started_at = property(lambda self: self.record.started_at)
    ended_at = property(lambda self: self.record.ended_at)

    @property
    def status(self) -> str:
        return str(self.refresh().record.status)

    def metric_keys(self) -> list[str]:
        return list(self._store.metric_keys(self.record.id))

    def metrics(self) -> dict[str, KeyStats]:
        """The index: count, last, min, max per key."""
        return dict(self._store.metric_index(self.record.id))

    def history(self, key: str, max_points: int | None = None) -> History:
        return self._store.history(self.record.id, key, max_points)

    def logs(self, offset: int = 0) -> str:
        return str(self._store.output(self.record.id, offset)[0])

    def artifacts(self) -> list[dict[str, Any]]:
        return list(self._store.artifacts(self.record.id, "artifact"))

    def checkpoints(self) -> list[dict[str, Any]]:
        return list(self._store.artifacts(self.record.id, "checkpoint"))

    def notes(self) -> list[dict[str, Any]]:
        return list(self._store.notes(run_id=self.record.id))

    def __repr__(self) -> str:
        return f"<daybreak.RunView {self.id} {self.project}/{self.name} {self.record.status}>"


def get_run(run_id: str, **settings_overrides: Any) -> RunView:
    """Read a run, live or ended, by id (or a unique prefix of it)."""
    from daybreak.tracking.run import flush_active

    flush_active(run_id)
    return RunView(run_id, backend(get_settings(**settings_overrides)))
