"""Remote mode (``DAYBREAK_URL``): the SDK sends batches to a Daybreak server over HTTP.

Every request is an ``Op``. When the server cannot be reached, ops go to a spool folder on
local disk (``$DAYBREAK_HOME/spool/RUN_ID``) in order and are retried with backoff; training
goes on, and everything arrives once the server is back. Ops still spooled when the process
exits (the server stayed away) are sent by ``daybreak sync``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daybreak.config import Settings
from daybreak.errors import DaybreakError, NotFoundError, RemoteError
from daybreak.store.jsontext import from_text, to_jsonable
from daybreak.tracking.http import HttpClient, check
from daybreak.tracking.records import KeyStats, RunRecord

if TYPE_CHECKING:
    import numpy as np

    from daybreak.tracking.points import History

MAX_BACKOFF = 30.0


@dataclasses.dataclass
class Op:
    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"
    seq: int | None = None
    body_file: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def dump(self, path: Path) -> None:
        header = {k: v for k, v in dataclasses.asdict(self).items() if k != "body"}
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(json.dumps(header).encode() + b"\n" + self.body)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Op:
        raw = path.read_bytes()
        newline = raw.index(b"\n")
        return cls(**json.loads(raw[:newline]), body=raw[newline + 1 :])


class Spool:
    """Ops waiting for the server, one file each, sent in name order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._counter = 0

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.op"))

    def add(self, op: Op) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._counter += 1
        op.dump(self.folder / f"{time.time_ns():020d}-{self._counter:08d}.op")

    def reject(self, path: Path, reason: str) -> None:
        rejected = self.folder / "rejected"
        rejected.mkdir(exist_ok=True)
        path.replace(rejected / path.name)
        (rejected / (path.name + ".why")).write_text(reason)


class Sender:
    """Sends ops in order; on failure spools them and backs off."""

    def __init__(self, client: HttpClient, spool: Spool) -> None:
        self.client = client
        self.spool = spool
        self.pending: list[Op] = []
        self._retry_at = 0.0
        self._backoff = 0.5
        self.last_error: str | None = None
        self.refused: list[str] = []  # why the server refused ops (4xx), oldest first

    def pump(self) -> bool:
        """Try to send everything; True when nothing is left waiting."""
        if time.monotonic() < self._retry_at:
            self._spool_pending()
            return False
        for path in self.spool.files():
            try:
                op = Op.load(path)
            except (ValueError, OSError, TypeError) as exc:
                self.spool.reject(path, f"unreadable spool file: {exc}")
                continue
            if not self._try(op, path):
                return False
            path.unlink(missing_ok=True)
            if op.body_file:
                Path(op.body_file).unlink(missing_ok=True)
        while self.pending:
            if not self._try(self.pending[0], None):
                return False
            self.pending.pop(0)
        return True

    def retry_now(self) -> None:
        """The next pump tries the server at once instead of waiting out the backoff."""
        self._retry_at = 0.0

    def _try(self, op: Op, spooled: Path | None) -> bool:
        try:
            status, data = self._send(op)
        except RemoteError as exc:
            self._fail(str(exc))
            return False
        if status >= 500:
            self._fail(f"server error {status}")
            return False
        if status >= 400:  # the server refused it: keep the op for inspection, do not retry
            reason = f"HTTP {status}: {data[:500]!r}"
            self.refused.append(reason)
            print(
                f"daybreak: the server refused {op.method} {op.path}: {reason}", file=sys.__stderr__
            )
            if spooled is None:
                self.spool.add(op)
                spooled = self.spool.files()[-1]
            self.spool.reject(spooled, reason)
        self._backoff = 0.5
        self.last_error = None
        return True

    def _send(self, op: Op) -> tuple[int, bytes]:
        headers = {"Content-Type": op.content_type}
        if op.seq is not None:
            headers["X-Daybreak-Seq"] = str(op.seq)
        if op.body_file:
            with open(op.body_file, "rb") as handle:
                headers["Content-Length"] = str(Path(op.body_file).stat().st_size)
                status, data, _ = self.client.request(
                    op.method, op.path, handle, headers, op.params
                )
        else:
            status, data, _ = self.client.request(op.method, op.path, op.body, headers, op.params)
        return status, data

    def _fail(self, error: str) -> None:
        if self.last_error is None:
            print(
                f"daybreak: {error}; spooling to {self.spool.folder} and retrying",
                file=sys.__stderr__,
            )
        self.last_error = error
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        self._spool_pending()

    def _spool_pending(self) -> None:
        for op in self.pending:
            self.spool.add(op)
        self.pending.clear()


def _locked(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(self: RemoteSink, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class RemoteSink:
    """The writer's sink in remote mode: batches become ops sent on each sync."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self.client = HttpClient(settings.url, settings.token)
        self.spool = Spool(settings.spool_dir / run_id)
        self.sender = Sender(self.client, self.spool)
        self._points: dict[str, list[np.ndarray]] = {}
        self._output: list[str] = []
        self._seq = time.time_ns()
        self._lock = threading.RLock()  # the writer and the indexer threads share the sender
        self._opened = False  # points and output wait until the run's PUT is queued first

    def _next_seq(self) -> int:
        self._seq = max(self._seq + 1, time.time_ns())
        return self._seq

    @_locked
    def open(self, record: RunRecord, resumed: bool) -> None:
        if not resumed:
            payload = to_jsonable(
                {k: v for k, v in record.to_dict().items() if k in _CREATE_FIELDS}
            )
            self.sender.pending.append(
                Op("PUT", f"/api/runs/{record.id}", json.dumps(payload).encode())
            )
        self._opened = True
        self.sender.pump()

    @_locked
    def write_points(self, batch: Mapping[str, np.ndarray]) -> None:
        for key, records in batch.items():
            self._points.setdefault(key, []).append(records)

    @_locked
    def write_output(self, text: str) -> None:
        self._output.append(text)

    @_locked
    def sync(self) -> None:
        """Send what is buffered; before the run is registered (the indexer thread registers
        it, after reading the environment) the buffers wait, so no point arrives first."""
        if not self._opened:
            return
        self._queue_buffers()
        self.sender.pump()

    def _queue_buffers(self) -> None:
        if self._points:
            import numpy as np

            from daybreak.tracking.points import encode_batch

            batch = {key: np.concatenate(parts) for key, parts in self._points.items()}
            self._points = {}
            body = encode_batch(batch)
            self.sender.pending.append(
                Op(
                    "POST",
                    f"/api/runs/{self.run_id}/points",
                    body,
                    "application/octet-stream",
                    self._next_seq(),
                )
            )
        if self._output:
            text, self._output = "".join(self._output), []
            self.sender.pending.append(
                Op(
                    "POST",
                    f"/api/runs/{self.run_id}/output",
                    text.encode("utf-8", "replace"),
                    "text/plain",
                    self._next_seq(),
                )
            )

    @_locked
    def index(self, stats: Mapping[str, KeyStats], heartbeat: float) -> None:
        if not any(op.path.endswith("/heartbeat") for op in self.sender.pending):
            self.sender.pending.append(Op("POST", f"/api/runs/{self.run_id}/heartbeat"))
        self.sync()

    @_locked
    def finish(
        self, status: str, ended_at: float, error: str | None, summary: dict[str, Any]
    ) -> None:
        self._queue_buffers()
        payload = {"status": status, "ended_at": ended_at, "error": error, "summary": summary}
        self.sender.pending.append(
            Op("POST", f"/api/runs/{self.run_id}/finish", json.dumps(to_jsonable(payload)).encode())
        )
        deadline = time.monotonic() + self.settings.remote_finish_grace
        while not self.sender.pump():
            if time.monotonic() > deadline:
                print(
                    f"daybreak: the server at {self.settings.url} is unreachable; run {self.run_id} is "
                    f"kept in {self.spool.folder}. Send it later with `daybreak sync`.",
                    file=sys.__stderr__,
                )
                return
            time.sleep(0.5)

    @_locked
    def put_artifact(
        self, path: Path, name: str, kind: str, step: int | None, meta: dict[str, Any]
    ) -> dict[str, Any]:
        from daybreak.tracking.artifacts import check_name

        check_name(name)
        if not path.exists():
            raise NotFoundError(
                f"cannot log artifact {name!r}: {path} does not exist", "check the path"
            )
        if path.is_dir():
            raise DaybreakError(
                f"{path} is a folder", "in remote mode, log a file (zip the folder first)"
            )
        self.sync()
        params = {"kind": kind, "step": step, "filename": path.name, "meta": json.dumps(meta)}
        staged = self.spool.folder / "files" / f"{time.time_ns()}-{path.name}"
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, staged)
        op = Op(
            "PUT",
            f"/api/runs/{self.run_id}/artifacts/{name}",
            content_type="application/octet-stream",
            body_file=str(staged),
            params=params,
        )
        if self.sender.pump():
            try:
                status, data = self.sender._send(op)
            except RemoteError:
                status, data = 503, b""
            if status < 300:
                staged.unlink(missing_ok=True)
                return dict(json.loads(data))
            if 400 <= status < 500:
                staged.unlink(missing_ok=True)
                check(status, data)
        self.spool.add(op)
        return {
            "id": None,
            "run_id": self.run_id,
            "name": name,
            "kind": kind,
            "uri": str(staged),
            "size": staged.stat().st_size,
            "sha256": _sha256(staged),
            "step": step,
            "meta": {**meta, "spooled": True},
        }

    def close(self) -> None:
        self.client.close()


_CREATE_FIELDS = (
    "project",
    "name",
    "config",
    "tags",
    "summary",
    "git",
    "host",
    "pid",
    "command",
    "environment",
    "started_at",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sync_spools(settings: Settings) -> dict[str, int]:
    """Send every spooled op under this home; returns how many ops are left per run."""
    left: dict[str, int] = {}
    root = settings.spool_dir
    if not root.is_dir():
        return left
    client = HttpClient(settings.url, settings.token)
    try:
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            sender = Sender(client, Spool(folder))
            sender.pump()
            remaining = len(Spool(folder).files())
            if remaining:
                left[folder.name] = remaining
    finally:
        client.close()
    return left


class RemoteBackend:
    """The read side over HTTP, for scripts and the CLI pointed at a server by DAYBREAK_URL."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = HttpClient(settings.url, settings.token, timeout=30.0)

    def resolve(self, run_id: str) -> str:
        return str(self.get_run(run_id).id)

    def get_run(self, run_id: str) -> RunRecord:
        return RunRecord.from_dict(self.client.json("GET", f"/api/runs/{run_id}"))

    def list_runs(self, **filters: Any) -> list[RunRecord]:
        return [
            RunRecord.from_dict(r) for r in self.client.json("GET", "/api/runs", params=filters)
        ]

    def list_projects(self) -> list[dict[str, Any]]:
        return list(self.client.json("GET", "/api/projects"))

    def update_run(self, run_id: str, **values: Any) -> None:
        """Change name, tags, summary or config of a run on the server."""
        self.client.json("PATCH", f"/api/runs/{run_id}", values)

    def metric_index(self, run_id: str) -> dict[str, KeyStats]:
        keys = self.client.json("GET", f"/api/runs/{run_id}/metrics")["keys"]
        return {k: KeyStats(**_numbers(v)) for k, v in keys.items() if v is not None}

    def metric_keys(self, run_id: str) -> list[str]:
        return sorted(self.client.json("GET", f"/api/runs/{run_id}/metrics")["keys"])

    def history(self, run_id: str, key: str, max_points: int | None = None) -> History:
        import numpy as np

        from daybreak.tracking.points import RECORD, History

        status, data, _ = self.client.request(
            "GET",
            f"/api/runs/{run_id}/metrics/{key}",
            params={"points": max_points or 0, "format": "binary"},
        )
        check(status, data)
        return History.from_records(key, np.frombuffer(data, dtype=RECORD))

    def output(self, run_id: str, offset: int = 0, limit: int = 1 << 20) -> tuple[str, int]:
        params = {"offset": offset, "limit": limit}
        body = self.client.json("GET", f"/api/runs/{run_id}/output", params=params)
        return str(body["text"]), int(body["next_offset"])

    def artifacts(self, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return list(self.client.json("GET", f"/api/runs/{run_id}/artifacts", params={"kind": kind}))

    def delete_artifacts(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.client.json("DELETE", f"/api/runs/{row['run_id']}/artifacts/{row['id']}")

    def local_blob(self, uri: str) -> Path:
        if Path(uri).exists():  # spooled, not yet uploaded
            return Path(uri)
        for row in self._rows_with_uri(uri):
            cache = self.settings.home / "cache" / "blobs" / row["sha256"] / Path(uri).name
            if not cache.exists():
                status, data, _ = self.client.request(
                    "GET", f"/api/runs/{row['run_id']}/artifacts/{row['id']}/download"
                )
                check(status, data)
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_bytes(data)
            return cache
        raise NotFoundError(f"no artifact stored at {uri}", "it may have been deleted")

    def _rows_with_uri(self, uri: str) -> list[dict[str, Any]]:
        run_id = uri.split("/runs/", 1)[1].split("/", 1)[0] if "/runs/" in uri else ""
        return [r for r in self.artifacts(run_id) if r["uri"] == uri] if run_id else []

    def add_note(
        self, body: str, run_id: str | None = None, project: str | None = None, author: str = ""
    ) -> int:
        if run_id is None:
            raise DaybreakError(
                "notes without a run are not supported in remote mode yet", "pass run_id"
            )
        return int(
            self.client.json("POST", f"/api/runs/{run_id}/notes", {"body": body, "author": author})[
                "id"
            ]
        )

    def notes(self, run_id: str | None = None, project: str | None = None) -> list[dict[str, Any]]:
        return list(self.client.json("GET", f"/api/runs/{run_id}/notes"))

    def resume(self, run_id: str, pid: int | None, host: str) -> tuple[RunRecord, int]:
        body = self.client.json("POST", f"/api/runs/{run_id}/resume", {"pid": pid, "host": host})
        return RunRecord.from_dict(body["run"]), int(body["next_step"])

    def delete_runs(self, run_ids: list[str]) -> int:
        for run_id in run_ids:
            self.client.json("DELETE", f"/api/runs/{run_id}")
        return len(run_ids)

    def check_stale(self) -> list[str]:
        return []


def _numbers(values: dict[str, Any]) -> dict[str, Any]:
    return {k: from_text(v) for k, v in values.items()}
