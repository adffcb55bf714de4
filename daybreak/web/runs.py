"""The runs table on the web: ``/runs`` over every run and ``/projects/{name}`` over one
project's, the table alone as a fragment the page swaps in, and the same as JSON. All the
table's state (filter, sort, page, group, columns) is in the URL, so a view can be shared."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from daybreak.display import format_duration
from daybreak.errors import DaybreakError, NotFoundError
from daybreak.store.engine import get_database
from daybreak.store.jsontext import to_jsonable
from daybreak.tracking import run_query
from daybreak.tracking.run_filter import Field, RunFilterError
from daybreak.tracking.run_query import TablePage, TableQuery
from daybreak.web.deps import settings as _settings
from daybreak.web.deps import store as _store

api = APIRouter(prefix="/api", tags=["runs table"])
pages = APIRouter(include_in_schema=False)
DEFAULTS = {"sort": "started", "desc": "1", "page": "1", "size": "50"}
STATE_KEYS = ("q", "sort", "desc", "page", "size", "group", "cols", "collapsed")
PAGE_SIZES = (25, 50, 100, 200)
LABELS = {"started": "Started", "ended": "Ended", "id": "Id", "tags": "Tags"}


def table_query(params: Mapping[str, str], project: str | None = None) -> TableQuery:
    """The table's state from URL parameters; a clear error for what is not understood."""
    cols = params.get("cols")
    return TableQuery(
        filter=params.get("q", ""),
        project=project if project is not None else (params.get("project") or None),
        sort=params.get("sort") or DEFAULTS["sort"],
        descending=_flag(params.get("desc", DEFAULTS["desc"])),
        page=_integer(params, "page"),
        page_size=_integer(params, "size"),
        group_by=params.get("group") or None,
        columns=[c for c in cols.split(",") if c.strip()] if cols else None,
    )


def _integer(params: Mapping[str, str], name: str) -> int:
    text = params.get(name) or DEFAULTS[name]
    try:
        return int(text)
    except ValueError:
        raise RunFilterError(
            f"{name}={text!r} is not a whole number", f"give {name} as 1, 2, …"
        ) from None


def _flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no", ""):
        return False
    raise RunFilterError(f"desc={text!r} is neither true nor false", "use desc=1 or desc=0")


def _page(request: Request, project: str | None = None) -> TablePage:
    _store(request).check_stale()  # a run whose process died shows as crashed, not running
    db = get_database(_settings(request).db_url)
    if project is not None and not run_query.has_project(db, project):
        raise NotFoundError(f"no project named {project!r}", "pick one from the projects list")
    return run_query.table(db, table_query(request.query_params, project))


@api.get("/runs-table")
def table_json(request: Request) -> dict[str, Any]:
    """One page of the runs table. Parameters: ``q`` (filter, see docs/web.md), ``project``,
    ``sort`` (a column), ``desc`` (1/0), ``page``, ``size``, ``group``, ``cols`` (comma list)."""
    page = _page(request)
    query = page.query
    return to_jsonable(
        {
            "total": page.total,
            "page": query.page,
            "page_size": query.page_size,
            "pages": page.pages,
            "filter": query.filter,
            "project": query.project,
            "sort": query.sort,
            "desc": query.descending,
            "group_by": query.group_by,
            "columns": [{"id": c.id, "kind": c.kind, "key": c.key} for c in page.columns],
            "groups": page.groups,
            "rows": page.rows,
        }
    )


@api.get("/runs-columns")
def columns_json(request: Request) -> dict[str, list[str]]:
    """The columns the picker offers for the runs ``q`` and ``project`` select."""
    db = get_database(_settings(request).db_url)
    return run_query.available_columns(db, table_query(request.query_params))


@pages.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> Response:
    return _full_page(request, None)


@pages.get("/runs-table", response_class=HTMLResponse)
def runs_fragment(request: Request) -> Response:
    return _fragment(request, None)


@pages.get("/projects/{name}", response_class=HTMLResponse)
def project_page(request: Request, name: str) -> Response:
    return _full_page(request, name)


@pages.get("/projects/{name}/runs-table", response_class=HTMLResponse)
def project_fragment(request: Request, name: str) -> Response:
    return _fragment(request, name)


def _paths(project: str | None) -> tuple[str, str]:
    if project is None:
        return "/runs", "/runs-table"
    base = f"/projects/{_quote(project)}"
    return base, f"{base}/runs-table"


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _full_page(request: Request, project: str | None) -> Response:
    from daybreak.web.pages import _render, not_found

    base, fragment = _paths(project)
    context: dict[str, Any] = {"project": project, "base": base, "fragment": fragment}
    try:
        page = _page(request, project)
    except NotFoundError as exc:
        return not_found(request, exc)
    except DaybreakError as exc:
        return _render(
            request,
            "project.html" if project else "runs.html",
            400,
            title=project or "Runs",
            error=exc,
            state=_state(request.query_params),
            **context,
            **_table_context(None, request.query_params, base),
        )
    return _render(
        request,
        "project.html" if project else "runs.html",
        title=project or "Runs",
        error=None,
        state=_state(request.query_params),
        **context,
        **_table_context(page, request.query_params, base),
    )


def _fragment(request: Request, project: str | None) -> Response:
    from daybreak.web.pages import _render

    base, _ = _paths(project)
    try:
        page = _page(request, project)
    except DaybreakError as exc:
        return _render(request, "_runs_error.html", exc.http_status, error=exc)
    return _render(request, "_runs_table.html", **_table_context(page, request.query_params, base))


def _state(params: Mapping[str, str]) -> dict[str, str]:
    """The table's URL parameters that differ from the defaults."""
    return {k: params[k] for k in STATE_KEYS if params.get(k) and params[k] != DEFAULTS.get(k)}


def _table_context(page: TablePage | None, params: Mapping[str, str], base: str) -> dict[str, Any]:
    state = _state(params)
    if page is not None and page.query.page != int(state.get("page", 1)):
        state["page"] = str(page.query.page)

    def href(**changes: Any) -> str:
        merged = {**state, **{k: str(v) for k, v in changes.items() if v is not None}}
        for key, value in changes.items():
            if value is None:
                merged.pop(key, None)
        kept = {k: v for k, v in merged.items() if v and v != DEFAULTS.get(k)}
        return f"{base}?{urlencode(kept)}" if kept else base

    collapsed = {v for v in params.get("collapsed", "").split(",") if v}
    return {
        "table": page,
        "href": href,
        "collapsed": collapsed,
        "page_sizes": PAGE_SIZES,
        "label": column_label,
        "group_filter": group_filter,
        "seconds": format_duration,
        **({} if page is None else _counts(page)),
    }


def _counts(page: TablePage) -> dict[str, Any]:
    query = page.query
    return {
        "first": (query.page - 1) * query.page_size + 1 if page.rows else 0,
        "last": (query.page - 1) * query.page_size + len(page.rows),
        "numbers": page_numbers(query.page, page.pages),
        "group_counts": {g["value"]: g["count"] for g in page.groups or []},
    }


def column_label(field: Field) -> str:
    if field.kind == "run":
        return LABELS.get(field.key, field.key.capitalize())
    return field.key


def group_filter(group_by: str, value: Any) -> str:
    """The filter token that keeps only one group's runs (``project:vision``, ``config.lr=0.1``)."""
    if value is None:
        return ""
    text = str(value)
    op = ":" if group_by in ("project", "status") else "="
    token = f"{group_by}{op}{text}"
    return f'"{token}"' if any(c.isspace() or c in "\"'" for c in token) else token


def page_numbers(page: int, pages: int) -> list[int | None]:
    """The page links worth showing: the first, the last and two around the current one."""
    wanted = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for number in wanted:
        if out and out[-1] is not None and number - out[-1] > 1:
            out.append(None)
        out.append(number)
    return out
