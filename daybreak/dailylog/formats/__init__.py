"""Rendering a stored Daily Log: Markdown, HTML, JSON, Slack and Teams payloads, plain text.

render(log, "html")        # a standalone HTML file, charts inline as SVG
render_html(log, standalone=False)   # a fragment for the web UI's page
webhook_body(log, "slack") # (bytes, content type) for a webhook
"""

from __future__ import annotations

import json
from typing import Any

from daybreak.dailylog.formats.html import render_html
from daybreak.dailylog.formats.markdown import render_markdown
from daybreak.dailylog.formats.slack import slack_payload
from daybreak.dailylog.formats.teams import teams_payload
from daybreak.dailylog.formats.text import render_text, summary_text
from daybreak.errors import ConfigError
from daybreak.store.jsontext import to_jsonable

FORMATS = ("markdown", "html", "json", "slack", "teams", "text")
WEBHOOK_FORMATS = ("slack", "teams", "json", "markdown")

__all__ = [
    "FORMATS",
    "WEBHOOK_FORMATS",
    "check_format",
    "render",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
    "slack_payload",
    "summary_text",
    "teams_payload",
    "webhook_body",
]


def check_format(name: str, allowed: tuple[str, ...] = FORMATS) -> str:
    """``name`` if it is one of ``allowed``, else a ConfigError naming the choices."""
    if name not in allowed:
        raise ConfigError(f"unknown format {name!r}", f"use one of {', '.join(allowed)}")
    return name


def render_json(log: dict[str, Any]) -> str:
    """The stored log as strict JSON (NaN and Inf spelled as strings)."""
    return json.dumps(to_jsonable(log), indent=2, allow_nan=False) + "\n"


def render(log: dict[str, Any], fmt: str) -> str:
    """``log`` in format ``fmt`` (one of FORMATS) as text."""
    check_format(fmt)
    if fmt == "markdown":
        return render_markdown(log)
    if fmt == "html":
        return render_html(log)
    if fmt == "text":
        return render_text(log)
    if fmt == "json":
        return render_json(log)
    payload = slack_payload(log) if fmt == "slack" else teams_payload(log)
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def webhook_body(log: dict[str, Any], fmt: str) -> bytes:
    """The JSON body POSTed to a webhook of format ``fmt`` (one of WEBHOOK_FORMATS)."""
    check_format(fmt, WEBHOOK_FORMATS)
    if fmt == "markdown":
        payload: Any = {"text": render_markdown(log), "headline": log["headline"]}
        return json.dumps(payload, ensure_ascii=False).encode()
    if fmt == "json":
        return render_json(log).encode()
    return render(log, fmt).encode()
