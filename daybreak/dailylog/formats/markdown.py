"""The log as Markdown (the terminal, the ``markdown`` webhook, files)."""

from __future__ import annotations

import re
from typing import Any

from daybreak.dailylog.charts import sparkline
from daybreak.dailylog.formats.outline import outline
from daybreak.dailylog.formats.outline_types import Item, Section

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def escape(text: str) -> str:
    """Text shown as is, not read as Markdown."""
    return _SPECIAL.sub(r"\\\1", text)


def render_markdown(log: dict[str, Any]) -> str:
    """The whole log as GitHub-flavoured Markdown."""
    shape = outline(log)
    out = [
        f"# {escape(shape.title)}",
        "",
        f"**{escape(shape.headline)}**",
        "",
        f"_{escape(shape.window)}_",
    ]
    for section in shape.sections:
        out += ["", f"## {escape(section.title)}", "", *_section(section)]
    return "\n".join(out).rstrip() + "\n"


def _section(section: Section) -> list[str]:
    lines: list[str] = []
    if section.text:
        lines += [escape(section.text), ""]
    if section.facts:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {escape(label)} | {escape(value)} |" for label, value in section.facts]
    for item in section.items:
        lines += _item(item)
    return lines


def _item(item: Item) -> list[str]:
    lines = [f"- **{escape(item.title)}**"]
    for label, text in item.lines:
        shown = escape(text).replace("\n", " ")
        lines.append(f"  - {label}: {shown}" if label else f"  - {shown}")
    spark = sparkline(item.chart)
    if spark and item.chart is not None:
        lines.append(f"  - `{spark}` {escape(str(item.chart['key']))}")
    return lines
