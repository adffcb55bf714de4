"""Notes and action items in the metadata store: the one layer the CLI, the API and the Daily
Log call.

A note is markdown with an author and a time about one subject: a run (which records its
project too), a project, a model, a dataset (version), a Daily Log, or nothing (a team note).
An action item is something someone must do; it stays open, and is carried from one Daily Log
to the next, until it is resolved with a note saying what was done.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.store.engine import Database
from daybreak.store.schema import (
    action_items,
    daily_logs,
    dataset_tags,
    dataset_versions,
    datasets,
    findings,
    notes,
    projects,
    runs,
)
from daybreak.tracking.service import ensure_project

OPEN, RESOLVED = "open", "resolved"
STATUSES = (OPEN, RESOLVED)
FINDING_HINT = "finding ids are listed with each problem in the Daily Log and its JSON"


# -- notes ---------------------------------------------------------------------------------


def add_note(
    db: Database,
    body: str,
    *,
    author: str = "",
    run_id: str | None = None,
    project: str | None = None,
    model: str | None = None,
    dataset: str | None = None,
    log_id: int | None = None,
    now: float | None = None,
) -> int:
    """Store a markdown note about at most one subject (a run note may name its project)."""
    _required(body, "a note needs a body", 'write it in markdown: daybreak note add "..."')
    model, dataset = _given(model, "model"), _given(dataset, "dataset")
    run_id, project = _given(run_id, "run"), _given(project, "project")
    _one_subject(run=run_id, model=model, dataset=dataset, log=log_id)
    with db.write() as conn:
        values = {
            "project_id": _note_project(conn, run_id, project),
            "run_id": run_id,
            "model": model,
            "dataset": _dataset_ref(conn, dataset) if dataset else None,
            "log_id": _check_log(conn, log_id) if log_id is not None else None,
            "author": author.strip(),
            "body": body.rstrip(),  # leading spaces can mean something in markdown
            "created_at": time.time() if now is None else now,
        }
        result = conn.execute(notes.insert().values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def _required(value: str, message: str, hint: str) -> str:
    if not value or not value.strip():
        raise ConfigError(message, hint)
    return value.strip()


def _given(value: str | None, what: str) -> str | None:
    """``None`` stays absent; a blank string is a mistake, not a way to say "none"."""
    if value is None:
        return None
    return _required(value, f"the {what} is blank", f"give a {what} or leave the option out")


def _one_subject(**subjects: object) -> None:
    named = [name for name, value in subjects.items() if value is not None]
    if len(named) > 1:
        raise ConfigError(
            f"a note is about one subject, got {' and '.join(named)}",
            "write one note per subject; a run note may also name its project",
        )


def _note_project(conn: sa.Connection, run_id: str | None, project: str | None) -> int | None:
    if run_id is None:
        return ensure_project(conn, project) if project else None
    found = _run_project(conn, run_id)
    if project and project != found[1]:
        raise ConfigError(
            f"run {run_id} belongs to project {found[1]!r}, not {project!r}",
            "leave --project out: a run note records the run's project",
        )
    return found[0]


def _run_project(conn: sa.Connection, run_id: str) -> tuple[int, str]:
    query = sa.select(runs.c.project_id, projects.c.name).join(
        projects, projects.c.id == runs.c.project_id
    )
    row = conn.execute(query.where(runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"no run with id {run_id!r}", "list runs with `daybreak runs ls`")
    return int(row[0]), str(row[1])


def _dataset_ref(conn: sa.Connection, ref: str) -> str:
    """``NAME``, ``NAME@N`` or ``NAME@TAG`` (stored as ``NAME@N``), checked against the store."""
    name, _, label = ref.partition("@")
    dataset_id = conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).scalar()
    if dataset_id is None:
        raise NotFoundError(
            f"no dataset called {name!r}", "list datasets with `daybreak dataset ls`"
        )
    if not label:
        return name
    version = _dataset_version(conn, dataset_id, label)
    if version is None:
        raise NotFoundError(
            f"dataset {name!r} has no version or tag {label!r}",
            f"see its versions with `daybreak dataset ls`; write {name}@N",
        )
    return f"{name}@{version}"


def _dataset_version(conn: sa.Connection, dataset_id: int, label: str) -> int | None:
    if label.isascii() and label.isdigit():
        query = sa.select(dataset_versions.c.version).where(
            dataset_versions.c.dataset_id == dataset_id, dataset_versions.c.version == int(label)
        )
    else:
        query = sa.select(dataset_tags.c.version).where(
            dataset_tags.c.dataset_id == dataset_id, dataset_tags.c.tag == label
        )
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def _check_log(conn: sa.Connection, log_id: int) -> int:
    if conn.execute(sa.select(daily_logs.c.id).where(daily_logs.c.id == log_id)).first() is None:
        raise NotFoundError(
            f"no Daily Log with id {log_id}", "build one with `daybreak dailylog build`"
        )
    return log_id


def list_notes(
    db: Database,
    *,
    run_id: str | None = None,
    project: str | None = None,
    model: str | None = None,
    dataset: str | None = None,
    log_id: int | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """Notes matching every filter given, oldest first, each with its ``project`` and ``subject``.

    ``since`` is inclusive and ``until`` exclusive; a model or dataset name without ``@`` also
    matches notes about its versions.
    """
    query = _note_select()
    if run_id is not None:
        query = query.where(notes.c.run_id == run_id)
    if project is not None:
        query = query.where(projects.c.name == project)
    if model is not None:
        query = query.where(_matches(notes.c.model, model))
    if dataset is not None:
        query = query.where(_matches(notes.c.dataset, dataset))
    if log_id is not None:
        query = query.where(notes.c.log_id == log_id)
    if since is not None:
        query = query.where(notes.c.created_at >= since)
    if until is not None:
        query = query.where(notes.c.created_at < until)
    with db.read() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    return [{**row, "subject": _subject(row)} for row in rows]


def _note_select() -> sa.Select[Any]:
    return (
        sa.select(notes, projects.c.name.label("project"), runs.c.name.label("run_name"))
        .outerjoin(projects, projects.c.id == notes.c.project_id)
        .outerjoin(runs, runs.c.id == notes.c.run_id)
        .order_by(notes.c.created_at, notes.c.id)
    )


def _matches(column: sa.Column[Any], name: str) -> sa.ColumnElement[bool]:
    if "@" in name:
        return column == name
    return sa.or_(column == name, column.startswith(f"{name}@", autoescape=True))


def _subject(row: dict[str, Any]) -> str:
    """A short label for what the note is about."""
    if row["run_id"]:
        return f"run {row['run_id'][:8]} ({row['run_name']})"
    if row["dataset"]:
        return f"dataset {row['dataset']}"
    if row["model"]:
        return f"model {row['model']}"
    if row["log_id"] is not None:
        return f"log {row['log_id']}"
    if row["project"]:
        return f"project {row['project']}"
    return "team"


# -- action items --------------------------------------------------------------------------


def add_action_item(
    db: Database,
    title: str,
    *,
    body: str = "",
    owner: str = "",
    project: str | None = None,
    run_id: str | None = None,
    finding_id: int | None = None,
    created_by: str = "",
    now: float | None = None,
) -> int:
    """Open an action item; a run gives it its project, and a finding may have one open item."""
    text = _required(title, "an action item needs a title", 'daybreak action add "what to do"')
    project, run_id = _given(project, "project"), _given(run_id, "run")
    with db.write() as conn:
        if finding_id is not None:
            _refuse_second_item(conn, finding_id)
            run_id = run_id or _finding_run(conn, finding_id)
        values = {
            "title": text,
            "body": body.strip(),
            "owner": owner.strip(),
            "status": OPEN,
            "project": _item_project(conn, run_id, project),
            "run_id": run_id,
            "finding_id": finding_id,
            "created_by": created_by.strip(),
            "created_at": time.time() if now is None else now,
        }
        result = conn.execute(action_items.insert().values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def _item_project(conn: sa.Connection, run_id: str | None, project: str | None) -> str | None:
    if run_id is None:
        return project
    found = _run_project(conn, run_id)[1]
    if project and project != found:
        raise ConfigError(
            f"run {run_id} belongs to project {found!r}, not {project!r}",
            "leave --project out: the item takes the run's project",
        )
    return found


def _open_item_for(conn: sa.Connection, finding_id: int) -> int | None:
    query = sa.select(action_items.c.id).where(
        action_items.c.finding_id == finding_id, action_items.c.status == OPEN
    )
    found = conn.execute(query.order_by(action_items.c.id)).scalar()
    return None if found is None else int(found)


def _refuse_second_item(conn: sa.Connection, finding_id: int) -> None:
    existing = _open_item_for(conn, finding_id)
    if existing is not None:
        raise ConflictError(
            f"finding {finding_id} already has an open action item ({existing})",
            f"see it with `daybreak action show {existing}`",
        )


def _finding_run(conn: sa.Connection, finding_id: int) -> str:
    found = conn.execute(sa.select(findings.c.run_id).where(findings.c.id == finding_id)).scalar()
    if found is None:
        raise NotFoundError(f"no finding with id {finding_id}", FINDING_HINT)
    return str(found)


def action_item_from_finding(
    db: Database,
    finding_id: int,
    *,
    owner: str = "",
    created_by: str = "",
    now: float | None = None,
) -> int:
    """An action item for a watchdog finding; the finding's open item if it already has one."""
    from daybreak.watchdog.store import get_finding

    finding = get_finding(db, finding_id)
    if finding is None:
        raise NotFoundError(f"no finding with id {finding_id}", FINDING_HINT)
    with db.read() as conn:
        existing = _open_item_for(conn, finding_id)
    if existing is not None:
        return existing
    title = f"{finding['kind']} in {finding['run_name']}: {finding['message']}"
    return add_action_item(
        db,
        title,
        body=finding["suggestion"] or "",
        owner=owner,
        run_id=finding["run_id"],
        finding_id=finding_id,
        created_by=created_by,
        now=now,
    )


def list_action_items(
    db: Database,
    *,
    status: str | None = OPEN,
    owner: str | None = None,
    project: str | None = None,
) -> list[dict[str, Any]]:
    """Action items, oldest first: open ones by default, ``status=None`` for all."""
    if status is not None and status not in STATUSES:
        raise ConfigError(f"unknown status {status!r}", f"use one of {', '.join(STATUSES)}")
    query = _item_select().order_by(action_items.c.created_at, action_items.c.id)
    if status is not None:
        query = query.where(action_items.c.status == status)
    if owner is not None:
        query = query.where(action_items.c.owner == owner)
    if project is not None:
        query = query.where(action_items.c.project == project)
    with db.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def _item_select() -> sa.Select[Any]:
    return sa.select(action_items, runs.c.name.label("run_name")).outerjoin(
        runs, runs.c.id == action_items.c.run_id
    )


def get_action_item(db: Database, item_id: int) -> dict[str, Any]:
    """One action item, with the name of its run if it has one."""
    with db.read() as conn:
        row = conn.execute(_item_select().where(action_items.c.id == item_id)).mappings().first()
    if row is None:
        raise NotFoundError(
            f"no action item with id {item_id}", "list them with `daybreak action ls --all`"
        )
    return dict(row)


def assign_action_item(db: Database, item_id: int, owner: str) -> dict[str, Any]:
    """Give an open action item to ``owner``."""
    who = _required(owner, "the owner is blank", "daybreak action assign ID NAME")
    _update_open(db, item_id, owner=who)
    return get_action_item(db, item_id)


def resolve_action_item(
    db: Database, item_id: int, note: str, *, by: str = "", now: float | None = None
) -> dict[str, Any]:
    """Close an open action item with a note saying what was done."""
    text = _required(
        note, "resolving an action item takes a note", 'say what was done: --note "..."'
    )
    when = time.time() if now is None else now
    _update_open(
        db, item_id, status=RESOLVED, resolution=text, resolved_by=by.strip(), resolved_at=when
    )
    return get_action_item(db, item_id)


def _update_open(db: Database, item_id: int, **values: Any) -> None:
    """Change an item only while it is open, so two people resolving at once cannot both win."""
    with db.write() as conn:
        done = conn.execute(
            action_items.update()
            .where(action_items.c.id == item_id, action_items.c.status == OPEN)
            .values(**values)
        )
        if done.rowcount:
            return
    get_action_item(db, item_id)  # raises NotFoundError when there is none
    raise ConflictError(
        f"action item {item_id} is already resolved",
        "open a new one with `daybreak action add` if there is more to do",
    )
