"""The log as HTML: a standalone single file (charts inline as SVG, styles inline, nothing
fetched from anywhere) or a fragment for the web UI's own page."""

from __future__ import annotations

from html import escape
from typing import Any

from daybreak.dailylog.charts import svg
from daybreak.dailylog.formats.outline import outline
from daybreak.dailylog.formats.outline_types import Item, Section

STYLE = """
.dailylog{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:860px;margin:0 auto;
padding:1.5rem;color:#111827;line-height:1.45}
.dailylog h1{font-size:1.5rem;margin:0 0 .25rem}.dailylog h2{font-size:1.15rem;margin:1.6rem 0 .5rem;
border-bottom:1px solid #e5e7eb;padding-bottom:.25rem}
.dailylog .dl-headline{font-size:1.1rem;font-weight:600;margin:.25rem 0}
.dailylog .dl-window{color:#6b7280;margin:0 0 1rem}
.dailylog table.dl-facts{border-collapse:collapse}.dailylog .dl-facts td{padding:.15rem .9rem .15rem 0}
.dailylog .dl-facts td:last-child{font-weight:600}
.dailylog .dl-item{border-left:4px solid #d1d5db;padding:.4rem .8rem;margin:.6rem 0;background:#f9fafb}
.dailylog .dl-critical{border-left-color:#dc2626}.dailylog .dl-warning{border-left-color:#d97706}
.dailylog .dl-good{border-left-color:#16a34a}.dailylog .dl-item h3{font-size:1rem;margin:0 0 .3rem}
.dailylog .dl-item p{margin:.1rem 0}.dailylog .dl-label{color:#4b5563;font-weight:600}
.dailylog .dl-chart{display:block;margin-top:.4rem;max-width:100%;height:auto}
"""


def render_html(log: dict[str, Any], standalone: bool = True) -> str:
    """The log as one HTML file (``standalone``), or as an ``<article>`` fragment with its
    own ``<style>`` for a page that already has ``<html>`` and ``<body>``."""
    shape = outline(log)
    body = [
        '<article class="dailylog">',
        f"<h1>{escape(shape.title)}</h1>",
        f'<p class="dl-headline">{escape(shape.headline)}</p>',
        f'<p class="dl-window">{escape(shape.window)}</p>',
    ]
    for section in shape.sections:
        body += [f'<section class="dl-{section.key}">', f"<h2>{escape(section.title)}</h2>"]
        body += _section(section)
        body.append("</section>")
    body.append("</article>")
    fragment = "\n".join(body)
    if not standalone:
        return f"<style>{STYLE}</style>\n{fragment}"
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(shape.title)} — {escape(shape.headline)}</title>\n"
        f"<style>body{{margin:0;background:#fff}}{STYLE}</style>\n</head>\n<body>\n"
        f"{fragment}\n</body>\n</html>\n"
    )


def _section(section: Section) -> list[str]:
    out = []
    if section.text:
        out.append(f"<p>{escape(section.text)}</p>")
    if section.facts:
        rows = "".join(
            f"<tr><td>{escape(label)}</td><td>{escape(value)}</td></tr>"
            for label, value in section.facts
        )
        out.append(f'<table class="dl-facts">{rows}</table>')
    out += [_item(item) for item in section.items]
    return out


def _item(item: Item) -> str:
    level = f" dl-{item.level}" if item.level else ""
    parts = [f'<div class="dl-item{level}">', f"<h3>{escape(item.title)}</h3>"]
    for label, text in item.lines:
        shown = escape(text).replace("\n", "<br>")
        head = f'<span class="dl-label">{escape(label)}:</span> ' if label else ""
        parts.append(f"<p>{head}{shown}</p>")
    parts += [svg(item.chart), "</div>"]
    return "".join(parts)
