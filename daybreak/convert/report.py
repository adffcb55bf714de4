"""The conversion report: one row per candidate export, a table renderer, JSON-ready dicts."""

from __future__ import annotations

import dataclasses
from typing import Any

from daybreak.convert.measure import Latency, Parity

PASSED, FAILED, ERROR, UNAVAILABLE, UNVALIDATED = (
    "passed",
    "failed",
    "error",
    "unavailable",
    "unvalidated",
)


@dataclasses.dataclass
class Candidate:
    """One candidate export and everything measured about it. Only a ``passed`` candidate can
    be recommended; the others keep their report and the reasons."""

    name: str
    format: str = "onnx"
    precision: str = "fp32"
    path: str | None = None
    status: str = PASSED
    reasons: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    parity: list[Parity] = dataclasses.field(default_factory=list)
    latency: list[Latency] = dataclasses.field(default_factory=list)
    score: float | None = None  # the task metric, 0-1
    drop_points: float | None = None  # task metric points lost against the reference
    flipped: float | None = None  # share of class predictions changed against the reference
    size_bytes: int | None = None
    # size_bytes over the ONNX fp32 export's (fp32.onnx, the file the user gets), BatchNorm
    # folded in both; for an ONNX input, the given file
    size_vs_fp32: float | None = None
    peak_memory_bytes: int | None = None
    coverage: tuple[int, int] | None = None  # (quantised ops, quantisable ops)
    build_seconds: float = 0.0

    def p50(self, batch: int = 1) -> float | None:
        return next((lat.p50_ms for lat in self.latency if lat.batch == batch), None)

    def fail(self, reason: str) -> None:
        self.status = FAILED
        self.reasons.append(reason)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ConversionReport:
    target: dict[str, Any]
    source: str
    task: str | None
    reference_score: float | None
    eager_ms: float | None  # PyTorch eager fp32 p50 at batch 1, same threads (None for ONNX input)
    candidates: list[Candidate]
    recommended: str | None
    why: str
    seconds: float
    fp32_size_bytes: int | None = None  # the ONNX fp32 export every size_vs_fp32 divides by

    def candidate(self, name: str) -> Candidate:
        return next(c for c in self.candidates if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def rows(report: ConversionReport) -> list[dict[str, Any]]:
    """One flat dict per candidate: the comparison table's rows."""
    out = []
    for c in report.candidates:
        p50 = c.p50(1)
        worst = max(c.parity, key=lambda p: p.max_abs) if c.parity else None
        out.append(
            {
                "candidate": c.name,
                "status": c.status,
                "recommended": c.name == report.recommended,
                "p50_ms_b1": p50,
                "p90_ms_b1": next((lat.p90_ms for lat in c.latency if lat.batch == 1), None),
                "latency": {lat.batch: (lat.p50_ms, lat.p90_ms) for lat in c.latency},
                "vs_eager": report.eager_ms / p50 if report.eager_ms and p50 else None,
                "max_abs_diff": worst.max_abs if worst else None,
                "mean_abs_diff": worst.mean_abs if worst else None,
                "score": c.score,
                "drop_points": c.drop_points,
                "flipped": c.flipped,
                "size_bytes": c.size_bytes,
                "size_vs_fp32": c.size_vs_fp32,
                "peak_memory_bytes": c.peak_memory_bytes,
                "int8_coverage": f"{c.coverage[0]}/{c.coverage[1]}" if c.coverage else None,
                "notes": "; ".join(c.reasons + c.warnings),
            }
        )
    return out


def render(report: ConversionReport) -> Any:
    """The comparison table of :func:`rows`, with the notes under it (a rich renderable)."""
    title = f"target {report.target['name']}: recommended {report.recommended or 'none'}"
    return table(rows(report), title, report.why)


def table(
    found: list[dict[str, Any]], title: str, caption: str = "", ids: list[int] | None = None
) -> Any:
    """Rows of :func:`rows` (``status`` as given: a candidate's or a stored export's) as a
    table narrow enough for 80 columns; under it, per row, the parity, INT8 coverage and
    notes (every figure is in the JSON and on the web page)."""
    from rich import box
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table

    grid = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    headers = ("export", "status", "p50 ms", "xeager", "score%", "Δpts", "KB", "xfp32")
    for header in ("id", *headers) if ids else headers:
        grid.add_column(header, no_wrap=True)
    notes = []
    for i, r in enumerate(found):
        name = str(r["candidate"]).removeprefix("onnx-")
        cells = [
            ("★ " if r["recommended"] else "") + escape(name),
            str(r["status"]),
            _num(r["p50_ms_b1"]),
            _num(r["vs_eager"]),
            _num(None if r["score"] is None else 100 * r["score"]),
            _num(r["drop_points"]),
            "-" if r["size_bytes"] is None else f"{r['size_bytes'] / 1e3:.1f}",
            _num(r["size_vs_fp32"]),
        ]
        grid.add_row(*([str(ids[i])] if ids else []), *cells)
        said = [f"max |Δ| {r['max_abs_diff']:.1e}"] if r["max_abs_diff"] is not None else []
        said += [f"INT8 ops {r['int8_coverage']}"] if r["int8_coverage"] else []
        said += [r["notes"]] if r["notes"] else []
        if said:  # escaped: notes name extras such as daybreak[tflite]
            notes.append(f"[dim]{escape(name)}:[/] {escape('; '.join(said))}")
    if caption:
        notes.append(f"[dim]{escape(caption)}[/]")
    return Group(grid, *notes)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
