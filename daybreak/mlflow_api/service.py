"""MLflow's tracking operations over Daybreak's store: the one layer the REST routes call.

Experiments are projects (``Default`` is experiment "0"), runs are runs, params are the run's
config (flat keys), tags set through MLflow are kept key by key, metrics go through the
:class:`~daybreak.tracking.live.LiveAppender` into the same point files the SDK writes.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.errors import NotFoundError
from daybreak.mlflow_api import entities as ent
from daybreak.mlflow_api import search
from daybreak.mlflow_api.errors import MlflowApiError, invalid
from daybreak.store.engine import Database
from daybreak.store.schema import metric_keys, project_tags, projects, run_tags, runs
from daybreak.tracking import service
from daybreak.tracking.live import LiveAppender
from daybreak.tracking.points import RECORD, drop_rewound, read_records, rewinds
from daybreak.tracking.records import ENDED, RUNNING, KeyStats, RunRecord
from daybreak.tracking.values import check_key

RUN_KINDS = ("metrics", "params", "tags", "attributes")
EXPERIMENT_KINDS = ("tags", "attributes")
MAX_SEARCH_RESULTS = 50_000
MAX_HISTORY_PAGE = 100_000
BATCH_LIMITS = {"metrics": 1000, "params": 100, "tags": 100}
ACTIVE_ONLY, DELETED_ONLY, ALL = "ACTIVE_ONLY", "DELETED_ONLY", "ALL"


def _missing_run(run_id: str) -> MlflowApiError:
    return MlflowApiError(
        f"no run with id {run_id!r}", "check the run id", "RESOURCE_DOES_NOT_EXIST", 404
    )


def _missing_experiment(what: str) -> MlflowApiError:
    return MlflowApiError(
        f"no experiment {what}", "create it first", "RESOURCE_DOES_NOT_EXIST", 404
    )


class MlflowService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.live = LiveAppender(db, lambda run_id: settings.runs_dir / run_id)
        self._known_runs: dict[str, None] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        self.live.close()

    # -- experiments --------------------------------------------------------------------------
    def create_experiment(self, name: Any, tags: Sequence[Mapping[str, Any]]) -> str:
        name = _experiment_name(name)
        with self.db.write() as conn:
            if conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).first():
                raise MlflowApiError(
                    f"an experiment named {name!r} already exists",
                    "pick another name or use the existing one",
                    "RESOURCE_ALREADY_EXISTS",
                )
            project_id = service.ensure_project(conn, name)
            _put_tags(conn, project_tags, "project_id", project_id, _tag_pairs(tags))
        return ent.experiment_id(project_id, name)

    def get_experiment(self, exp_id: Any) -> dict[str, Any]:
        with self.db.write() as conn:
            return self._experiment_json(conn, self._project(conn, exp_id))

    def get_experiment_by_name(self, name: Any) -> dict[str, Any]:
        name = ent.text(name, "experiment_name", 200)
        with self.db.read() as conn:
            row = conn.execute(sa.select(projects).where(projects.c.name == name)).first()
            if row is None:
                raise _missing_experiment(f"named {name!r}")
            return self._experiment_json(conn, row)

    def search_experiments(
        self,
        view_type: Any,
        max_results: Any,
        filter_text: Any,
        order_by: Sequence[str],
        page_token: Any,
    ) -> dict[str, Any]:
        clauses = search.parse_filter(_opt_text(filter_text), EXPERIMENT_KINDS)
        order = search.parse_order_by(order_by or [], EXPERIMENT_KINDS)
        limit = _limit(max_results, 1000)
        view = _view(view_type)
        with self.db.write() as conn:
            service.ensure_project(conn, ent.DEFAULT_EXPERIMENT)
            rows = conn.execute(sa.select(projects)).all()
            tags = _tags_by(conn, project_tags, "project_id", [r.id for r in rows])
            found = [
                self._experiment_json(conn, r, tags.get(r.id, {}))
                for r in rows
                if (view == ALL or (r.archived_at is None) == (view == ACTIVE_ONLY))
            ]

        def get(kind: str, key: str) -> Any:
            return _experiment_value(current, kind, key)

        kept = []
        for current in found:
            if search.matches(clauses, get):
                kept.append(current)
        default = [search.OrderTerm("attributes", "last_update_time", False)]
        terms = [*order, *default, search.OrderTerm("attributes", "experiment_id", True)]
        kept.sort(key=lambda e: search.sort_key(terms, lambda k, key: _experiment_value(e, k, key)))
        return _page("experiments", kept, limit, page_token)

    def update_experiment(self, exp_id: Any, new_name: Any) -> None:
        new_name = _experiment_name(new_name)
        with self.db.write() as conn:
            row = self._project(conn, exp_id)
            taken = conn.execute(sa.select(projects.c.id).where(projects.c.name == new_name))
            if taken.first():
                raise MlflowApiError(
                    f"an experiment named {new_name!r} already exists",
                    "pick another name",
                    "RESOURCE_ALREADY_EXISTS",
                )
            conn.execute(projects.update().where(projects.c.id == row.id).values(name=new_name))

    def set_experiment_archived(self, exp_id: Any, archived: bool) -> None:
        with self.db.write() as conn:
            row = self._project(conn, exp_id)
            if row.name == ent.DEFAULT_EXPERIMENT and archived:
                raise invalid("the Default experiment cannot be deleted")
            value = time.time() if archived else None
            conn.execute(projects.update().where(projects.c.id == row.id).values(archived_at=value))

    def set_experiment_tag(self, exp_id: Any, key: Any, value: Any) -> None:
        pair = (ent.key(key, "key"), ent.text(value, "value"))
        with self.db.write() as conn:
            row = self._project(conn, exp_id)
            _put_tags(conn, project_tags, "project_id", row.id, [pair])

    def delete_experiment_tag(self, exp_id: Any, key: Any) -> None:
        key = ent.key(key, "key")
        with self.db.write() as conn:
            row = self._project(conn, exp_id)
            done = conn.execute(
                project_tags.delete().where(
                    project_tags.c.project_id == row.id, project_tags.c.key == key
                )
            )
            if not done.rowcount:
                raise MlflowApiError(
                    f"experiment {exp_id} has no tag {key!r}", None, "RESOURCE_DOES_NOT_EXIST", 404
                )

    def _project(self, conn: sa.Connection, exp_id: Any) -> Any:
        exp_id = ent.text(exp_id, "experiment_id", 32)
        if exp_id == ent.DEFAULT_EXPERIMENT_ID:
            service.ensure_project(conn, ent.DEFAULT_EXPERIMENT)
            query = sa.select(projects).where(projects.c.name == ent.DEFAULT_EXPERIMENT)
        elif exp_id.isascii() and exp_id.isdigit():
            query = sa.select(projects).where(projects.c.id == int(exp_id))
        else:
            raise _missing_experiment(f"with id {exp_id!r}")
        row = conn.execute(query).first()
        if row is None:
            raise _missing_experiment(f"with id {exp_id!r}")
        return row

    def _experiment_json(
        self, conn: sa.Connection, row: Any, tags: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        if tags is None:
            tags = _tags_by(conn, project_tags, "project_id", [row.id]).get(row.id, {})
        return ent.experiment_json(row.id, row.name, row.created_at, row.archived_at, tags)

    # -- runs ---------------------------------------------------------------------------------
    def create_run(
        self,
        exp_id: Any,
        run_name: Any,
        start_time: Any,
        tags: Sequence[Mapping[str, Any]],
        user_id: Any,
    ) -> dict[str, Any]:
        from daybreak.tracking.run import new_run_id

        pairs = dict(_tag_pairs(tags))
        name = ent.text(run_name or pairs.pop(ent.RUN_NAME_TAG, "") or "", "run_name", 300)
        pairs.pop(ent.RUN_NAME_TAG, None)
        if user_id and ent.USER_TAG not in pairs:
            pairs[ent.USER_TAG] = ent.text(user_id, "user_id", 250)
        run_id = new_run_id()
        now = time.time()
        started = ent.seconds(start_time, "start_time") if start_time else now
        with self.db.write() as conn:
            project = self._project(conn, exp_id)
            if project.archived_at is not None:
                raise MlflowApiError(
                    f"experiment {project.name!r} is deleted",
                    "restore it or use another experiment",
                    "INVALID_STATE",
                )
        commit = pairs.get(ent.COMMIT_TAG)
        record = RunRecord(
            id=run_id,
            project=project.name,
            name=name or f"run-{run_id[:6]}",
            command=pairs.get(ent.SOURCE_TAG, ""),
            git={"commit": commit} if commit else {},
            environment={"protocol": "mlflow"},
            started_at=started,
            last_heartbeat=now,
        )
        service.create_run(self.db, record)
        with self.db.write() as conn:
            _put_tags(conn, run_tags, "run_id", run_id, pairs.items())
        self._remember(run_id)
        return ent.run_json(record, ent.experiment_id(project.id, project.name), pairs, {})

    def get_run(self, run_id: Any) -> dict[str, Any]:
        run_id = self._run_id(run_id)
        self.live.flush(run_id)
        with self.db.read() as conn:
            return self._runs_json(conn, [self._record(conn, run_id)])[0]

    def update_run(self, run_id: Any, status: Any, end_time: Any, run_name: Any) -> dict[str, Any]:
        run_id = self._run_id(run_id)
        if run_name:
            service.update_run(self.db, run_id, name=ent.text(run_name, "run_name", 300))
        if status:
            state = ent.FROM_MLFLOW.get(str(status))
            if state is None:
                raise invalid(
                    f"unknown run status {status!r}", "use one of " + ", ".join(ent.FROM_MLFLOW)
                )
            if state in ENDED:
                ended = ent.seconds(end_time, "end_time") if end_time else time.time()
                self.live.forget(run_id)
                service.finish_run(self.db, run_id, state, ended)
            else:
                with self.db.write() as conn:
                    conn.execute(
                        runs.update()
                        .where(runs.c.id == run_id)
                        .values(
                            status=RUNNING, ended_at=None, error=None, last_heartbeat=time.time()
                        )
                    )
        return self.get_run(run_id)["info"]

    def delete_run(self, run_id: Any) -> None:
        from daybreak.tracking.readers import LocalBackend

        run_id = self._run_id(run_id)
        self.live.forget(run_id)
        with self._guard:
            self._known_runs.pop(run_id, None)
        LocalBackend(self.settings).delete_runs([run_id])

    def set_tag(self, run_id: Any, key: Any, value: Any) -> None:
        self.log_batch(run_id, [], [], [{"key": key, "value": value}])

    def delete_tag(self, run_id: Any, key: Any) -> None:
        run_id, key = self._run_id(run_id), ent.key(key, "key")
        with self.db.write() as conn:
            done = conn.execute(
                run_tags.delete().where(run_tags.c.run_id == run_id, run_tags.c.key == key)
            )
        if not done.rowcount:
            raise MlflowApiError(
                f"run {run_id} has no tag {key!r}", None, "RESOURCE_DOES_NOT_EXIST", 404
            )

    def log_batch(
        self,
        run_id: Any,
        metrics: Sequence[Mapping[str, Any]],
        params: Sequence[Mapping[str, Any]],
        tags: Sequence[Mapping[str, Any]],
    ) -> None:
        for what, items in (("metrics", metrics), ("params", params), ("tags", tags)):
            if len(items) > BATCH_LIMITS[what]:
                raise invalid(
                    f"a batch may hold at most {BATCH_LIMITS[what]} {what}, not {len(items)}",
                    "split it into several log-batch calls",
                )
        run_id = self._run_id(run_id)
        batch = _metric_batch(metrics)
        param_pairs = [
            (ent.key(p.get("key"), "param key"), ent.text(p.get("value"), "param value"))
            for p in params
        ]
        tag_pairs = list(_tag_pairs(tags))
        if param_pairs or tag_pairs:
            with self._lock(run_id):
                self._write_params_and_tags(run_id, param_pairs, tag_pairs)
        if batch:
            self.live.append(run_id, batch)

    def _write_params_and_tags(
        self, run_id: str, params: list[tuple[str, str]], tags: list[tuple[str, str]]
    ) -> None:
        with self.db.write() as conn:
            record = self._record(conn, run_id)
            changes: dict[str, Any] = {}
            if params:
                current = ent.params_of(record.config)
                config = dict(record.config)
                for key, value in params:
                    if key in current and current[key] != value:
                        raise invalid(
                            f"param {key!r} of run {run_id} is already {current[key]!r}; "
                            f"cannot change it to {value!r}",
                            "params are fixed once logged: log a new run, or use a tag",
                        )
                    config[key] = value
                changes["config"] = config
            name = dict(tags).pop(ent.RUN_NAME_TAG, None)
            if name is not None:
                changes["name"] = ent.text(name, "run name", 300) or record.name
            if changes:
                conn.execute(runs.update().where(runs.c.id == run_id).values(**changes))
            stored = [(k, v) for k, v in tags if k != ent.RUN_NAME_TAG]
            _put_tags(conn, run_tags, "run_id", run_id, stored)

    def metric_history(
        self, run_id: Any, key: Any, max_results: Any, page_token: Any
    ) -> dict[str, Any]:
        run_id, key = self._run_id(run_id), ent.key(key, "metric_key")
        run_dir = self.settings.runs_dir / run_id
        records = _unique(drop_rewound(read_records(run_dir, key), rewinds(run_dir)))
        limit = _limit(max_results, MAX_HISTORY_PAGE, MAX_HISTORY_PAGE)
        start = _offset(page_token)
        chunk = records[start : start + limit]
        metrics = [
            {"key": key, "value": ent.wire_number(v), "timestamp": round(t * 1000), "step": s}
            for s, t, v in zip(
                chunk["step"].tolist(), chunk["ts"].tolist(), chunk["value"].tolist(), strict=True
            )
        ]
        out: dict[str, Any] = {"metrics": metrics}
        if start + limit < len(records):
            out["next_page_token"] = _token(start + limit)
        return out

    def search_runs(
        self,
        experiment_ids: Sequence[Any],
        filter_text: Any,
        view_type: Any,
        max_results: Any,
        order_by: Sequence[str],
        page_token: Any,
    ) -> dict[str, Any]:
        clauses = search.parse_filter(_opt_text(filter_text), RUN_KINDS)
        order = search.parse_order_by(order_by or [], RUN_KINDS)
        limit = _limit(max_results, 1000)
        if _view(view_type) == DELETED_ONLY:  # Daybreak deletes runs for good
            return {"runs": []}
        self.live.flush()
        with self.db.write() as conn:
            project_ids = {self._project(conn, e).id: None for e in experiment_ids}
        with self.db.read() as conn:
            query = service._run_select().where(runs.c.project_id.in_(list(project_ids)))
            records = [RunRecord.from_dict(dict(r)) for r in conn.execute(query).mappings()]
            exp_ids = _experiment_ids_of(conn, project_ids)
            ids = [r.id for r in records]
            wanted = {c.kind for c in clauses} | {t.kind for t in order}
            tags = _tags_by(conn, run_tags, "run_id", ids) if "tags" in wanted else None
            stats = _stats_by(conn, ids) if "metrics" in wanted else None
        candidates = [_Candidate(r, exp_ids[r.project], tags, stats) for r in records]
        kept = [c for c in candidates if search.matches(clauses, c.get)]
        terms = [
            *order,
            search.OrderTerm("attributes", "start_time", False),
            search.OrderTerm("attributes", "run_id", True),
        ]
        kept.sort(key=lambda c: search.sort_key(terms, c.get))
        start = _offset(page_token)
        page = kept[start : start + limit]
        with self.db.read() as conn:
            found = self._runs_json(conn, [c.record for c in page], exp_ids)
        out: dict[str, Any] = {"runs": found}
        if start + limit < len(kept):
            out["next_page_token"] = _token(start + limit)
        return out

    # -- helpers ------------------------------------------------------------------------------
    def _runs_json(
        self, conn: sa.Connection, records: list[RunRecord], exp_ids: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        if exp_ids is None:
            names = {r.project for r in records}
            rows = conn.execute(
                sa.select(projects.c.id, projects.c.name).where(projects.c.name.in_(names))
            )
            exp_ids = {row.name: ent.experiment_id(row.id, row.name) for row in rows}
        ids = [r.id for r in records]
        tags = _tags_by(conn, run_tags, "run_id", ids)
        stats = _stats_by(conn, ids)
        return [
            ent.run_json(r, exp_ids[r.project], tags.get(r.id, {}), stats.get(r.id, {}))
            for r in records
        ]

    def _record(self, conn: sa.Connection, run_id: str) -> RunRecord:
        try:
            return service._load(conn, run_id)
        except NotFoundError:
            raise _missing_run(run_id) from None

    def _run_id(self, run_id: Any) -> str:
        """``run_id`` if such a run exists (remembered, so logging a point costs no query)."""
        run_id = ent.text(run_id, "run_id", 64)
        if not run_id:
            raise invalid("run_id is missing", "send the run_id of a run")
        if run_id in self._known_runs:
            return run_id
        with self.db.read() as conn:
            found = conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first()
        if found is None:
            raise _missing_run(run_id)
        self._remember(run_id)
        return run_id

    def _remember(self, run_id: str) -> None:
        with self._guard:
            self._known_runs[run_id] = None
            if len(self._known_runs) > 10_000:
                self._known_runs.pop(next(iter(self._known_runs)))

    def _lock(self, run_id: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(run_id)
            if lock is None:
                if len(self._locks) > 10_000:
                    self._locks.clear()
                lock = self._locks[run_id] = threading.Lock()
            return lock

    def artifact_root(self, run_id: str) -> Path:
        return self.settings.runs_dir / run_id


class _Candidate:
    """One run as the search sees it: fields computed only when a clause asks."""

    def __init__(
        self,
        record: RunRecord,
        exp_id: str,
        tags: dict[str, dict[str, str]] | None,
        stats: dict[str, dict[str, KeyStats]] | None,
    ) -> None:
        self.record, self.exp_id = record, exp_id
        self._tags, self._stats = tags, stats
        self._params: dict[str, str] | None = None
        self._all_tags: dict[str, str] | None = None

    def get(self, kind: str, key: str) -> Any:
        r = self.record
        if kind == "metrics":
            found = (self._stats or {}).get(r.id, {}).get(key)
            return None if found is None or not found.count else found.last
        if kind == "params":
            if self._params is None:
                self._params = ent.params_of(r.config)
            return self._params.get(key)
        if kind == "tags":
            if self._all_tags is None:
                self._all_tags = ent.tags_of(r, (self._tags or {}).get(r.id, {}))
            return self._all_tags.get(key)
        return _run_attribute(r, self.exp_id, key)


def _run_attribute(r: RunRecord, exp_id: str, key: str) -> Any:
    values = {
        "run_id": r.id,
        "run_name": r.name,
        "status": ent.TO_MLFLOW.get(r.status, "RUNNING"),
        "start_time": ent.millis(r.started_at),
        "created": ent.millis(r.started_at),
        "end_time": ent.millis(r.ended_at),
        "artifact_uri": ent.artifact_uri(exp_id, r.id),
        "lifecycle_stage": "active",
        "experiment_id": exp_id,
    }
    if key not in values:
        raise invalid(f"cannot search by attribute {key!r}", "use one of " + ", ".join(values))
    return values[key]


def _experiment_value(exp: dict[str, Any], kind: str, key: str) -> Any:
    if kind == "tags":
        return next((t["value"] for t in exp["tags"] if t["key"] == key), None)
    allowed = ("name", "experiment_id", "creation_time", "last_update_time", "lifecycle_stage")
    if key not in allowed:
        raise invalid(f"cannot search experiments by {key!r}", "use one of " + ", ".join(allowed))
    return exp[key]


def _metric_batch(metrics: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    rows: dict[str, list[tuple[int, float, float]]] = {}
    for m in metrics:
        if not isinstance(m, Mapping):
            raise invalid("each metric must be an object with key, value, timestamp and step")
        key = ent.key(m.get("key"), "metric key")
        try:
            check_key(key)
        except Exception as exc:
            raise invalid(str(exc)) from None
        value = ent.number(m.get("value"), f"value of metric {key!r}")
        stamp = ent.integer(m.get("timestamp"), "timestamp", int(time.time() * 1000)) / 1000.0
        step = ent.integer(m.get("step"), "step")
        rows.setdefault(key, []).append((step, stamp, value))
    return {k: np.array(v, dtype=RECORD) for k, v in rows.items()}


def _unique(records: np.ndarray) -> np.ndarray:
    """Without exact repeats (a request retried after a lost reply), first one kept."""
    if len(records) < 2:
        return records
    _, first = np.unique(records, return_index=True)
    if len(first) == len(records):
        return records
    return records[np.sort(first)]


def _experiment_name(name: Any) -> str:
    name = ent.text(name, "experiment name", 200).strip()
    if not name:
        raise invalid("the experiment name is empty", "give the experiment a name")
    if "/" in name:
        raise invalid(
            f"experiment name {name!r} has a '/', which Daybreak project names cannot",
            "use a name without '/', e.g. replace it by '-'",
        )
    return name


def _tag_pairs(tags: Iterable[Any]) -> Iterable[tuple[str, str]]:
    for tag in tags or []:
        if not isinstance(tag, Mapping):
            raise invalid("each tag must be an object with key and value")
        yield ent.key(tag.get("key"), "tag key"), ent.text(tag.get("value"), "tag value")


def _put_tags(
    conn: sa.Connection,
    table: sa.Table,
    owner: str,
    owner_id: Any,
    pairs: Iterable[tuple[str, str]],
) -> None:
    rows = [{owner: owner_id, "key": k, "value": v} for k, v in dict(pairs).items()]
    if not rows:
        return
    stmt = service._insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[owner, "key"], set_={"value": stmt.excluded["value"]}
    )
    conn.execute(stmt, rows)


def _tags_by(
    conn: sa.Connection, table: sa.Table, owner: str, ids: Sequence[Any]
) -> dict[Any, dict[str, str]]:
    out: dict[Any, dict[str, str]] = {}
    column = table.c[owner]
    for start in range(0, len(ids), 900):
        query = sa.select(column, table.c.key, table.c.value).where(
            column.in_(ids[start : start + 900])
        )
        for owner_id, key, value in conn.execute(query):
            out.setdefault(owner_id, {})[key] = value
    return out


def _stats_by(conn: sa.Connection, ids: Sequence[str]) -> dict[str, dict[str, KeyStats]]:
    out: dict[str, dict[str, KeyStats]] = {}
    for start in range(0, len(ids), 900):
        query = sa.select(metric_keys).where(metric_keys.c.run_id.in_(ids[start : start + 900]))
        for row in conn.execute(query).mappings():
            out.setdefault(row["run_id"], {})[row["key"]] = service.key_stats_of(row)
    return out


def _experiment_ids_of(conn: sa.Connection, project_ids: Mapping[int, None]) -> dict[str, str]:
    rows = conn.execute(
        sa.select(projects.c.id, projects.c.name).where(projects.c.id.in_(list(project_ids)))
    )
    return {row.name: ent.experiment_id(row.id, row.name) for row in rows}


def _opt_text(value: Any) -> str:
    return ent.text(value, "filter", 10_000) if value else ""


def _view(value: Any) -> str:
    names = {"1": ACTIVE_ONLY, "2": DELETED_ONLY, "3": ALL}
    view = names.get(str(value), str(value or ACTIVE_ONLY).upper())
    if view not in (ACTIVE_ONLY, DELETED_ONLY, ALL):
        raise invalid(f"unknown view type {value!r}", "use ACTIVE_ONLY, DELETED_ONLY or ALL")
    return view


def _limit(value: Any, default: int, most: int = MAX_SEARCH_RESULTS) -> int:
    limit = ent.integer(value, "max_results", default)
    if limit < 1 or limit > most:
        raise invalid(f"max_results must be between 1 and {most}, not {limit}")
    return limit


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: Any) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(str(token).encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise invalid(f"page_token {token!r} is not one this server gave out") from None
    if offset < 0:
        raise invalid("page_token is negative")
    return offset


def _page(field: str, items: list[Any], limit: int, token: Any) -> dict[str, Any]:
    start = _offset(token)
    out: dict[str, Any] = {field: items[start : start + limit]}
    if start + limit < len(items):
        out["next_page_token"] = _token(start + limit)
    return out
