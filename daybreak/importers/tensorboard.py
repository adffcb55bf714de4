"""``daybreak import tensorboard DIR``: every folder of TensorBoard event files becomes a run.

Every scalar point is imported (TensorBoard's EventAccumulator keeps only a sample): legacy
``simple_value`` scalars and the tensor scalars ``torch.utils.tensorboard`` (new style) and
TF2 write. A folder's hparams (the hparams plugin's session info) become its config. The
run id is derived from the name of the folder's first event file, which holds the time, host
and process that started it, so the same run gets the same id wherever its folder lies.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from daybreak.config import Settings
from daybreak.errors import ConfigError, NotFoundError
from daybreak.importers.common import (
    DEFAULT_PROJECT,
    ImportedRun,
    ImportResult,
    KeyMap,
    Progress,
    Skipped,
    check_project,
    existing_ids,
    missing_package,
    run_name,
    stable_id,
    staging,
)
from daybreak.importers.tfrecord import Records, corrupt, open_records
from daybreak.tracking.records import FAILED, FINISHED, RunRecord

EVENTS = "events.out.tfevents."
EMPTY_SUFFIX = ".profile-empty"  # written by the profiler; holds no summaries
WINDOW = 65_536  # records parsed before their checksums are checked and their points staged
HPARAMS_STATUS = {1: FINISHED, 2: FAILED}  # the hparams plugin's STATUS_SUCCESS, STATUS_FAILURE
LOGDIR_HINT = "give the folder you would pass to `tensorboard --logdir`"


@dataclasses.dataclass
class Folder:
    """One folder of event files: one run."""

    path: Path
    name: str
    files: list[Path]
    run_id: str

    @property
    def size(self) -> int:
        return sum(f.stat().st_size for f in self.files)


@dataclasses.dataclass
class Plan:
    """What an import will read: the folders not imported yet, and those skipped."""

    root: Path
    project: str
    folders: list[Folder]
    skipped: list[Skipped]

    @property
    def total(self) -> int:
        """Bytes of event files to read (what a progress bar counts)."""
        return sum(f.size for f in self.folders)


def plan(settings: Settings, root: Path | str, project: str | None = None) -> Plan:
    """Find the run folders under ``root`` and leave out those imported before."""
    _protos()
    root = Path(root)
    project = check_project(project) if project is not None else DEFAULT_PROJECT
    if not root.exists():
        raise NotFoundError(f"no folder {root}", LOGDIR_HINT)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder", LOGDIR_HINT)
    found = find_folders(root)
    if not found:
        raise NotFoundError(f"no TensorBoard event files ({EVENTS}*) under {root}", LOGDIR_HINT)
    known = existing_ids(settings, [f.run_id for f in found])
    folders: list[Folder] = []
    skipped: list[Skipped] = []
    first_with: dict[str, str] = {}
    for folder in found:
        if folder.run_id in known:
            skipped.append(
                Skipped(folder.name, f"already imported as run {folder.run_id}", folder.run_id)
            )
        elif folder.run_id in first_with:
            skipped.append(
                Skipped(
                    folder.name,
                    f"a copy of {first_with[folder.run_id]} (its first event file has the same name)",
                    folder.run_id,
                )
            )
        else:
            first_with[folder.run_id] = folder.name
            folders.append(folder)
    return Plan(root, project, folders, skipped)


def find_folders(root: Path) -> list[Folder]:
    """Folders under ``root`` (itself included) that hold event files, in path order."""
    out = []
    for here, dirs, names in os.walk(root):
        dirs.sort()
        files = sorted(n for n in names if n.startswith(EVENTS) and not n.endswith(EMPTY_SUFFIX))
        if not files:
            continue
        path = Path(here)
        name = path.relative_to(root).as_posix()
        if name == ".":
            name = root.resolve().name or str(root)
        out.append(
            Folder(
                path, run_name(name), [path / n for n in files], stable_id("tensorboard", files[0])
            )
        )
    return out


def import_plan(settings: Settings, plan: Plan, progress: Progress | None = None) -> ImportResult:
    """Read the planned folders into runs: all of them, or on any error none."""
    started = time.perf_counter()
    result = ImportResult("tensorboard", str(plan.root), skipped=list(plan.skipped))
    hparams: dict[Path, dict[str, Any]] = {}
    deepest_first = sorted(plan.folders, key=lambda f: -len(f.path.parts))
    with staging(settings) as staged:
        for folder in deepest_first:
            record = RunRecord(
                id=folder.run_id, project=plan.project, name=folder.name, status=FINISHED
            )
            run = staged.start(record)
            reader = _Reader(run, KeyMap(result.renamed), progress)
            for path in folder.files:
                reader.read(path)
            if not reader.points and not reader.hparams:
                staged.drop(run)
                result.skipped.append(Skipped(folder.name, "holds no scalars or hparams"))
                continue
            if reader.hparams:
                hparams[folder.path] = reader.hparams
            reader.fill(record, folder, _children_hparams(folder.path, hparams))
            run.close()
            result.warnings.extend(reader.warnings(folder.name))
            result.imported.append(
                ImportedRun(record.id, record.name, record.project, str(folder.path), reader.points)
            )
    result.imported.sort(key=lambda r: r.name)
    result.seconds = time.perf_counter() - started
    return result


def import_tensorboard(
    settings: Settings,
    root: Path | str,
    project: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Plan and import in one call (what the CLI does in two, to size its progress bar)."""
    return import_plan(settings, plan(settings, root, project), progress)


def _children_hparams(path: Path, hparams: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    """Hparams of the direct subfolders of ``path``, if they agree: ``torch.utils.tensorboard``'s
    ``add_hparams`` writes them to a subfolder of the run's own folder."""
    merged: dict[str, Any] = {}
    for child, values in hparams.items():
        if child.parent != path:
            continue
        for key, value in values.items():
            if merged.get(key, value) != value:
                return {}
            merged[key] = value
    return merged


class _Reader:
    """Reads one folder's event files into a staged run."""

    def __init__(self, run: Any, keys: KeyMap, progress: Progress | None) -> None:
        self.run = run
        self.keys = keys
        self.progress = progress
        self.protos = _protos()
        self.plugins: dict[str, str] = {}  # tag -> plugin; TF2 writes the metadata only once
        self.hparams: dict[str, Any] = {}
        self.status: str | None = None
        self.points = 0
        self.first: float | None = None
        self.last: float | None = None
        self.other: dict[str, set[str]] = {}  # kind -> tags not imported
        self.truncated: list[str] = []
        self.hparams_read = False  # the event being read held hparams (its checksum counts)

    def read(self, path: Path) -> None:
        with open_records(path) as records:
            done = 0
            for start in range(0, len(records), WINDOW):
                stop = min(start + WINDOW, len(records))
                self._window(records, start, stop)
                end = int(records.starts[stop - 1] + records.lengths[stop - 1]) + 4
                self._advance(end - done)
                done = end
            self._advance(len(records.buffer) - done)
            if records.truncated:
                self.truncated.append(path.name)

    def _advance(self, amount: int) -> None:
        if self.progress is not None and amount > 0:
            self.progress(amount)

    def _window(self, records: Records, start: int, stop: int) -> None:
        event_from, decode_error = self.protos.Event.FromString, self.protos.DecodeError
        used: list[int] = []
        points: list[tuple[str, int, float, float]] = []
        for index in range(start, stop):
            try:
                event = event_from(records.data(index))
            except decode_error:
                records.verify(np.asarray([index]))  # a damaged record says so first
                raise corrupt(
                    records.path, int(records.starts[index]) - 12, "is not a TensorBoard event"
                ) from None
            wall = event.wall_time
            if wall > 0:
                if self.first is None:
                    self.first = wall
                self.last = wall if self.last is None else max(self.last, wall)
            if not event.HasField("summary"):
                continue
            kept = len(points)
            for value in event.summary.value:
                number = self._scalar(value)
                if number is not None:
                    points.append((value.tag, event.step, wall, number))
            if len(points) > kept or self.hparams_read:
                used.append(index)
                self.hparams_read = False
        records.verify(np.asarray(used, dtype=np.int64))
        add, keys = self.run.add, self.keys
        for tag, step, wall, number in points:
            add(keys(tag), step, wall, number)
        self.points += len(points)

    def _scalar(self, value: Any) -> float | None:
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            return float(value.simple_value)
        plugin = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
        if plugin:
            self.plugins[value.tag] = plugin
        else:
            plugin = self.plugins.get(value.tag, "")
        if plugin == "scalars" and kind == "tensor":
            number = _tensor_number(value.tensor, self.protos)
            if number is not None:
                return number
        if plugin == "hparams":
            self._hparams(value.metadata.plugin_data.content)
            return None
        self.other.setdefault(plugin or kind or "empty", set()).add(value.tag)
        return None

    def _hparams(self, content: bytes) -> None:
        data = self.protos.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            for key, value in data.session_start_info.hparams.items():
                self.hparams[key] = _hparam_value(value, self.protos)
            self.hparams_read = True
        if data.HasField("session_end_info"):
            self.status = HPARAMS_STATUS.get(data.session_end_info.status, self.status)
            self.hparams_read = True

    def fill(self, record: RunRecord, folder: Folder, inherited: dict[str, Any]) -> None:
        """Complete the record once every file was read."""
        first = self.first if self.first is not None else folder.files[0].stat().st_mtime
        last = self.last if self.last is not None else first
        record.config = dict(sorted((self.hparams or inherited).items()))
        record.status = self.status or FINISHED
        record.started_at, record.ended_at, record.last_heartbeat = first, last, last
        record.host = _host(folder.files[0].name)
        record.environment = {
            "imported": {
                "from": "tensorboard",
                "path": str(folder.path.resolve()),
                "files": [f.name for f in folder.files],
            }
        }

    def warnings(self, name: str) -> list[str]:
        out = []
        if self.other:
            kinds = ", ".join(f"{k}: {len(tags)}" for k, tags in sorted(self.other.items()))
            out.append(f"{name}: tags that are not scalars were not imported ({kinds})")
        for file in self.truncated:
            out.append(
                f"{name}: {file} ends in a partial record (its writer was cut off); "
                "the partial record was left out"
            )
        return out


def _tensor_number(tensor: Any, protos: Any) -> float | None:
    if len(tensor.float_val) == 1:
        return float(tensor.float_val[0])
    if len(tensor.double_val) == 1:
        return float(tensor.double_val[0])
    try:
        array = protos.make_ndarray(tensor)
    except (ValueError, TypeError):
        return None
    if array.size != 1 or array.dtype.kind not in "fiub":
        return None
    return float(array.reshape(-1)[0])


def _hparam_value(value: Any, protos: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return protos.MessageToDict(value) if kind else None


def _host(name: str) -> str:
    """The host in an event file name: ``events.out.tfevents.TIME.HOST.PID.N[.v2]``."""
    rest = name[len(EVENTS) :].removesuffix(".v2")
    parts = rest.split(".", 1)
    if len(parts) < 2:
        return ""
    pieces = parts[1].rsplit(".", 2)
    return (
        pieces[0][:255]
        if len(pieces) == 3 and (pieces[1].isascii() and pieces[1].isdigit())
        else ""
    )


class _Protos:
    """The TensorBoard pieces an import needs, imported once and only when used."""

    def __init__(self) -> None:
        try:
            from google.protobuf.json_format import MessageToDict
            from google.protobuf.message import DecodeError
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
            from tensorboard.util.tensor_util import make_ndarray
        except ImportError as exc:
            raise missing_package("tensorboard", "importing TensorBoard event files") from exc
        self.Event = Event
        self.DecodeError = DecodeError
        self.HParamsPluginData = HParamsPluginData
        self.make_ndarray = make_ndarray
        self.MessageToDict = MessageToDict


_loaded: list[_Protos] = []


def _protos() -> _Protos:
    if not _loaded:
        _loaded.append(_Protos())
    return _loaded[0]
