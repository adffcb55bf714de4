"""``daybreak import mlflow URI``: MLflow runs, with their full metric histories, become runs.

URI is any MLflow tracking URI: an ``http(s)://`` server, a ``sqlite:///`` database, or an
``mlruns`` folder. Params become the config, user tags ``key=value`` tags, ``mlflow.*``
system tags go where Daybreak keeps the same thing (name, command, git) and are all kept under
``environment["imported"]``. The run id is derived from the MLflow run id, so a second import
of the same runs (through any URI) skips them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from daybreak.config import Settings
from daybreak.errors import DaybreakError, ImportFormatError, NotFoundError, RemoteError
from daybreak.importers.common import (
    ImportedRun,
    ImportResult,
    KeyMap,
    Progress,
    Skipped,
    check_project,
    existing_ids,
    local_store,
    missing_package,
    run_name,
    stable_id,
    staging,
)
from daybreak.tracking.records import FAILED, FINISHED, RUNNING, STOPPED, RunRecord

STATUS = {
    "FINISHED": FINISHED,
    "FAILED": FAILED,
    "KILLED": STOPPED,
    "RUNNING": RUNNING,
    "SCHEDULED": RUNNING,
}
PAGE = 1000
PROBE_TIMEOUT = 10.0
MLFLOW_TABLES = {"experiments", "runs", "metrics", "params", "tags"}
URI_HINT = "give an MLflow tracking URI: http://HOST:5000, sqlite:///path/mlflow.db or ./mlruns"
T = TypeVar("T")


@dataclasses.dataclass
class SourceRun:
    """One MLflow run to import."""

    run: Any  # mlflow.entities.Run
    experiment: str
    project: str
    run_id: str  # the Daybreak id


@dataclasses.dataclass
class Plan:
    """The MLflow runs an import will read, and those skipped (imported before)."""

    uri: str
    client: Any
    runs: list[SourceRun]
    skipped: list[Skipped]
    warnings: list[str]

    @property
    def total(self) -> int:
        """Runs to read (what a progress bar counts)."""
        return len(self.runs)


def plan(
    settings: Settings,
    uri: str,
    experiments: list[str] | None = None,
    project: str | None = None,
) -> Plan:
    """List the runs of the experiments (default: every active one) at ``uri``."""
    if project is not None:
        check_project(project)
    local_store(settings)
    client = connect(uri)
    found = _call(uri, "list experiments", _experiments, client, uri, experiments or [])
    runs: list[SourceRun] = []
    warnings: list[str] = []
    for experiment in found:
        target = project or _project(experiment.name, experiment.experiment_id)
        if project is None and target != experiment.name:
            warnings.append(
                f"experiment {experiment.name!r} goes to project {target!r} "
                "(project names cannot hold '/')"
            )
        for run in _call(uri, "list runs", _runs, client, experiment.experiment_id):
            runs.append(
                SourceRun(run, experiment.name, target, stable_id("mlflow", run.info.run_id))
            )
    known = existing_ids(settings, [r.run_id for r in runs])
    skipped = [
        Skipped(r.run.info.run_id, f"already imported as run {r.run_id}", r.run_id)
        for r in runs
        if r.run_id in known
    ]
    return Plan(uri, client, [r for r in runs if r.run_id not in known], skipped, warnings)


def import_plan(settings: Settings, plan: Plan, progress: Progress | None = None) -> ImportResult:
    """Read the planned runs with every metric point: all of them, or on any error none."""
    started = time.perf_counter()
    result = ImportResult(
        "mlflow", safe_uri(plan.uri), skipped=list(plan.skipped), warnings=list(plan.warnings)
    )
    with staging(settings) as staged:
        for source in plan.runs:
            record = run_record(source, result.source)
            run = staged.start(record)
            last = _stage_metrics(plan, source, run, KeyMap(result.renamed), result.warnings)
            if record.status == RUNNING and last:
                record.last_heartbeat = max(record.last_heartbeat, *last.values())
            run.close()
            result.imported.append(
                ImportedRun(
                    record.id, record.name, record.project, source.run.info.run_id, run.points
                )
            )
            if progress is not None:
                progress(1)
    result.seconds = time.perf_counter() - started
    return result


def import_mlflow(
    settings: Settings,
    uri: str,
    experiments: list[str] | None = None,
    project: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Plan and import in one call (what the CLI does in two, to size its progress bar)."""
    return import_plan(settings, plan(settings, uri, experiments, project), progress)


# -- reading MLflow -------------------------------------------------------------------------


def connect(uri: str) -> Any:
    """An ``MlflowClient`` for ``uri``, once the source is known to be there: a server that
    answers, a database file that is an MLflow database, an existing ``mlruns`` folder."""
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme in ("http", "https"):
        _probe(uri)
    elif scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme in ("", "file"):
        _check_folder(uri)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise missing_package("mlflow", "importing from MLflow") from exc
    return MlflowClient(tracking_uri=uri)


def _probe(uri: str) -> None:
    """Fail fast when nothing answers (MLflow's client would retry for minutes)."""
    parts = urllib.parse.urlsplit(uri)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    url = urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", "")
    )
    try:
        urllib.request.urlopen(url, timeout=PROBE_TIMEOUT).close()
    except urllib.error.HTTPError:
        return  # something answered; the client says what is wrong, if anything
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(
            f"cannot reach the MLflow server at {safe_uri(uri)}: {reason}",
            "check the URL and that `mlflow server` runs there; nothing was imported",
        ) from None


def _check_sqlite(uri: str) -> None:
    path = (
        Path(urllib.parse.unquote(uri[len("sqlite:///") :]))
        if uri.startswith("sqlite:///")
        else None
    )
    if path is None or not str(path):
        raise ImportFormatError(f"{uri} names no database file", URI_HINT)
    if not path.is_file():
        raise NotFoundError(
            f"no MLflow database at {path}",
            "check the path (sqlite:///relative/path.db or sqlite:////absolute/path.db)",
        )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ImportFormatError(
            f"{path} is not a readable SQLite database ({exc})", URI_HINT
        ) from None
    missing = MLFLOW_TABLES - {r[0] for r in rows}
    if missing:
        raise ImportFormatError(
            f"{path} is not an MLflow tracking database (it has no {', '.join(sorted(missing))} "
            "table)",
            URI_HINT,
        )


def _check_folder(uri: str) -> None:
    path = Path(urllib.parse.urlsplit(uri).path if uri.startswith("file:") else uri)
    if not path.is_dir():
        raise NotFoundError(f"no MLflow folder (mlruns) at {path}", URI_HINT)
    # MLflow 3 refuses its file store unless told otherwise; reading it out is what one
    # should do with it, so allow it for this process.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def _experiments(client: Any, uri: str, names: list[str]) -> list[Any]:
    if not names:
        return _all_experiments(client)
    out = []
    for name in dict.fromkeys(names):
        experiment = client.get_experiment_by_name(name)
        if experiment is None and (name.isascii() and name.isdigit()):
            experiment = _experiment_by_id(client, name)
        if experiment is None:
            known = [e.name for e in _all_experiments(client)]
            raise NotFoundError(
                f"no MLflow experiment {name!r} at {safe_uri(uri)}",
                f"experiments there: {', '.join(repr(k) for k in known[:20]) or 'none'}",
            )
        out.append(experiment)
    return out


def _experiment_by_id(client: Any, experiment_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_experiment(experiment_id)
    except MlflowException:
        return None


def _all_experiments(client: Any) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = client.search_experiments(max_results=PAGE, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def _runs(client: Any, experiment_id: str) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            max_results=PAGE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        out.extend(page)
        token = page.token
        if not token:
            return out


def _call(uri: str, what: str, fn: Callable[..., T], *args: Any) -> T:
    """Call the MLflow client; what it raises becomes a Daybreak error naming the source."""
    try:
        return fn(*args)
    except DaybreakError:
        raise
    except Exception as exc:  # MlflowException, requests' and SQLAlchemy's errors
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if len(text) > 400:
            text = text[:400] + "…"
        message = f"cannot {what} at MLflow {safe_uri(uri)}: {text}"
        hint = "nothing was imported; check the URI, and that this MLflow can read that store"
        if urllib.parse.urlsplit(uri).scheme in ("http", "https"):
            raise RemoteError(message, hint) from exc
        raise DaybreakError(message, hint) from exc


def _stage_metrics(
    plan: Plan, source: SourceRun, run: Any, keys: KeyMap, warnings: list[str]
) -> dict[str, float]:
    """Stage every point of every metric of the run; returns each key's last timestamp."""
    info = source.run.info
    last: dict[str, float] = {}
    renumbered: list[str] = []
    repeated: list[str] = []
    for name in sorted(source.run.data.metrics):
        history = _call(
            plan.uri,
            f"read metric {name!r} of run {info.run_id}",
            plan.client.get_metric_history,
            info.run_id,
            name,
        )
        if not history:
            continue
        steps = _steps(history)
        if steps is None:
            history = sorted(history, key=lambda m: m.timestamp)
            steps = list(range(len(history)))
            renumbered.append(name)
        elif len(set(steps)) < len(steps):
            repeated.append(name)
        key = keys(name)
        for step, metric in zip(steps, history, strict=True):
            run.add(key, step, metric.timestamp / 1000, float(metric.value))
        last[key] = max(m.timestamp for m in history) / 1000
    label = f"run {info.run_name or info.run_id} ({info.run_id})"
    if renumbered:
        warnings.append(
            f"{label}: {', '.join(renumbered)} logged at one step only (no step given); "
            "steps renumbered 0, 1, 2... in time order"
        )
    if repeated:
        warnings.append(
            f"{label}: {', '.join(repeated)} logged more than once at some steps; all points "
            "are kept, Daybreak shows the latest of each step"
        )
    return last


def _steps(history: list[Any]) -> list[int] | None:
    """Steps in order (the history sorted in place by step, then time), or None when every
    point has the same step (``log_metric`` without ``step``) and there are several."""
    history.sort(key=lambda m: (m.step, m.timestamp))
    steps = [int(m.step) for m in history]
    if len(steps) > 1 and steps[0] == steps[-1]:
        return None
    return steps


# -- mapping --------------------------------------------------------------------------------


def run_record(source: SourceRun, uri: str) -> RunRecord:
    """The Daybreak record of one MLflow run (see the table in docs/import.md)."""
    run = source.run
    info = run.info
    tags: dict[str, str] = dict(run.data.tags)
    system = {k: v for k, v in sorted(tags.items()) if k.startswith("mlflow.")}
    status = STATUS.get(info.status, FAILED)
    started = (info.start_time or 0) / 1000
    ended = None if status == RUNNING else (info.end_time or info.start_time or 0) / 1000
    imported: dict[str, Any] = {
        "from": "mlflow",
        "tracking_uri": uri,
        "experiment_id": run.info.experiment_id,
        "experiment": source.experiment,
        "run_id": info.run_id,
        "artifact_uri": info.artifact_uri,
        "user": info.user_id,
        "system_tags": system,
    }
    parent = system.get("mlflow.parentRunId")
    if parent:
        imported["parent"] = stable_id("mlflow", parent)
    git = {
        name: system[tag]
        for name, tag in (
            ("commit", "mlflow.source.git.commit"),
            ("branch", "mlflow.source.git.branch"),
            ("remote", "mlflow.source.git.repoURL"),
        )
        if system.get(tag)
    }
    return RunRecord(
        id=source.run_id,
        project=source.project,
        name=run_name(info.run_name or system.get("mlflow.runName") or info.run_id),
        status=status,
        config={k: param_value(v) for k, v in sorted(run.data.params.items())},
        tags=[f"{k}={v}" for k, v in sorted(tags.items()) if not k.startswith("mlflow.")],
        git=git,
        command=system.get("mlflow.source.name", ""),
        environment={"imported": imported},
        started_at=started,
        ended_at=ended,
        last_heartbeat=ended if ended is not None else started,
    )


def param_value(text: str) -> Any:
    """An MLflow param (always a string) as the number or boolean it was logged as, when the
    string is exactly how Python writes that value; otherwise the string."""
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if (str(value) == text or repr(value) == text) and math.isfinite(value):
            return value
    return text


def _project(name: str, experiment_id: str) -> str:
    cleaned = "-".join(part for part in name.split("/") if part.strip()).strip()
    return cleaned[:200] if cleaned else f"mlflow-{experiment_id}"


def safe_uri(uri: str) -> str:
    """The URI without a password, for messages and records."""
    parts = urllib.parse.urlsplit(uri)
    if not parts.password:
        return uri
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))
