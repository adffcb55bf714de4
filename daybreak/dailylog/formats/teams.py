"""The log as a Microsoft Teams webhook payload: an Adaptive Card 1.4 in a message envelope,
with a plain-text summary for notifications and clients that cannot show cards."""

from __future__ import annotations

import json
from typing import Any

from daybreak.dailylog.charts import sparkline
from daybreak.dailylog.formats.outline import outline
from daybreak.dailylog.formats.outline_types import Item, Section
from daybreak.dailylog.formats.text import summary_text

CARD = "application/vnd.microsoft.card.adaptive"
MAX_ITEMS = 15  # per section; Teams refuses messages over ~28 KB
MAX_BYTES = 26_000
STYLES = {"critical": "attention", "warning": "warning", "good": "good"}


def teams_payload(log: dict[str, Any]) -> dict[str, Any]:
    """``{"type": "message", "attachments": [adaptive card]}`` for a Teams webhook."""
    for limit in (MAX_ITEMS, 8, 4, 2, 0):
        payload = _payload(log, limit)
        if len(json.dumps(payload).encode()) <= MAX_BYTES:
            return payload
    return payload


def _payload(log: dict[str, Any], limit: int) -> dict[str, Any]:
    shape = outline(log)
    summary = summary_text(log)
    body: list[dict[str, Any]] = [
        _text(shape.title, size="Large", weight="Bolder"),
        _text(shape.headline, weight="Bolder"),
        _text(shape.window, isSubtle=True, spacing="None"),
    ]
    for section in shape.sections:
        body += _section(section, limit, shape.log_id)
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "fallbackText": summary,
        "msteams": {"width": "Full"},
        "body": body,
    }
    return {
        "type": "message",
        "summary": summary.splitlines()[0],
        "text": summary,
        "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}],
    }


def _section(section: Section, limit: int, log_id: int | None) -> list[dict[str, Any]]:
    out = [_text(section.title, size="Medium", weight="Bolder", separator=True, spacing="Medium")]
    if section.text:
        out.append(_text(section.text))
    if section.facts:
        facts = [{"title": label, "value": value} for label, value in section.facts]
        out.append({"type": "FactSet", "facts": facts})
    out += [_item(item) for item in section.items[:limit]]
    left = len(section.items) - limit
    if left > 0:
        out.append(_text(f"…and {left} more: `daybreak dailylog show {log_id}`", isSubtle=True))
    return out


def _item(item: Item) -> dict[str, Any]:
    blocks = [_text(item.title, weight="Bolder")]
    for label, text in item.lines:
        blocks.append(_text(f"**{label}:** {text}" if label else text, spacing="None"))
    spark = sparkline(item.chart)
    if spark and item.chart is not None:
        blocks.append(_text(f"{spark} {item.chart['key']}", fontType="Monospace", spacing="None"))
    return {"type": "Container", "style": STYLES.get(item.level, "emphasis"), "items": blocks}


def _text(text: str, **options: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **options}
