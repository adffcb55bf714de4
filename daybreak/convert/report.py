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

    def candidate(self, name: str) -> Candidate:
        return next(c for c in self.candidates if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def rows(report: ConversionReport) -> list[dict[str, Any]]:
    """One flat dict per candidate: the comparison table's rows."""
    out = []
    fp32 = next((c for c in report.candidates if c.name == "onnx-fp32"), None)
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
                "size_vs_fp32": c.size_bytes / fp32.size_bytes
                if fp32 and fp32.size_bytes and c.size_bytes
                else None,
                "peak_memory_bytes": c.peak_memory_bytes,
                "int8_coverage": f"{c.coverage[0]}/{c.coverage[1]}" if c.coverage else None,
                "notes": "; ".join(c.reasons + c.warnings),
            }
        )
    return out


def render(report: ConversionReport) -> Any:
    """A rich Table of :func:`rows` (print it with the CLI's console)."""
    from rich.table import Table

    title = (
        f"target {report.target['name']}: recommended {report.recommended or 'none'} ({report.why})"
    )
    table = Table(title=title)
    for header in (
        "candidate",
        "status",
        "p50 b1",
        "p90 b1",
        "xeager",
        "max|Δ|",
        report.task or "score",
        "Δ pts",
        "flipped",
        "size",
        "peak mem",
        "int8 ops",
        "notes",
    ):
        table.add_column(header)
    for r in rows(report):
        table.add_row(
            ("★ " if r["recommended"] else "") + r["candidate"],
            r["status"],
            _num(r["p50_ms_b1"], " ms"),
            _num(r["p90_ms_b1"], " ms"),
            _num(r["vs_eager"], "x"),
            "-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}",
            _num(None if r["score"] is None else 100 * r["score"], "%"),
            _num(r["drop_points"], ""),
            _num(None if r["flipped"] is None else 100 * r["flipped"], "%"),
            _size(r["size_bytes"]),
            _size(r["peak_memory_bytes"]),
            r["int8_coverage"] or "-",
            r["notes"],
        )
    return table


def _num(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.3g}{unit}"


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f} MB" if value >= 1e5 else f"{value / 1e3:.1f} KB"
