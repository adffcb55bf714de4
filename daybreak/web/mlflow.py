"""The MLflow tracking REST API (``/api/2.0/mlflow/...``) and artifact proxy
(``/api/2.0/mlflow-artifacts/...``), so ``MLFLOW_TRACKING_URI=http://<daybreak>`` and unchanged
``mlflow.log_*`` calls log into Daybreak. Thin: the work is in :mod:`daybreak.mlflow_api`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from daybreak.errors import PayloadTooLargeError
from daybreak.mlflow_api.artifacts import ArtifactProxy, locate, safe_relative
from daybreak.mlflow_api.entities import artifact_uri
from daybreak.mlflow_api.service import MlflowService

PREFIX = "/api/2.0/mlflow"
router = APIRouter(prefix=PREFIX, tags=["mlflow"])
artifacts_router = APIRouter(prefix="/api/2.0/mlflow-artifacts", tags=["mlflow"])
Number = float | int | str
Ident = str | int


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class Tag(_Body):
    key: str
    value: str = ""


class CreateExperiment(_Body):
    name: str
    artifact_location: str | None = None
    tags: list[Tag] = []


class ExperimentRef(_Body):
    experiment_id: Ident


class UpdateExperiment(ExperimentRef):
    new_name: str


class ExperimentTag(ExperimentRef):
    key: str
    value: str = ""


class ExperimentTagRef(ExperimentRef):
    key: str


class SearchExperiments(_Body):
    max_results: int | None = None
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: Ident | None = None


class CreateRun(_Body):
    experiment_id: Ident = "0"
    user_id: str | None = None
    start_time: Number | None = None
    tags: list[Tag] = []
    run_name: str | None = None


class RunRef(_Body):
    run_id: str | None = None
    run_uuid: str | None = None

    @property
    def id(self) -> str:
        return self.run_id or self.run_uuid or ""


class UpdateRun(RunRef):
    status: str | None = None
    end_time: Number | None = None
    run_name: str | None = None


class Metric(_Body):
    key: str
    value: Number
    timestamp: Number | None = None
    step: Number | None = None


class LogMetric(RunRef, Metric):
    pass


class Param(_Body):
    key: str
    value: str | None = ""


class LogParam(RunRef, Param):
    pass


class SetTag(RunRef):
    key: str
    value: str = ""


class DeleteTag(RunRef):
    key: str


class LogBatch(RunRef):
    metrics: list[Metric] = []
    params: list[Param] = []
    tags: list[Tag] = []


class SearchRuns(_Body):
    experiment_ids: list[Ident] = []
    filter: str | None = None
    run_view_type: Ident | None = None
    max_results: int | None = None
    order_by: list[str] = []
    page_token: str | None = None


def _service(request: Request) -> MlflowService:
    return request.app.state.mlflow


def install(app: FastAPI) -> None:
    """Mount the MLflow routes on ``app``, with their service (closed when the app stops)."""
    from daybreak.store.engine import get_database

    settings = app.state.settings
    app.state.mlflow = MlflowService(settings, get_database(settings.db_url))
    app.state.mlflow_artifacts = ArtifactProxy(settings, get_database(settings.db_url))
    app.include_router(router)
    app.include_router(artifacts_router)
    app.router.add_event_handler("shutdown", app.state.mlflow.close)


# -- experiments --------------------------------------------------------------------------------
@router.post("/experiments/create")
def create_experiment(body: CreateExperiment, request: Request) -> dict[str, Any]:
    tags = [t.model_dump() for t in body.tags]
    return {"experiment_id": _service(request).create_experiment(body.name, tags)}


@router.get("/experiments/get")
def get_experiment(request: Request, experiment_id: str = Query(...)) -> dict[str, Any]:
    return {"experiment": _service(request).get_experiment(experiment_id)}


@router.get("/experiments/get-by-name")
def get_experiment_by_name(request: Request, experiment_name: str = Query(...)) -> dict[str, Any]:
    return {"experiment": _service(request).get_experiment_by_name(experiment_name)}


@router.post("/experiments/search")
def search_experiments(body: SearchExperiments, request: Request) -> dict[str, Any]:
    return _service(request).search_experiments(
        body.view_type, body.max_results, body.filter, body.order_by, body.page_token
    )


@router.get("/experiments/search")
def search_experiments_get(
    request: Request,
    max_results: int | None = None,
    page_token: str | None = None,
    filter: str | None = None,
    order_by: list[str] = Query([]),
    view_type: str | None = None,
) -> dict[str, Any]:
    return _service(request).search_experiments(
        view_type, max_results, filter, order_by, page_token
    )


@router.post("/experiments/update")
def update_experiment(body: UpdateExperiment, request: Request) -> dict[str, Any]:
    _service(request).update_experiment(body.experiment_id, body.new_name)
    return {}


@router.post("/experiments/delete")
def delete_experiment(body: ExperimentRef, request: Request) -> dict[str, Any]:
    _service(request).set_experiment_archived(body.experiment_id, True)
    return {}


@router.post("/experiments/restore")
def restore_experiment(body: ExperimentRef, request: Request) -> dict[str, Any]:
    _service(request).set_experiment_archived(body.experiment_id, False)
    return {}


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(body: ExperimentTag, request: Request) -> dict[str, Any]:
    _service(request).set_experiment_tag(body.experiment_id, body.key, body.value)
    return {}


@router.post("/experiments/delete-experiment-tag")
def delete_experiment_tag(body: ExperimentTagRef, request: Request) -> dict[str, Any]:
    _service(request).delete_experiment_tag(body.experiment_id, body.key)
    return {}


# -- runs ---------------------------------------------------------------------------------------
@router.post("/runs/create")
def create_run(body: CreateRun, request: Request) -> dict[str, Any]:
    tags = [t.model_dump() for t in body.tags]
    run = _service(request).create_run(
        body.experiment_id, body.run_name, body.start_time, tags, body.user_id
    )
    return {"run": run}


@router.get("/runs/get")
def get_run(
    request: Request, run_id: str | None = None, run_uuid: str | None = None
) -> dict[str, Any]:
    return {"run": _service(request).get_run(run_id or run_uuid or "")}


@router.post("/runs/update")
def update_run(body: UpdateRun, request: Request) -> dict[str, Any]:
    info = _service(request).update_run(body.id, body.status, body.end_time, body.run_name)
    return {"run_info": info}


@router.post("/runs/delete")
def delete_run(body: RunRef, request: Request) -> dict[str, Any]:
    _service(request).delete_run(body.id)
    return {}


@router.post("/runs/restore")
def restore_run(body: RunRef, request: Request) -> dict[str, Any]:
    from daybreak.mlflow_api.errors import MlflowApiError

    raise MlflowApiError(
        f"run {body.id!r} cannot be restored: Daybreak deletes runs for good",
        "log the run again",
        "RESOURCE_DOES_NOT_EXIST",
        404,
    )


@router.post("/runs/log-metric")
async def log_metric(body: LogMetric, request: Request) -> dict[str, Any]:
    service = _service(request)
    metric = body.model_dump(include={"key", "value", "timestamp", "step"})
    if body.id in service._known_runs:  # the hot path: a file append, no database
        service.log_batch(body.id, [metric], [], [])
    else:
        await run_in_threadpool(service.log_batch, body.id, [metric], [], [])
    return {}


@router.post("/runs/log-parameter")
def log_param(body: LogParam, request: Request) -> dict[str, Any]:
    _service(request).log_batch(body.id, [], [{"key": body.key, "value": body.value}], [])
    return {}


@router.post("/runs/set-tag")
def set_tag(body: SetTag, request: Request) -> dict[str, Any]:
    _service(request).set_tag(body.id, body.key, body.value)
    return {}


@router.post("/runs/delete-tag")
def delete_tag(body: DeleteTag, request: Request) -> dict[str, Any]:
    _service(request).delete_tag(body.id, body.key)
    return {}


@router.post("/runs/log-batch")
def log_batch(body: LogBatch, request: Request) -> dict[str, Any]:
    _service(request).log_batch(
        body.id,
        [m.model_dump() for m in body.metrics],
        [p.model_dump() for p in body.params],
        [t.model_dump() for t in body.tags],
    )
    return {}


@router.post("/runs/search")
def search_runs(body: SearchRuns, request: Request) -> dict[str, Any]:
    return _service(request).search_runs(
        body.experiment_ids,
        body.filter,
        body.run_view_type,
        body.max_results,
        body.order_by,
        body.page_token,
    )


@router.get("/metrics/get-history")
def metric_history(
    request: Request,
    metric_key: str,
    run_id: str | None = None,
    run_uuid: str | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> dict[str, Any]:
    return _service(request).metric_history(
        run_id or run_uuid or "", metric_key, max_results, page_token
    )


@router.get("/artifacts/list")
def list_run_artifacts(
    request: Request,
    run_id: str | None = None,
    run_uuid: str | None = None,
    path: str = "",
    page_token: str | None = None,
) -> dict[str, Any]:
    run = _service(request).get_run(run_id or run_uuid or "")["info"]
    where = locate(f"{run['experiment_id']}/{run['run_id']}/artifacts/{safe_relative(path)}")
    prefix = f"{where.path}/" if where.path else ""
    files = [
        {**f, "path": prefix + f["path"]} for f in request.app.state.mlflow_artifacts.list(where)
    ]
    return {"root_uri": artifact_uri(run["experiment_id"], run["run_id"]), "files": files}


@router.post("/logged-models/search")
def search_logged_models(request: Request) -> dict[str, Any]:
    """Daybreak keeps models in its own registry, not as MLflow logged models: there are none
    (the client asks when it lists or downloads a run's artifacts)."""
    return {"models": []}


# -- the artifact proxy -------------------------------------------------------------------------
@artifacts_router.get("/artifacts")
def list_artifacts(request: Request, path: str = "") -> dict[str, Any]:
    where = _located(request, path)
    return {"files": request.app.state.mlflow_artifacts.list(where)}


@artifacts_router.put("/artifacts/{path:path}")
async def upload_artifact(path: str, request: Request) -> dict[str, Any]:
    where = await run_in_threadpool(_located, request, path)
    limit = request.app.state.settings.max_upload_mb * 2**20
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise _too_large(request)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "upload"
        size = 0
        with open(target, "wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(request)
                handle.write(chunk)
        await run_in_threadpool(request.app.state.mlflow_artifacts.put, where, target)
    return {}


@artifacts_router.get("/artifacts/{path:path}")
def download_artifact(path: str, request: Request) -> Response:
    where = _located(request, path)
    handle, size = request.app.state.mlflow_artifacts.open(where)

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(1 << 20):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size)},
    )


def _located(request: Request, path: str) -> Any:
    where = locate(path)
    _service(request)._run_id(where.run_id)
    return where


def _too_large(request: Request) -> PayloadTooLargeError:
    mb = request.app.state.settings.max_upload_mb
    return PayloadTooLargeError(
        f"artifact is over {mb} MiB", "raise DAYBREAK_MAX_UPLOAD_MB on the server"
    )


def not_found(path: str) -> JSONResponse:
    """Endpoints of the MLflow API that Daybreak does not answer (models, traces, …)."""
    body = {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": f"Daybreak does not implement {path} (see docs/mlflow.md for what it answers)",
    }
    return JSONResponse(body, status_code=404)
