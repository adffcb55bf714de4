"""The serving ASGI app: ``create_app(settings, refs, options)``. Plain Starlette (no
validation layer), and predictions bypass even its router. The main web app can mount it
(``Mount("/serve", app)``); a mounted app gets no lifespan events, so the parent must call
``app.state.models.start()`` and ``stop()`` from its own lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from daybreak.config import Settings
from daybreak.errors import DaybreakError
from daybreak.serve import outputs
from daybreak.serve.errors import BadInputError
from daybreak.serve.metrics import CONTENT_TYPE, UNKNOWN, ServeMetrics
from daybreak.serve.models import ModelSet, export_facts
from daybreak.serve.options import ServeOptions
from daybreak.serve.requests import read_batch


def error_response(exc: DaybreakError) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)


class Endpoints:
    def __init__(self, models: ModelSet, metrics: ServeMetrics, options: ServeOptions) -> None:
        self.models = models
        self.metrics = metrics
        self.options = options

    async def predict(self, request: Request) -> Response:
        return await self.answer(request, request.path_params["name"])

    async def answer(self, request: Request, name: str) -> Response:
        started = time.perf_counter()
        label, status = UNKNOWN, 200
        try:
            served = self.models.find(name)
            label = served.name
            loaded = served.acquire()
            try:
                batch = await read_batch(request, loaded.model, self.options.max_body_bytes)
                decoded = time.perf_counter()
                ran = await loaded.run(batch)
                self.metrics.queued(label, ran.queue_s)
                predictions = outputs.describe(
                    loaded.version.category,
                    loaded.model.preprocessing,
                    loaded.runner.output_names,
                    ran.outputs,
                    batch.sizes,
                    _min_score(request),
                )
            finally:
                served.release(loaded)
            body = {
                "model": served.name,
                "ref": loaded.version.ref,
                "version": loaded.version.version,
                "category": loaded.version.category,
                "export": export_facts(loaded.export),
                "predictions": predictions,
                "timings": {
                    "decode_ms": (decoded - started) * 1000,
                    "queue_ms": ran.queue_s * 1000,
                    "inference_ms": ran.run_s * 1000,
                    "total_ms": (time.perf_counter() - started) * 1000,
                },
            }
            response: Response = JSONResponse(body)
        except DaybreakError as exc:
            status = exc.http_status
            response = error_response(exc)
        self.metrics.request(label, status, time.perf_counter() - started)
        return response

    async def list_models(self, request: Request) -> Response:
        return JSONResponse({"models": [m.describe() for m in self.models.models]})

    async def show_model(self, request: Request) -> Response:
        try:
            return JSONResponse(self.models.find(request.path_params["name"]).describe())
        except DaybreakError as exc:
            return error_response(exc)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        for model in self.models.models:
            self.metrics.ready.labels(model.name).set(1 if model.status == "ready" else 0)
        states = {
            m.ref: {"status": m.status, **({"error": m.error.to_dict()} if m.error else {})}
            for m in self.models.models
        }
        ready = self.models.ready
        return JSONResponse({"ready": ready, "models": states}, status_code=200 if ready else 503)

    async def metrics_text(self, request: Request) -> Response:
        for model in self.models.models:
            self.metrics.ready.labels(model.name).set(1 if model.status == "ready" else 0)
        return Response(self.metrics.text(), media_type=CONTENT_TYPE)


def _min_score(request: Request) -> float:
    given = request.query_params.get("min_score")
    if given is None:
        return outputs.MIN_SCORE
    try:
        return float(given)
    except ValueError as exc:
        raise BadInputError(f"min_score {given!r} is not a number", "e.g. ?min_score=0.5") from exc


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = DaybreakError(exc.detail or "not found", "see docs/serve.md for the endpoints")
    error.http_status = exc.status_code
    body = error.to_dict() | {"type": "HTTPError"}
    return JSONResponse({"error": body}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    body = {
        "type": "InternalError",
        "message": f"{type(exc).__name__}: {exc}",
        "hint": "see the server's log",
    }
    return JSONResponse({"error": body}, status_code=500)


class ServeApp:
    """The ASGI entry point: predictions go straight to their handler (no router, no
    middleware: about a tenth of a small model's request cost), everything else through the
    Starlette app (health, readiness, metrics, listings, errors, lifespan)."""

    PREFIX, SUFFIX = "/v1/models/", "/predict"

    def __init__(self, app: Starlette, endpoints: Endpoints) -> None:
        self.app = app
        self.endpoints = endpoints
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path, root = scope["path"], scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if path.startswith(self.PREFIX) and path.endswith(self.SUFFIX):
                name = path[len(self.PREFIX) : -len(self.SUFFIX)]
                if name and "/" not in name:
                    response = await self.endpoints.answer(Request(scope, receive), name)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_app(
    settings: Settings,
    refs: list[str],
    options: ServeOptions | None = None,
    on_ready: Callable[[ModelSet], Any] | None = None,
) -> ServeApp:
    """An ASGI app serving ``refs`` (``NAME@ALIAS``, ``NAME@3``, ``NAME``); models load in the
    background at start-up (``/readyz`` answers 503 until they have)."""
    options = options or ServeOptions()
    metrics = ServeMetrics()
    models = ModelSet(settings, refs, options, metrics.batch_of)
    endpoints = Endpoints(models, metrics, options)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def start() -> None:
            await models.start()
            if on_ready is not None:
                on_ready(models)

        starting = asyncio.create_task(start(), name="daybreak-serve-start")
        yield
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await models.stop()

    routes = [
        Route("/v1/models/{name}/predict", endpoints.predict, methods=["POST"]),
        Route("/v1/models/{name}", endpoints.show_model, methods=["GET"]),
        Route("/v1/models", endpoints.list_models, methods=["GET"]),
        Route("/healthz", endpoints.healthz, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        Route("/metrics", endpoints.metrics_text, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.models = models
    app.state.metrics = metrics
    return ServeApp(app, endpoints)
