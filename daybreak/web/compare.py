"""Runs side by side (``/compare?runs=a,b,c``): charts of the union of their metric keys (drawn
by static/compare.js), config differences and summary metrics with the best run marked."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from daybreak.errors import ConfigError, NotFoundError
from daybreak.store.jsontext import to_jsonable
from daybreak.tracking import compare
from daybreak.tracking.readers import SYSTEM_PREFIX, LocalBackend
from daybreak.tracking.records import RunRecord
from daybreak.web.deps import store as _store

api = APIRouter(prefix="/api", tags=["read"])
pages = APIRouter(include_in_schema=False)
MAX_RUNS = 12
RUNS_QUERY = Query("", description="comma-separated run ids (or unique prefixes), 2 or more")


def chosen_runs(db: LocalBackend, runs: str) -> list[RunRecord]:
    """The runs named in ``runs``, each once, in the order given."""
    ids = list(dict.fromkeys(r.strip() for r in runs.split(",") if r.strip()))
    if not ids:
        raise ConfigError(
            "no runs to compare", "pick runs on a project's runs table, or add ?runs=ID,ID"
        )
    if len(ids) > MAX_RUNS:
        raise ConfigError(
            f"{len(ids)} runs is more than the {MAX_RUNS} a comparison shows",
            f"pick at most {MAX_RUNS} runs",
        )
    records = [db.get_run(i) for i in ids]
    return list({r.id: r for r in records}.values())


def comparison(db: LocalBackend, records: list[RunRecord]) -> dict[str, Any]:
    indexes = [db.metric_index(r.id) for r in records]
    keys = sorted({k for r in records for k in db.metric_keys(r.id)})
    return {
        "runs": records,
        "keys": [k for k in keys if not k.startswith(SYSTEM_PREFIX)],
        "system_keys": [k for k in keys if k.startswith(SYSTEM_PREFIX)],
        "config": compare.config_rows(records),
        "summary": compare.summary_rows(records, indexes),
    }


@api.get("/compare")
def compare_json(request: Request, runs: str = RUNS_QUERY) -> dict[str, Any]:
    """The runs, the union of their metric keys, config rows (``differs``) and summary rows
    (``best``: the index of the best run)."""
    found = comparison(_store(request), chosen_runs(_store(request), runs))
    return to_jsonable(
        {
            **found,
            "runs": [{"id": r.id, "name": r.name, "project": r.project} for r in found["runs"]],
            "config": [dataclasses.asdict(row) for row in found["config"]],
            "summary": [dataclasses.asdict(row) for row in found["summary"]],
        }
    )


@pages.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, runs: str = RUNS_QUERY) -> Response:
    from daybreak.web.pages import _render, not_found

    db = _store(request)
    try:
        found = comparison(db, chosen_runs(db, runs))
    except NotFoundError as exc:
        return not_found(request, exc)
    except ConfigError as exc:
        return _render(
            request,
            "error.html",
            400,
            title="Nothing to compare",
            message=exc.message,
            hint=exc.hint,
        )
    names = ", ".join(r.name for r in found["runs"])
    runs_json = [{"id": r.id, "name": r.name, "started_at": r.started_at} for r in found["runs"]]
    return _render(request, "compare.html", title=f"Compare {names}", runs_json=runs_json, **found)
