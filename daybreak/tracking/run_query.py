"""The runs table over every run: filter, sort, group and one page of rows, done in SQL on
SQLite and PostgreSQL alike. Only the columns asked for are read (config and summary values
of the page's rows, metric values of the page's runs), so a page costs the same at 10 or
10,000 runs. The filter syntax lives in ``daybreak.tracking.run_filter``."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from daybreak.store.engine import Database
from daybreak.store.schema import metric_keys, projects, runs
from daybreak.tracking.records import RUNNING, nan_if_none
from daybreak.tracking.run_filter import (
    GROUPABLE_RUN_FIELDS,
    RUN_FIELDS,
    Condition,
    Field,
    RunFilter,
    RunFilterError,
    parse_field,
    parse_filter,
)

MAX_PAGE_SIZE = 500
MAX_COLUMNS = 40
MAX_GROUPS = 200
KEY_METRICS = 4
SAMPLE_RUNS = 300  # recent runs whose keys the default columns and the column picker offer
SYSTEM_PREFIX = "sys/"


@dataclasses.dataclass
class TableQuery:
    """What the table shows: the filter text, an optional project scope, sort, page, group."""

    filter: str = ""
    project: str | None = None
    sort: str = "started"
    descending: bool = True
    page: int = 1
    page_size: int = 50
    group_by: str | None = None
    columns: list[str] | None = None  # None: the default set


@dataclasses.dataclass
class TablePage:
    query: TableQuery
    columns: list[Field]
    rows: list[dict[str, Any]]
    total: int
    groups: list[dict[str, Any]] | None

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.query.page_size))

    @property
    def any_running(self) -> bool:
        return any(row["status"] == RUNNING for row in self.rows)


class _Sql:
    """The SQL expressions that differ between SQLite and PostgreSQL (JSON stored as text)."""

    def __init__(self, dialect: str, now: float) -> None:
        self.postgres = dialect == "postgresql"
        self.now = now

    def json_number(self, column: sa.ColumnElement[Any], path: list[str]) -> Any:
        if self.postgres:
            doc = sa.cast(column, JSONB)
            is_number = sa.func.jsonb_typeof(sa.func.jsonb_extract_path(doc, *path)) == "number"
            text = sa.func.jsonb_extract_path_text(doc, *path)
            return sa.case((is_number, sa.cast(text, sa.Float)), else_=sa.null())
        where = _sqlite_path(path)
        is_number = sa.func.json_type(column, where).in_(["integer", "real"])
        return sa.case((is_number, sa.func.json_extract(column, where)), else_=sa.null())

    def json_text(self, column: sa.ColumnElement[Any], path: list[str]) -> Any:
        """Any value at ``path`` as text (``true``/``false`` for booleans); NULL when absent."""
        if self.postgres:
            return sa.func.jsonb_extract_path_text(sa.cast(column, JSONB), *path)
        where = _sqlite_path(path)
        kind = sa.func.json_type(column, where)
        return sa.case(
            (kind == "true", "true"),
            (kind == "false", "false"),
            else_=sa.cast(sa.func.json_extract(column, where), sa.Text),
        )

    def has_tag(self, tag: str) -> Any:
        if self.postgres:
            from daybreak.store.jsontext import dumps

            wanted = sa.cast(sa.literal(dumps([tag]), sa.Text), JSONB)
            return sa.cast(runs.c.tags, JSONB).op("@>", return_type=sa.Boolean)(wanted)
        each = sa.func.json_each(runs.c.tags).table_valued("value")
        return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == tag))

    def run_column(self, key: str) -> Any:
        if key == "duration":
            return sa.func.coalesce(runs.c.ended_at, self.now) - runs.c.started_at
        if key == "project":
            return projects.c.name
        if key == "started":
            return runs.c.started_at
        if key == "ended":
            return runs.c.ended_at
        return runs.c[key]

    def document(self, field: Field) -> sa.ColumnElement[Any]:
        return runs.c.config if field.kind == "config" else runs.c.summary

    def sort_keys(self, field: Field) -> list[Any]:
        """The ORDER BY expressions of a column (config values: numbers first, then text)."""
        if field.kind == "run":
            return [self.run_column(field.key)]
        if field.kind == "metric":
            return [_metric_value(field.key)]
        doc = self.document(field)
        return [self.json_number(doc, field.path), self.json_text(doc, field.path)]


def _sqlite_path(path: list[str]) -> str:
    return "$" + "".join(f'."{key}"' for key in path)


def _metric_value(key: str) -> Any:
    return (
        sa.select(metric_keys.c["last"])
        .where(metric_keys.c.run_id == runs.c.id, metric_keys.c.key == key)
        .scalar_subquery()
    )


def _compare(expr: Any, op: str, value: Any) -> Any:
    if op == "=":
        return expr == value
    if op == "!=":
        return sa.or_(expr.is_(None), expr != value)
    if op == "~":
        text = sa.func.lower(sa.cast(expr, sa.Text), type_=sa.Text)
        return text.contains(str(value).lower(), autoescape=True)
    return {">": expr > value, ">=": expr >= value, "<": expr < value, "<=": expr <= value}[op]


def _condition(sql: _Sql, cond: Condition) -> Any:
    field, op, value = cond.field, cond.op, cond.value
    if field.kind == "metric":
        if op == "!=":
            return sa.not_(_metric_exists(field.key, metric_keys.c["last"] == value))
        return _metric_exists(field.key, _compare(metric_keys.c["last"], op, value))
    if field.kind == "run":
        if field.key == "tags":
            if op == "~":
                return _compare(runs.c.tags, op, value)
            has = sql.has_tag(str(value))
            return sa.not_(has) if op == "!=" else has
        return _compare(sql.run_column(field.key), op, value)
    doc = sql.document(field)
    if isinstance(value, float):
        return _compare(sql.json_number(doc, field.path), op, value)
    text = ("true" if value else "false") if isinstance(value, bool) else value
    return _compare(sql.json_text(doc, field.path), op, text)


def _metric_exists(key: str, test: Any) -> Any:
    return sa.exists(
        sa.select(sa.literal(1)).where(
            metric_keys.c.run_id == runs.c.id, metric_keys.c.key == key, test
        )
    )


def _where(sql: _Sql, found: RunFilter, project: str | None) -> list[Any]:
    clauses: list[Any] = []
    names = [project] if project else found.projects
    if project and found.projects and project not in found.projects:
        clauses.append(sa.false())
    if names:
        clauses.append(projects.c.name.in_(names))
    if found.statuses:
        clauses.append(runs.c.status.in_(found.statuses))
    clauses.extend(sql.has_tag(tag) for tag in found.tags)
    for word in found.words:
        clauses.append(
            sa.or_(
                sa.func.lower(runs.c.name).contains(word.lower(), autoescape=True),
                runs.c.id.startswith(word, autoescape=True),
            )
        )
    clauses.extend(_condition(sql, cond) for cond in found.conditions)
    return clauses


def _joined() -> Any:
    return runs.join(projects, projects.c.id == runs.c.project_id)


def _group_field(group_by: str | None) -> Field | None:
    if not group_by:
        return None
    field = parse_field(group_by)
    if field.kind == "metric" or (field.kind == "run" and field.key not in GROUPABLE_RUN_FIELDS):
        raise RunFilterError(
            f"cannot group by {group_by!r}",
            f"group by {', '.join(GROUPABLE_RUN_FIELDS)}, config.KEY or summary.KEY",
        )
    return field


def _group_value(sql: _Sql, field: Field) -> Any:
    if field.kind == "run":
        return sql.run_column(field.key)
    return sql.json_text(sql.document(field), field.path)


def _checked(query: TableQuery) -> tuple[RunFilter, Field, Field | None, list[Field] | None]:
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        raise RunFilterError(
            f"page size {query.page_size} is out of range", f"use 1 to {MAX_PAGE_SIZE}"
        )
    if query.page < 1:
        raise RunFilterError(f"page {query.page} does not exist", "pages start at 1")
    columns = None
    if query.columns is not None:
        if len(query.columns) > MAX_COLUMNS:
            raise RunFilterError(
                f"{len(query.columns)} columns asked for", f"show at most {MAX_COLUMNS}"
            )
        columns = [parse_field(c) for c in query.columns]
    return (
        parse_filter(query.filter),
        parse_field(query.sort),
        _group_field(query.group_by),
        columns,
    )


def table(db: Database, query: TableQuery, now: float | None = None) -> TablePage:
    """One page of the runs table: filtered, sorted, grouped, with only the asked-for columns."""
    found, sort, group, columns = _checked(query)
    sql = _Sql(db.backend, time.time() if now is None else now)
    where = _where(sql, found, query.project)
    with db.read() as conn:
        total = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(_joined()).where(*where)
            ).scalar_one()
        )
        query = dataclasses.replace(
            query, page=min(query.page, max(1, math.ceil(total / query.page_size)))
        )
        if columns is None:
            columns = _default_columns(conn, where, query.project is not None)
        groups = _groups(conn, sql, where, group) if group else None
        rows = _page_rows(conn, sql, where, query, sort, group, columns)
        _add_metric_values(conn, rows, [c.key for c in columns if c.kind == "metric"])
    return TablePage(query, columns, rows, total, groups)


def _groups(conn: sa.Connection, sql: _Sql, where: list[Any], group: Field) -> list[dict[str, Any]]:
    value = _group_value(sql, group)
    order = [sa.nulls_last(value)]
    if group.kind != "run":
        order.insert(
            0, sa.nulls_last(sa.func.min(sql.json_number(sql.document(group), group.path)))
        )
    found = conn.execute(
        sa.select(value.label("value"), sa.func.count().label("runs"))
        .select_from(_joined())
        .where(*where)
        .group_by(value)
        .order_by(*order)
        .limit(MAX_GROUPS)
    )
    return [{"value": row.value, "count": int(row.runs)} for row in found]


def _page_rows(
    conn: sa.Connection,
    sql: _Sql,
    where: list[Any],
    query: TableQuery,
    sort: Field,
    group: Field | None,
    columns: list[Field],
) -> list[dict[str, Any]]:
    order: list[Any] = []
    picked = [
        runs.c.id,
        runs.c.name,
        runs.c.status,
        runs.c.tags,
        runs.c.host,
        runs.c.attempts,
        runs.c.started_at,
        runs.c.ended_at,
        runs.c.last_heartbeat,
        projects.c.name.label("project"),
    ]
    if group is not None:
        value = _group_value(sql, group)
        picked.append(value.label("group_value"))
        order += [sa.nulls_last(k) for k in sql.sort_keys(group)]
    direction = sa.desc if query.descending else sa.asc
    order += [sa.nulls_last(direction(k)) for k in sql.sort_keys(sort)]
    order.append(direction(runs.c.id))
    kinds = {c.kind for c in columns}
    picked += [runs.c[kind] for kind in ("config", "summary") if kind in kinds]
    statement = (
        sa.select(*picked)
        .select_from(_joined())
        .where(*where)
        .order_by(*order)
        .limit(query.page_size)
        .offset((query.page - 1) * query.page_size)
    )
    return [_row(dict(r), columns, sql.now) for r in conn.execute(statement).mappings()]


def _row(row: dict[str, Any], columns: list[Field], now: float) -> dict[str, Any]:
    end = row["ended_at"] if row["ended_at"] is not None else now
    row["duration"] = max(0.0, end - row["started_at"])
    values: dict[str, Any] = {}
    for column in columns:
        if column.kind in ("config", "summary"):
            values[column.id] = _dig(row.get(column.kind) or {}, column.path)
        elif column.kind == "run":
            values[column.id] = _run_value(row, column.key)
    row["values"] = values
    row.pop("config", None)
    row.pop("summary", None)
    return row


def _run_value(row: dict[str, Any], key: str) -> Any:
    return row[{"started": "started_at", "ended": "ended_at"}.get(key, key)]


def _dig(data: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _add_metric_values(conn: sa.Connection, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not rows or not keys:
        return
    found = conn.execute(
        sa.select(
            metric_keys.c.run_id, metric_keys.c.key, metric_keys.c["last"], metric_keys.c.count
        ).where(metric_keys.c.run_id.in_([r["id"] for r in rows]), metric_keys.c.key.in_(keys))
    )
    last = {(r["run_id"], r["key"]): nan_if_none(r["last"], r["count"]) for r in found.mappings()}
    for row in rows:
        for key in keys:
            row["values"][f"metric.{key}"] = last.get((row["id"], key))


def _recent_ids(where: list[Any], limit: int = SAMPLE_RUNS) -> Any:
    return (
        sa.select(runs.c.id)
        .select_from(_joined())
        .where(*where)
        .order_by(runs.c.started_at.desc())
        .limit(limit)
        .scalar_subquery()
    )


def _default_columns(conn: sa.Connection, where: list[Any], scoped: bool) -> list[Field]:
    """name, project (unless the table is one project's), status, started, duration, tags and
    the few metrics worth a column among the recent runs (those with "loss" first)."""
    names = ["name", "status", "started", "duration", "tags"]
    if not scoped:
        names.insert(1, "project")
    keys = _metric_keys(conn, where)
    chosen = sorted(keys, key=lambda k: ("loss" not in k.lower(), k))[:KEY_METRICS]
    return [Field("run", n) for n in names] + [Field("metric", k) for k in chosen]


def _metric_keys(conn: sa.Connection, where: list[Any]) -> list[str]:
    statement = (
        sa.select(metric_keys.c.key)
        .where(metric_keys.c.run_id.in_(_recent_ids(where)))
        .where(sa.not_(metric_keys.c.key.startswith(SYSTEM_PREFIX)))
        .distinct()
    )
    return sorted(r[0] for r in conn.execute(statement))


def available_columns(db: Database, query: TableQuery) -> dict[str, list[str]]:
    """What the column picker offers for the runs the filter matches (keys of recent runs)."""
    found, *_ = _checked(dataclasses.replace(query, columns=None, group_by=None))
    sql = _Sql(db.backend, time.time())
    where = _where(sql, found, query.project)
    with db.read() as conn:
        metrics = _metric_keys(conn, where)
        system = conn.execute(
            sa.select(metric_keys.c.key)
            .where(metric_keys.c.run_id.in_(_recent_ids(where)))
            .where(metric_keys.c.key.startswith(SYSTEM_PREFIX))
            .distinct()
        )
        metrics += sorted(r[0] for r in system)
        docs = conn.execute(
            sa.select(runs.c.config, runs.c.summary).where(runs.c.id.in_(_recent_ids(where)))
        ).all()
    return {
        "run": list(RUN_FIELDS),
        "metric": metrics,
        "config": sorted(set(_leaf_keys(d.config for d in docs))),
        "summary": sorted(set(_leaf_keys(d.summary for d in docs))),
    }


def _leaf_keys(documents: Iterable[Any], prefix: str = "") -> Iterable[str]:
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        for key, value in doc.items():
            if isinstance(value, dict) and value:
                yield from _leaf_keys([value], f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"


def has_project(db: Database, name: str) -> bool:
    with db.read() as conn:
        found = conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).first()
    return found is not None
