"""``daybreak convert NAME@VERSION --target T``: convert a registered version with the measured
search, on samples of its own dataset version, and store every candidate export with its
report in the registry (the recommended one marked for the target)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from daybreak.blobs import BlobStore
from daybreak.config import Settings
from daybreak.convert import samples as sampling
from daybreak.convert.report import (
    ERROR,
    FAILED,
    PASSED,
    UNAVAILABLE,
    UNVALIDATED,
    Candidate,
    ConversionReport,
    rows,
)
from daybreak.convert.search import Progress
from daybreak.convert.targets import Target, load_target
from daybreak.registry import exports
from daybreak.registry.exports import NewExport
from daybreak.registry.records import Export, ModelVersion
from daybreak.registry.service import artifact_path, get_version, load_module

STATUS = {PASSED: "ok", UNVALIDATED: "unvalidated", FAILED: "failed", ERROR: "failed"}
STATUS[UNAVAILABLE] = "unavailable"


@dataclasses.dataclass
class Conversion:
    """What one ``daybreak convert`` did: the report and the exports it stored."""

    ref: str
    target: str
    id: str
    dataset: str | None
    notes: list[str]
    report: ConversionReport
    exports: list[Export]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "target": self.target,
            "conversion": self.id,
            "dataset": self.dataset,
            "notes": self.notes,
            "recommended": self.report.recommended,
            "why": self.report.why,
            "seconds": self.report.seconds,
            "rows": rows(self.report),
            "exports": [e.to_dict() for e in self.exports],
        }


def convert_version(
    settings: Settings,
    ref: str,
    target: str | Path | Target,
    dataset: str | None = None,
    runs: int = 50,
    max_seconds: float = 3.0,
    progress: Progress | None = None,
) -> Conversion:
    """Convert the version ``ref`` names for ``target`` (a built-in name, a profile file or a
    :class:`Target`); ``dataset`` overrides the version's own dataset version."""
    from daybreak.convert.search import convert

    say = progress or (lambda *_: None)
    chosen = target if isinstance(target, Target) else load_target(target)
    version = get_version(settings, ref)
    say(f"reading samples for {version.ref}", 0, 1)
    found = sampling.for_version(settings, version, dataset)
    model: Any = (
        load_module(settings, version.ref)
        if version.source == "run"
        else artifact_path(settings, version)
    )
    with tempfile.TemporaryDirectory(prefix="daybreak-convert-") as tmp:
        report = convert(
            model,
            chosen,
            found.calibration,
            found.validation,
            found.task,
            Path(tmp),
            runs=runs,
            max_seconds=max_seconds,
            progress=say,
        )
        report_rows = {row["candidate"]: row for row in rows(report)}
        conversion_id = uuid.uuid4().hex[:12]
        shared = {
            "conversion": conversion_id,
            "target": report.target,
            "task": report.task,
            "reference_score": report.reference_score,
            "eager_ms": report.eager_ms,
            "recommended": report.recommended,
            "why": report.why,
            "dataset": found.dataset,
            "notes": found.notes,
            "seconds": report.seconds,
        }
        say("storing exports", 1, 1)
        items = [
            _stored(settings, version, chosen.name, conversion_id, cand, report_rows, shared)
            for cand in report.candidates
        ]
    stored = exports.record_conversion(settings, version.ref, chosen.name, items)
    return Conversion(
        version.ref, chosen.name, conversion_id, found.dataset, found.notes, report, stored
    )


def _stored(
    settings: Settings,
    version: ModelVersion,
    target: str,
    conversion_id: str,
    cand: Candidate,
    report_rows: dict[str, dict[str, Any]],
    shared: dict[str, Any],
) -> NewExport:
    """Put the candidate's file (a folder is zipped) in the blob store; the row to record."""
    uri = size = None
    if cand.path and Path(cand.path).exists():
        path = Path(cand.path)
        if path.is_dir():
            path = Path(shutil.make_archive(str(path), "zip", path.parent, path.name))
        key = f"registry/{version.model}/exports/{version.version}/{target}/{conversion_id}-{cand.name}{path.suffix}"
        uri, size, _ = BlobStore(settings.blobs_url).put_file(path, key)
    candidate = {k: v for k, v in cand.to_dict().items() if k != "path"}
    return NewExport(
        format=cand.format,
        precision=cand.precision,
        status=STATUS.get(cand.status, "failed"),
        report={**shared, "candidate": candidate, "row": report_rows[cand.name]},
        uri=uri,
        size=size,
        recommended=cand.name == shared["recommended"],
    )
