"""Small charts without a dependency: inline SVG line charts for HTML, and one-line Unicode
sparklines for chat and the terminal. Input is a log's chart data (steps, values with null
for NaN/Inf, an optional marker step)."""

from __future__ import annotations

import html
import math
from typing import Any

BARS = "▁▂▃▄▅▆▇█"
LINE = "#2563eb"
MARK = "#dc2626"


def _finite(values: list[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]


def sparkline(data: dict[str, Any] | None, width: int = 24) -> str:
    """``▁▂▄▇█▅`` over ``width`` characters; a blank where values were not finite."""
    values = list(data["values"]) if data else []
    finite = _finite(values)
    if not finite:
        return ""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    out = []
    for value in values:
        if not (isinstance(value, int | float) and math.isfinite(value)):
            out.append(" ")
            continue
        out.append(BARS[min(len(BARS) - 1, int((value - low) / span * len(BARS)))])
    return "".join(out)


def svg(data: dict[str, Any] | None, width: int = 360, height: int = 96) -> str:
    """An inline ``<svg>`` line chart: the series, its range, and the marker step in red."""
    if not data or not _finite(data["values"]):
        return ""
    steps = [int(s) for s in data["steps"]]
    values = data["values"]
    finite = _finite(values)
    low, high = min(finite), max(finite)
    pad_x, pad_top, pad_bottom = 4.0, 14.0, 14.0
    x0, x1 = steps[0], steps[-1]

    def x(step: float) -> float:
        return pad_x + (step - x0) / ((x1 - x0) or 1) * (width - 2 * pad_x)

    def y(value: float) -> float:
        inner = height - pad_top - pad_bottom
        return pad_top + (1 - (value - low) / ((high - low) or 1)) * inner

    parts = [
        f'<svg class="dl-chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{html.escape(str(data["key"]))}">',
        f"<title>{html.escape(str(data['key']))}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff" stroke="#e5e7eb"/>',
    ]
    for segment in _segments(steps, values):
        if len(segment) == 1:
            ((step, value),) = segment
            parts.append(f'<circle cx="{x(step):.1f}" cy="{y(value):.1f}" r="2" fill="{LINE}"/>')
            continue
        path = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in segment)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    for step, value in zip(steps, values, strict=True):
        if value is None:  # NaN or Inf: a red tick along the top
            parts.append(
                f'<line x1="{x(step):.1f}" y1="2" x2="{x(step):.1f}" y2="9" stroke="{MARK}"/>'
            )
    marker = data.get("marker")
    if isinstance(marker, int) and x0 <= marker <= x1:
        mx = x(marker)
        parts.append(
            f'<line x1="{mx:.1f}" y1="{pad_top}" x2="{mx:.1f}" y2="{height - pad_bottom}" '
            f'stroke="{MARK}" stroke-dasharray="3,2"/>'
        )
    label = 'font-size="9" font-family="sans-serif" fill="#6b7280"'
    parts += [
        f'<text x="{pad_x}" y="10" {label}>{html.escape(str(data["key"]))} '
        f"{_num(low)} … {_num(high)}</text>",
        f'<text x="{pad_x}" y="{height - 3}" {label}>step {x0}</text>',
        f'<text x="{width - pad_x}" y="{height - 3}" text-anchor="end" {label}>step {x1}</text>',
        "</svg>",
    ]
    return "".join(parts)


def _segments(steps: list[int], values: list[Any]) -> list[list[tuple[int, float]]]:
    segments: list[list[tuple[int, float]]] = [[]]
    for step, value in zip(steps, values, strict=True):
        if isinstance(value, int | float) and math.isfinite(value):
            segments[-1].append((step, float(value)))
        elif segments[-1]:
            segments.append([])
    return [s for s in segments if s]


def _num(value: float) -> str:
    return f"{value:.4g}"
