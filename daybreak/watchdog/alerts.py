"""A short message to the team's webhooks (the Daily Log's, see ``daybreak dailylog webhook``)
the moment the watchdog acts, so a critical finding does not wait for the morning. Sent in the
background so a slow chat service never holds up a pass; a message that could not be sent is
recorded on the run (an action of kind ``alert-failed``), so the Daily Log shows it."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from daybreak.config import Settings

log = logging.getLogger("daybreak.watchdog")
TIMEOUT = 10.0
TRIES = 2


def text_of(finding: dict[str, Any], action: dict[str, Any]) -> str:
    run = finding.get("run_name") or finding["run_id"]
    return (
        f"Daybreak watchdog: {finding['severity']} {finding['kind']} in run {run} "
        f"({finding['run_id']}) at step {finding.get('step')}: {finding['message']}. "
        f"Done: {action['message']}. Suggested: {finding['suggestion']}"
    )


def body_for(fmt: str, finding: dict[str, Any], action: dict[str, Any]) -> bytes:
    """The message in a webhook's format (slack, teams, json, markdown)."""
    text = text_of(finding, action)
    if fmt == "teams":
        card = {
            "type": "AdaptiveCard",
            "version": "1.4",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "body": [{"type": "TextBlock", "text": text, "wrap": True}],
        }
        payload: dict[str, Any] = {
            "type": "message",
            "summary": text[:200],
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }
    elif fmt == "json":
        fields = ("run_id", "run_name", "project", "kind", "severity", "step", "message")
        payload = {
            "event": "watchdog",
            "text": text,
            "finding": {k: finding.get(k) for k in fields},
            "action": {"kind": action["kind"], "message": action["message"]},
        }
    else:
        payload = {"text": text}
    return json.dumps(payload, default=str).encode()


def alert(settings: Settings, finding: dict[str, Any], action: dict[str, Any]) -> threading.Thread:
    """Send the alert to every webhook in the background; returns the sending thread."""
    sender = threading.Thread(
        target=_send_all, args=(settings, finding, action), name="daybreak-alert", daemon=True
    )
    sender.start()
    return sender


def _send_all(settings: Settings, finding: dict[str, Any], action: dict[str, Any]) -> None:
    from daybreak.dailylog.http import post
    from daybreak.dailylog.webhooks import list_webhooks, shown_url
    from daybreak.store.engine import get_database
    from daybreak.watchdog import store

    try:
        hooks = list_webhooks(settings)
    except Exception:  # the database is away: the Daily Log still reports the finding
        log.exception("watchdog: could not list webhooks")
        return
    for hook in hooks:
        outcome = None
        for _ in range(TRIES):
            outcome = post(hook["url"], body_for(hook["format"], finding, action), TIMEOUT)
            if outcome.ok or outcome.permanent:
                break
        if outcome is not None and not outcome.ok:
            message = f"could not alert {hook['name']} ({shown_url(hook['url'])}): {outcome.error}"
            log.warning("watchdog: %s", message)
            store.record_action(
                get_database(settings.db_url),
                finding["run_id"],
                "alert-failed",
                finding["kind"],
                message,
                {"webhook": hook["name"]},
                finding.get("id"),
            )
