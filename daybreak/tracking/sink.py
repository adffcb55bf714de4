"""Where a run's writer sends what the training loop logged: the local store or a server."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from daybreak.config import Settings
from daybreak.tracking.records import KeyStats, RunRecord

if TYPE_CHECKING:
    import numpy as np

    from daybreak.tracking.points import PointFiles


class Sink(Protocol):
    """The writer thread's view of a backend. Only ``put_artifact`` runs on the caller's thread."""

    def open(self, record: RunRecord, resumed: bool) -> None: ...
    def write_points(self, batch: Mapping[str, np.ndarray]) -> None: ...
    def write_output(self, text: str) -> None: ...
    def sync(self) -> None: ...
    def index(self, stats: Mapping[str, KeyStats], heartbeat: float) -> None: ...
    def finish(
        self, status: str, ended_at: float, error: str | None, summary: dict[str, Any]
    ) -> None: ...
    def put_artifact(
        self, path: Path, name: str, kind: str, step: int | None, meta: dict[str, Any]
    ) -> dict[str, Any]: ...
    def close(self) -> None: ...


class LocalSink:
    """Points and output into the run's folder; index, heartbeat and status into the database."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self.run_dir = settings.runs_dir / run_id
        self._files: PointFiles | None = None
        self._output_fd: int | None = None
        self._db: Any = None

    @property
    def files(self) -> PointFiles:
        if self._files is None:
            from daybreak.tracking.points import PointFiles

            self._files = PointFiles(self.run_dir)
        return self._files

    @property
    def output_fd(self) -> int:
        if self._output_fd is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._output_fd = os.open(
                self.run_dir / "output.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
            )
        return self._output_fd

    @property
    def db(self) -> Any:
        if self._db is None:
            from daybreak.store.engine import get_database

            self._db = get_database(self.settings.db_url)
        return self._db

    def open(self, record: RunRecord, resumed: bool) -> None:
        from daybreak.tracking import service

        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "run.json").write_text(json.dumps(record.to_dict(), default=str))
        if not resumed:
            service.create_run(self.db, record)

    def write_points(self, batch: Mapping[str, np.ndarray]) -> None:
        for key, records in batch.items():
            self.files.append(key, records)

    def write_output(self, text: str) -> None:
        """All or nothing: a failed write (a full disk) is cut back off, so the writer can
        keep the text and write it whole later."""
        data = memoryview(text.encode("utf-8", "replace"))
        fd = self.output_fd
        size = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise

    def sync(self) -> None:
        if self._files is not None:
            self._files.sync()
        if self._output_fd is not None:
            os.fsync(self._output_fd)

    def index(self, stats: Mapping[str, KeyStats], heartbeat: float) -> None:
        from daybreak.tracking import service

        service.index_metrics(self.db, self.run_id, stats, heartbeat)

    def finish(
        self, status: str, ended_at: float, error: str | None, summary: dict[str, Any]
    ) -> None:
        from daybreak.tracking import service

        service.finish_run(self.db, self.run_id, status, ended_at, error, summary)

    def put_artifact(
        self, path: Path, name: str, kind: str, step: int | None, meta: dict[str, Any]
    ) -> dict[str, Any]:
        from daybreak.tracking import artifacts

        return artifacts.store_artifact(
            self.settings, self.db, self.run_id, path, name, kind, step, meta
        )

    def close(self) -> None:
        if self._files is not None:
            self._files.close()
        if self._output_fd is not None:
            os.close(self._output_fd)
            self._output_fd = None
