"""The log as plain text: the fallback every chat payload carries, and e-mail-like output."""

from __future__ import annotations

from typing import Any

from daybreak.dailylog.charts import sparkline
from daybreak.dailylog.formats.outline import outline


def render_text(log: dict[str, Any]) -> str:
    """The whole log as plain text."""
    shape = outline(log)
    out = [shape.title, shape.headline, shape.window]
    for section in shape.sections:
        out += ["", section.title.upper()]
        if section.text:
            out.append(section.text)
        width = max((len(label) for label, _ in section.facts), default=0)
        out += [f"  {label.ljust(width)}  {value}" for label, value in section.facts]
        for item in section.items:
            out.append(f"* {item.title}")
            out += [f"    {label + ': ' if label else ''}{text}" for label, text in item.lines]
            spark = sparkline(item.chart)
            if spark and item.chart is not None:
                out.append(f"    {spark} {item.chart['key']}")
    return "\n".join(out) + "\n"


def summary_text(log: dict[str, Any], limit: int = 3000) -> str:
    """A short plain-text fallback: the headline, the window and the counts."""
    shape = outline(log)
    lines = [f"{shape.title}: {shape.headline}", shape.window]
    for section in shape.sections:
        if section.key == "glance":
            lines.append(", ".join(f"{label} {value}" for label, value in section.facts))
        elif section.key == "problems":
            lines += [f"- {item.title}" for item in section.items[:5]]
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"
