"""The page of one run: header, metric and system charts (drawn by static/run.js from the
series API), config, summary, findings and actions, lineage, attachments and the log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from daybreak.errors import NotFoundError
from daybreak.store.engine import get_database
from daybreak.tracking import lineage
from daybreak.tracking.readers import SYSTEM_PREFIX, LocalBackend
from daybreak.tracking.records import RunRecord
from daybreak.web.deps import settings as _settings
from daybreak.web.deps import store as _store

pages = APIRouter(include_in_schema=False)
OVERLAY_CHOICES = 200


@pages.get("/runs/{run_id}", response_class=HTMLResponse)
def run(request: Request, run_id: str) -> Response:
    from daybreak.web.pages import _render, flat, not_found

    db = _store(request)
    try:
        record = db.get_run(run_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    keys = db.metric_keys(record.id)
    choices = overlay_choices(db, record)
    return _render(
        request,
        "run.html",
        title=f"{record.name} · {record.project}",
        run=record,
        config=flat(record.config),
        summary=flat(record.summary),
        keys=[k for k in keys if not k.startswith(SYSTEM_PREFIX)],
        system_groups=system_groups(keys),
        index=db.metric_index(record.id),
        lineage=lineage.of_run(_settings(request), record.id),
        choices=choices,
        choices_json=[
            {"id": c.id, "name": c.name, "status": c.status, "started_at": c.started_at}
            for c in choices
        ],
        **_watchdog(request, record.id),
        **_attachments(db, record.id),
    )


@pages.get("/runs/{run_id}/attachments", response_class=HTMLResponse)
def run_attachments(request: Request, run_id: str) -> Response:
    """Artifacts, checkpoints and notes alone, which the run page refreshes while running."""
    from daybreak.web.pages import _render, not_found

    db = _store(request)
    try:
        full = db.resolve(run_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    return _render(request, "_attachments.html", **_attachments(db, full))


def _attachments(db: LocalBackend, run_id: str) -> dict[str, Any]:
    return {"artifacts": db.artifacts(run_id), "notes": db.notes(run_id=run_id)}


def _watchdog(request: Request, run_id: str) -> dict[str, Any]:
    from daybreak.watchdog import store as watch_store

    db = get_database(_settings(request).db_url)
    return {
        "findings": watch_store.list_findings(db, run_ids=[run_id]),
        "actions": watch_store.list_actions(db, run_ids=[run_id]),
    }


def system_groups(keys: Iterable[str]) -> dict[str, list[str]]:
    """System keys by device: ``sys/gpu0/util_percent`` under ``gpu0``, ``sys/ram_used_gb``
    under ``ram`` (the word before the first underscore)."""
    groups: dict[str, list[str]] = {}
    for key in sorted(k for k in keys if k.startswith(SYSTEM_PREFIX)):
        rest = key[len(SYSTEM_PREFIX) :]
        group = rest.split("/", 1)[0] if "/" in rest else rest.split("_", 1)[0]
        groups.setdefault(group, []).append(key)
    return dict(sorted(groups.items(), key=lambda item: (not item[0].startswith("gpu"), item[0])))


def overlay_choices(db: LocalBackend, record: RunRecord) -> list[RunRecord]:
    """The other runs of the run's project, newest first, to overlay or compare with."""
    found = db.list_runs(project=record.project, limit=OVERLAY_CHOICES + 1)
    return [r for r in found if r.id != record.id][:OVERLAY_CHOICES]
