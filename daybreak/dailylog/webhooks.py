"""Where Daily Logs are delivered: named webhook URLs, each with the format it takes."""

from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from daybreak.config import Settings
from daybreak.dailylog.formats import WEBHOOK_FORMATS, check_format
from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.store.engine import get_database
from daybreak.store.schema import deliveries, webhooks

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else a ConfigError."""
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"webhook URL {url!r} is not an http(s) URL",
            "paste the whole URL the chat service gave you, e.g. https://hooks.slack.com/services/…",
        )
    try:
        parsed.port  # noqa: B018  (a bad port raises here)
    except ValueError as exc:
        raise ConfigError(f"webhook URL {url!r} has a bad port", "check the URL") from exc
    return url.strip()


def add_webhook(settings: Settings, name: str, url: str, fmt: str) -> dict[str, Any]:
    """Store a webhook target; a name already taken is refused."""
    if not _NAME.match(name):
        raise ConfigError(
            f"webhook name {name!r} is not allowed",
            "use letters, digits, '.', '_' or '-' (up to 100), e.g. team-slack",
        )
    row = {
        "name": name,
        "url": check_url(url),
        "format": check_format(fmt, WEBHOOK_FORMATS),
        "created_at": time.time(),
    }
    try:
        with get_database(settings.db_url).write() as conn:
            conn.execute(webhooks.insert().values(**row))
    except IntegrityError as exc:
        raise ConflictError(
            f"a webhook named {name!r} already exists",
            f"remove it first with `daybreak dailylog webhook rm {name}`",
        ) from exc
    return row


def list_webhooks(settings: Settings) -> list[dict[str, Any]]:
    """Every webhook, by name."""
    with get_database(settings.db_url).read() as conn:
        rows = conn.execute(sa.select(webhooks).order_by(webhooks.c.name)).mappings()
        return [dict(row) for row in rows]


def get_webhook(settings: Settings, name: str) -> dict[str, Any] | None:
    """The webhook called ``name``, or None."""
    with get_database(settings.db_url).read() as conn:
        row = conn.execute(sa.select(webhooks).where(webhooks.c.name == name)).mappings().first()
    return dict(row) if row else None


def remove_webhook(settings: Settings, name: str) -> None:
    """Forget a webhook; its deliveries not yet sent are marked failed, with the reason."""
    with get_database(settings.db_url).write() as conn:
        gone = conn.execute(webhooks.delete().where(webhooks.c.name == name)).rowcount
        if not gone:
            raise NotFoundError(
                f"no webhook named {name!r}", "list them with `daybreak dailylog webhook ls`"
            )
        conn.execute(
            deliveries.update()
            .where(deliveries.c.target == name, deliveries.c.status == "pending")
            .values(status="failed", last_error="the webhook was removed", next_attempt_at=None)
        )


def shown_url(url: str) -> str:
    """The URL without its secret path (webhook URLs are credentials)."""
    parsed = urllib.parse.urlsplit(url)
    path = parsed.path if len(parsed.path) <= 12 else parsed.path[:12] + "…"
    return f"{parsed.scheme}://{parsed.netloc}{path}"
