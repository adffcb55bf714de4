"""The kiosk's live demo through the serving layer: each model on show
(:func:`daybreak.registry.showcase.demo_models`) gets its own ``daybreak serve`` app
(:func:`daybreak.serve.app.create_app`), made and loaded on its first photo, kept in step with
the registry by its ModelSet, and stopped with the web app. A photo goes through the serving
app's own predict handler, so the kiosk answers exactly what ``daybreak serve`` would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from daybreak.config import Settings
from daybreak.errors import NotFoundError
from daybreak.registry.showcase import DEMO_ALIAS, DemoModel, demo_models
from daybreak.serve.app import ServeApp, create_app, error_response
from daybreak.serve.errors import UnsupportedMediaTypeError
from daybreak.serve.options import ServeOptions

MAX_UPLOAD_MB = 8.0
OPTIONS = ServeOptions(workers=1, threads=2, batching="off", max_body_mb=MAX_UPLOAD_MB)
OFFER_TTL_S = 5.0  # how long the list of models on show is trusted before asking the registry
PHOTO_TYPES = ("image/", "application/octet-stream", "multipart/form-data")


class DemoServing:
    """The serving apps of the models on show, one per served ref, made on first use."""

    def __init__(self, settings: Settings, options: ServeOptions = OPTIONS) -> None:
        self.settings = settings
        self.options = options
        self._apps: dict[str, ServeApp] = {}
        self._lock = asyncio.Lock()
        self._offer: tuple[float, list[DemoModel]] = (0.0, [])

    async def offered(self) -> list[DemoModel]:
        at, found = self._offer
        if time.monotonic() - at > OFFER_TTL_S:
            found = await asyncio.to_thread(demo_models, self.settings)
            self._offer = (time.monotonic(), found)
        return found

    async def ref_of(self, name: str) -> str:
        """What model ``name`` is served as, or NotFoundError when it is not on show."""
        shown = {m.name: m for m in await self.offered()}
        if name not in shown:
            raise NotFoundError(
                f"the kiosk does not show a model named {name!r}",
                f"give a model the {DEMO_ALIAS!r} alias: daybreak model alias NAME@N {DEMO_ALIAS}",
            )
        return shown[name].ref

    async def app_for(self, ref: str) -> ServeApp:
        """The serving app of ``ref``, loading its model the first time."""
        async with self._lock:
            app = self._apps.get(ref)
            if app is None:
                app = create_app(self.settings, [ref], self.options)
                await app.state.models.start()
                self._apps[ref] = app
        return app

    async def stop(self) -> None:
        apps, self._apps = list(self._apps.values()), {}
        for app in apps:
            await app.state.models.stop()


def serving(request: Request) -> DemoServing:
    state = request.app.state
    if getattr(state, "kiosk_demo", None) is None:
        state.kiosk_demo = DemoServing(state.settings)
    found: DemoServing = state.kiosk_demo
    return found


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Stops the demo's models with the web app (a mounted serving app gets no lifespan)."""
    yield
    demo: DemoServing | None = getattr(app.state, "kiosk_demo", None)
    if demo is not None:
        await demo.stop()


api = APIRouter(prefix="/api/kiosk", tags=["kiosk"], lifespan=lifespan)


@api.get("/demo")
async def demo_json(request: Request) -> dict[str, Any]:
    """The models on show and the largest photo they take."""
    found = await serving(request).offered()
    return {
        "models": [m.to_dict() for m in found],
        "max_upload_bytes": OPTIONS.max_body_bytes,
        "alias": DEMO_ALIAS,
    }


@api.post("/predict/{name}")
async def predict(request: Request, name: str) -> Response:
    """A photo (raw ``image/*`` body or a multipart file) through model ``name``'s serving
    app: its class probabilities, keypoints, mask or boxes, as ``daybreak serve`` answers."""
    demo = serving(request)
    ref = await demo.ref_of(name)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not kind.startswith(PHOTO_TYPES):
        return error_response(
            UnsupportedMediaTypeError(
                f"the demo takes photos, not {kind or 'bodies without a type'!r}",
                "send a JPEG or PNG (Content-Type: image/jpeg) or a multipart file",
            )
        )
    app = await demo.app_for(ref)
    return await app.endpoints.answer(request, name)
