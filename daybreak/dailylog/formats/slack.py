"""The log as a Slack incoming-webhook payload: Block Kit ``blocks`` and a ``text`` fallback,
kept within Slack's limits (50 blocks, 3000 characters a section, 10 fields)."""

from __future__ import annotations

from typing import Any

from daybreak.dailylog.charts import sparkline
from daybreak.dailylog.formats.outline import outline
from daybreak.dailylog.formats.outline_types import Item, Section
from daybreak.dailylog.formats.text import summary_text

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_ITEMS = 10  # per section: a chat message is read on a phone


def escape(text: str) -> str:
    """Slack's three control characters; everything else is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(log: dict[str, Any]) -> dict[str, Any]:
    """``{"text": ..., "blocks": [...]}`` for ``POST`` to a Slack incoming webhook."""
    shape = outline(log)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(shape.title, MAX_HEADER)}},
        _mrkdwn(f"*{escape(shape.headline)}*\n{escape(shape.window)}"),
    ]
    for section in shape.sections:
        blocks += _section(section, shape.log_id)
    if len(blocks) > MAX_BLOCKS:
        left = len(blocks) - (MAX_BLOCKS - 1)
        more = f"…and {left} more blocks: `daybreak dailylog show {shape.log_id}` has the rest"
        context = {"type": "context", "elements": [{"type": "mrkdwn", "text": more}]}
        blocks = [*blocks[: MAX_BLOCKS - 1], context]
    return {"text": summary_text(log, MAX_TEXT), "blocks": blocks}


def _section(section: Section, log_id: int | None) -> list[dict[str, Any]]:
    title = f"*{escape(section.title)}*"
    out: list[dict[str, Any]] = []
    if section.facts:
        fields = [
            {"type": "mrkdwn", "text": _cut(f"*{escape(label)}*\n{escape(value)}", MAX_FIELD)}
            for label, value in section.facts
        ]
        for start in range(0, len(fields), MAX_FIELDS):
            block: dict[str, Any] = {
                "type": "section",
                "fields": fields[start : start + MAX_FIELDS],
            }
            if start == 0:
                block["text"] = {"type": "mrkdwn", "text": title}
            out.append(block)
        title = ""
    chunks: list[str] = [title] if title else []
    for item in section.items[:MAX_ITEMS]:
        text = _item(item)
        if chunks and len(chunks[-1]) + 2 + len(text) <= MAX_TEXT:
            chunks[-1] = f"{chunks[-1]}\n\n{text}" if chunks[-1] else text
        else:
            chunks.append(_cut(text, MAX_TEXT))
    if section.text:
        chunks.insert(0, _cut(escape(section.text), MAX_TEXT))
    out += [_mrkdwn(chunk) for chunk in chunks if chunk]
    left = len(section.items) - MAX_ITEMS
    if left > 0:
        more = f"…and {left} more: `daybreak dailylog show {log_id}`"
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return out


def _item(item: Item) -> str:
    lines = [f"*{escape(item.title)}*"]
    for label, text in item.lines:
        lines.append(f"_{escape(label)}:_ {escape(text)}" if label else escape(text))
    spark = sparkline(item.chart)
    if spark and item.chart is not None:
        lines.append(f"`{spark}` {escape(str(item.chart['key']))}")
    return "\n".join(lines)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_TEXT)}}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
