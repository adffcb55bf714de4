"""Runs to and from Daybreak runs JSONL, the export format documented in docs/runs-jsonl.md.

A file holds one or more runs: a ``{"run": {...}}`` line, then one ``{"key", "step", "ts",
"value"}`` line per point of that run. Export streams one metric key at a time so a huge run
never sits in memory. Import writes points into a staging folder under the Daybreak home and
only moves them into place and registers the runs once the whole file has been read and
checked, so a corrupt file leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from daybreak.config import Settings
from daybreak.errors import (
    ConfigError,
    ConflictError,
    DaybreakError,
    ImportFormatError,
    InvalidMetricError,
    NotFoundError,
    StorageFullError,
)
from daybreak.store.jsontext import NONFINITE, nonfinite_text
from daybreak.tracking.points import History, PointFiles, records_from
from daybreak.tracking.records import STATUSES, KeyStats, RunRecord
from daybreak.tracking.values import check_key

RUN_FIELDS = (
    "id",
    "project",
    "name",
    "config",
    "tags",
    "status",
    "started_at",
    "ended_at",
    "last_heartbeat",
    "summary",
)
EXTRA_FIELDS = ("error", "git", "host", "command", "environment", "attempts")
POINT_FIELDS = ("key", "step", "ts", "value")
CHUNK = 65_536
PROGRESS_BYTES = 1 << 20
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,31}")
FORMAT_HINT = "the file must be Daybreak runs JSONL (see docs/runs-jsonl.md); nothing was imported"

Progress = Callable[[int], None]


@dataclasses.dataclass
class TransferResult:
    """What an export or import moved: the run ids (as stored on the receiving side) and points."""

    run_ids: list[str]
    points: int


# -- export -------------------------------------------------------------------------------


def select_runs(store: Any, run_ids: Sequence[str], project: str | None) -> list[str]:
    """Full ids of the runs named by id (or prefix), or of every run in ``project``."""
    if run_ids and project:
        raise ConfigError("name runs or a project, not both", "pass RUN... or --project P")
    if project:
        ids = [r.id for r in store.list_runs(project=project)]
        if not ids:
            raise NotFoundError(
                f"project {project!r} has no runs", "list runs with `daybreak runs ls`"
            )
        return ids
    if not run_ids:
        raise ConfigError("no runs to export", "pass run ids or --project P")
    return list(dict.fromkeys(store.resolve(r) for r in run_ids))


def count_points(store: Any, run_ids: Iterable[str]) -> int:
    """Points the index knows for these runs: the total a progress bar can show."""
    return sum(stats.count for run_id in run_ids for stats in store.metric_index(run_id).values())


def export_runs(
    store: Any, run_ids: Sequence[str], out: TextIO, progress: Progress | None = None
) -> TransferResult:
    """Write the runs (full ids) to ``out`` as JSONL; ``progress`` gets the points written."""
    points = 0
    for run_id in run_ids:
        points += export_run(store, run_id, out, progress)
    return TransferResult(list(run_ids), points)


def export_file(
    store: Any, run_ids: Sequence[str], path: Path, progress: Progress | None = None
) -> TransferResult:
    """Export to ``path`` through a temporary file, so a failed export leaves no partial file."""
    if not path.parent.is_dir():
        raise NotFoundError(f"cannot write {path}: no folder {path.parent}", "create it first")
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            result = export_runs(store, run_ids, out, progress)
        os.replace(partial, path)
    except OSError as exc:
        raise os_error(exc, f"write {path}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return result


def export_run(store: Any, run_id: str, out: TextIO, progress: Progress | None = None) -> int:
    record = store.get_run(run_id)
    out.write(run_line(record) + "\n")
    points = 0
    for key in store.metric_keys(record.id):
        points += write_points(out, store.history(record.id, key), progress)
    return points


def run_line(record: RunRecord) -> str:
    data = record.to_dict()
    return json.dumps(
        {"run": {name: data[name] for name in RUN_FIELDS + EXTRA_FIELDS}}, default=str
    )


def write_points(out: TextIO, history: History, progress: Progress | None = None) -> int:
    """One line per point, written a chunk at a time (repr keeps every float exact)."""
    prefix = '{"key": ' + json.dumps(history.key) + ', "step": '
    for start in range(0, len(history), CHUNK):
        stop = start + CHUNK
        steps = history.steps[start:stop].tolist()
        stamps = history.timestamps[start:stop].tolist()
        values = history.values[start:stop].tolist()
        out.write(
            "".join(
                f'{prefix}{s}, "ts": {_number(t)}, "value": {_number(v)}}}\n'
                for s, t, v in zip(steps, stamps, values, strict=True)
            )
        )
        if progress is not None:
            progress(len(steps))
    return len(history)


def _number(value: float) -> str:
    return repr(value) if math.isfinite(value) else nonfinite_text(value)


# -- import -------------------------------------------------------------------------------


def import_runs(
    settings: Settings,
    lines: Iterable[bytes | str],
    project: str | None = None,
    new_ids: bool = False,
    progress: Progress | None = None,
) -> TransferResult:
    """Read runs JSONL from ``lines`` into the local store; all runs or, on any error, none.

    ``project`` puts every run into that project; ``new_ids`` gives each run a fresh id
    instead of refusing ids that already exist. ``progress`` gets the bytes read.
    """
    if settings.remote:
        raise ConfigError(
            "runs import writes to the local store, but DAYBREAK_URL points at a server",
            "run the import on the server's machine, or unset DAYBREAK_URL",
        )
    if project is not None and not project_ok(project):
        raise ConfigError(
            f"--project {project!r} is not an allowed project name", "use a short name without '/'"
        )
    from daybreak.tracking.readers import LocalBackend

    importer = Importer(LocalBackend(settings), project, new_ids)
    unreported = 0
    try:
        for number, raw in enumerate(lines, 1):
            importer.feed(number, raw)
            unreported += len(raw)
            if progress is not None and unreported >= PROGRESS_BYTES:
                progress(unreported)
                unreported = 0
        importer.finish()
        if progress is not None and unreported:
            progress(unreported)
    except BaseException as exc:
        importer.rollback()
        if isinstance(exc, OSError):
            raise os_error(exc, "import runs; nothing was imported") from exc
        raise
    return importer.result


class StagedRun:
    """One run being read: its points go to a staging folder, its stats are kept."""

    def __init__(self, record: RunRecord, folder: Path, line: int) -> None:
        self.record = record
        self.folder = folder
        self.line = line
        self.files: PointFiles | None = None
        self.columns: dict[str, tuple[list[int], list[float], list[float]]] = {}
        self.buffered = 0
        self.points = 0
        self.stats: dict[str, KeyStats] = {}

    def add(self, key: str, step: int, ts: float, value: float) -> None:
        column = self.columns.get(key)
        if column is None:
            column = self.columns[key] = ([], [], [])
        column[0].append(step)
        column[1].append(ts)
        column[2].append(value)
        self.buffered += 1
        if self.buffered >= CHUNK:
            self.write()

    def write(self) -> None:
        if self.files is None:
            self.files = PointFiles(self.folder)
        for key, column in self.columns.items():
            records = records_from(*column)
            self.files.append(key, records)
            stats = KeyStats.of(records)
            known = self.stats.get(key)
            self.stats[key] = known.merge(stats) if known else stats
        self.points += self.buffered
        self.columns.clear()
        self.buffered = 0

    def close(self) -> None:
        self.write()
        if self.files is not None:
            self.files.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "run.json").write_text(json.dumps(self.record.to_dict(), default=str))


class Importer:
    """Reads a runs JSONL file line by line into staging, then commits every run at once."""

    def __init__(self, store: Any, project: str | None, new_ids: bool) -> None:
        self.store = store
        self.project = project
        self.new_ids = new_ids
        self.staging = store.settings.home / "tmp" / f"import-{secrets.token_hex(6)}"
        self.staged: list[StagedRun] = []
        self.current: StagedRun | None = None
        self.source_ids: dict[str, int] = {}
        self.keys: set[str] = set()
        self.committed: list[str] = []
        self.result = TransferResult([], 0)

    def feed(self, number: int, raw: bytes | str) -> None:
        if not raw.strip():
            return
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise _bad(number, f"is not valid JSON ({_reason(exc)})") from None
        if not isinstance(data, dict):
            raise _bad(number, f"must be a JSON object, got {type(data).__name__}")
        if "run" in data:
            self.start_run(number, data["run"])
        elif "key" in data:
            self.add_point(number, data)
        else:
            raise _bad(number, 'is neither a run line {"run": {...}} nor a point line {"key": ...}')

    def start_run(self, number: int, data: Any) -> None:
        if self.current is not None:
            self.current.close()
        record = _parse_run(number, data)
        if record.id in self.source_ids:
            raise _bad(
                number,
                f"repeats run {record.id!r} (first on line {self.source_ids[record.id]})",
            )
        self.source_ids[record.id] = number
        if self.project is not None:
            record.project = self.project
        if self.new_ids:
            from daybreak.tracking.run import new_run_id

            record.id = new_run_id()
        else:
            self.check_free(record.id, number)
        self.current = StagedRun(record, self.staging / record.id, number)
        self.staged.append(self.current)

    def add_point(self, number: int, data: dict[str, Any]) -> None:
        if self.current is None:
            raise _bad(
                number,
                'is a point before any run line; each run\'s {"run": ...} line must come first',
            )
        missing = [name for name in POINT_FIELDS if name not in data]
        if missing:
            raise _bad(number, f"point is missing {_fields(missing)}")
        key = data["key"]
        if key not in self.keys:
            try:
                check_key(key)
            except InvalidMetricError as exc:
                raise _bad(number, exc.message) from None
            self.keys.add(key)
        self.current.add(
            key,
            _step(number, data["step"]),
            _float(number, "ts", data["ts"]),
            _float(number, "value", data["value"]),
        )

    def check_free(self, run_id: str, number: int) -> None:
        from daybreak.tracking import service

        if run_id in service.find_runs(self.store.db, run_id):
            raise ConflictError(
                f"line {number}: run {run_id!r} already exists here; nothing was imported",
                "delete it first (`daybreak runs delete`), or import with --new-ids",
            )
        folder = self.store.run_dir(run_id)
        if folder.exists():
            raise ConflictError(
                f"line {number}: a folder for run {run_id!r} already exists at {folder}",
                "it is left over from an earlier run; remove it, or import with --new-ids",
            )

    def finish(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
        if not self.staged:
            raise ImportFormatError("the file holds no runs", FORMAT_HINT)
        for run in self.staged:
            if not self.new_ids:
                self.check_free(run.record.id, run.line)
        for run in self.staged:
            self.commit(run)
        shutil.rmtree(self.staging, ignore_errors=True)

    def commit(self, run: StagedRun) -> None:
        from daybreak.tracking import service

        target = self.store.run_dir(run.record.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        run.folder.rename(target)
        self.committed.append(run.record.id)
        service.create_run(self.store.db, run.record)
        service.index_metrics(self.store.db, run.record.id, run.stats, None)
        self.result.run_ids.append(run.record.id)
        self.result.points += run.points

    def rollback(self) -> None:
        for run in self.staged:
            if run.files is not None:
                run.files.close()
        shutil.rmtree(self.staging, ignore_errors=True)
        if self.committed:
            self.store.delete_runs(self.committed)


def os_error(exc: OSError, what: str) -> DaybreakError:
    if exc.errno == errno.ENOSPC:
        return StorageFullError(f"the disk is full: cannot {what}", "free some space and try again")
    return DaybreakError(f"cannot {what}: {exc}", "check the path, its permissions and free space")


def _bad(number: int, what: str) -> ImportFormatError:
    return ImportFormatError(f"line {number} {what}", FORMAT_HINT)


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


def _fields(names: list[str]) -> str:
    return ("field " if len(names) == 1 else "fields ") + ", ".join(repr(n) for n in names)


def _step(number: int, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not -(2**63) <= value < 2**63:
        raise _bad(number, f"has step {value!r}, which is not a whole number")
    return value


def _float(number: int, name: str, value: Any) -> float:
    if type(value) is float or type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise _bad(number, f"has {name} {value}, which is too large for a float") from None
    if isinstance(value, str) and value in NONFINITE:
        return NONFINITE[value]
    raise _bad(
        number,
        f'has a non-numeric {name} {value!r} (use a number, NaN, Infinity, -Infinity or "NaN")',
    )


def _parse_run(number: int, data: Any) -> RunRecord:
    if not isinstance(data, dict):
        raise _bad(number, f'has "run" set to a {type(data).__name__}, not an object')
    missing = [name for name in RUN_FIELDS if name not in data]
    if missing:
        raise _bad(number, f"run is missing {_fields(missing)}")
    for name, ok, expected in _RUN_CHECKS:
        if name in data and not ok(data[name]):
            raise _bad(number, f"run field {name!r} must be {expected}, got {data[name]!r}")
    if data["status"] not in STATUSES:
        raise _bad(
            number,
            f"run field 'status' must be one of {', '.join(STATUSES)}, got {data['status']!r}",
        )
    values = {name: data[name] for name in RUN_FIELDS + EXTRA_FIELDS if name in data}
    return RunRecord(**values)


def _number_ok(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


_RUN_CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    (
        "id",
        lambda v: isinstance(v, str) and RUN_ID.fullmatch(v) is not None,
        "1 to 32 letters, digits, _ or -",
    ),
    ("project", lambda v: project_ok(v), "a short name without '/'"),
    ("name", lambda v: isinstance(v, str) and len(v) <= 300, "a string of at most 300 characters"),
    ("config", lambda v: isinstance(v, dict), "an object"),
    (
        "tags",
        lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v),
        "a list of strings",
    ),
    ("status", lambda v: isinstance(v, str), "a string"),
    ("started_at", _number_ok, "a number (unix seconds)"),
    ("ended_at", lambda v: v is None or _number_ok(v), "a number (unix seconds) or null"),
    ("last_heartbeat", _number_ok, "a number (unix seconds)"),
    ("summary", lambda v: isinstance(v, dict), "an object"),
    ("error", lambda v: v is None or isinstance(v, str), "a string or null"),
    ("git", lambda v: isinstance(v, dict), "an object"),
    ("host", lambda v: isinstance(v, str), "a string"),
    ("command", lambda v: isinstance(v, str), "a string"),
    ("environment", lambda v: isinstance(v, dict), "an object"),
    ("attempts", lambda v: type(v) is int and v >= 1, "a whole number of at least 1"),
)


def project_ok(project: Any) -> bool:
    return (
        isinstance(project, str)
        and bool(project.strip())
        and len(project) <= 200
        and "/" not in project
    )
