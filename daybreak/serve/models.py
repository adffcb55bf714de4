"""The models a server serves: each one's loaded export (sessions, batcher) or the reason it
cannot answer, found again in the registry every few seconds so that a moved alias or a newer
recommended export is swapped in without failing a request."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from daybreak.config import Settings
from daybreak.errors import DaybreakError, NotFoundError
from daybreak.registry.errors import ModelFormatError
from daybreak.registry.records import Export, ModelVersion
from daybreak.serve import inputs
from daybreak.serve.batching import Batcher
from daybreak.serve.errors import ModelUnavailableError, unavailable
from daybreak.serve.options import ServeOptions
from daybreak.serve.runner import GPU, Ran, Runner

log = logging.getLogger("daybreak.serve")
RETIRE_AFTER_S = 60.0  # the longest an old export waits for its requests before it is closed


@dataclasses.dataclass
class Loaded:
    """One version's export, ready to run."""

    version: ModelVersion
    export: Export
    model: inputs.Model
    runner: Runner
    batcher: Batcher | None
    inflight: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return self.version.id, self.export.id

    async def run(self, batch: inputs.Batch) -> Ran:
        return await (self.batcher or self.runner).run(batch.feeds, batch.rows)

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
        self.runner.close()

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version.version,
            "resolved": self.version.ref,
            "export": export_facts(self.export),
            "signature": self.version.signature,
            "providers": self.runner.providers,
            "sessions": self.runner.workers,
            "batching": self.batcher is not None,
        }


def export_facts(export: Export) -> dict[str, Any]:
    return {
        "id": export.id,
        "target": export.target,
        "format": export.format,
        "precision": export.precision,
    }


def locate(settings: Settings, ref: str, target: str | None) -> tuple[ModelVersion, Export]:
    """The version ``ref`` names now and its recommended export."""
    from daybreak.registry.exports import recommended_export
    from daybreak.registry.service import get_version

    version = get_version(settings, ref)
    return version, recommended_export(settings, version.ref, target)


def build(
    settings: Settings,
    version: ModelVersion,
    export: Export,
    options: ServeOptions,
    on_run: Callable[[int], None] | None = None,
) -> Loaded:
    """Sessions for ``export`` (blocking: run it off the event loop)."""
    import onnxruntime

    from daybreak.registry.exports import export_path

    expected = inputs.expected_inputs(version.ref, version.signature)
    wants_gpu = "server-gpu" in (export.target, options.target)
    gpu = wants_gpu and GPU in onnxruntime.get_available_providers()
    providers = (GPU, "CPUExecutionProvider") if gpu else ("CPUExecutionProvider",)
    path = export_path(settings, export)
    runner = Runner(path, options.sessions(gpu), options.threads, providers, on_run)
    model = inputs.Model(
        version.ref, _named(version.ref, expected, runner), dict(version.preprocessing or {})
    )
    batcher = None
    if options.batches(runner.gpu) and runner.batchable():
        batcher = Batcher(runner, options.max_batch, options.batch_wait_ms / 1000)
    return Loaded(version, export, model, runner, batcher)


def _named(ref: str, expected: list[inputs.Expected], runner: Runner) -> list[inputs.Expected]:
    """The signature's inputs under the export's own input names (an exporter may rename
    them), matched by position."""
    if len(expected) != len(runner.input_names):
        runner.close()
        raise ModelFormatError(
            f"{ref}'s signature has {len(expected)} inputs, its export "
            f"{len(runner.input_names)} ({', '.join(runner.input_names)})",
            "convert the version again, or register it with the right signature",
        )
    return [
        dataclasses.replace(e, name=n) for e, n in zip(expected, runner.input_names, strict=True)
    ]


class ServedModel:
    """One ref given to the server: its loaded export, or why it has none."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.name = ref.partition("@")[0]
        self.loaded: Loaded | None = None
        self.error: DaybreakError | None = None
        self.failed: tuple[int, int] | None = None  # the export that could not load
        self.reload_error: str | None = None

    @property
    def status(self) -> str:
        if self.loaded is not None:
            return "ready"
        return "unavailable" if self.error is not None else "loading"

    def acquire(self) -> Loaded:
        """The export to run this request on (counted until :meth:`release`)."""
        loaded = self.loaded
        if loaded is None:
            if self.error is not None:  # a fresh error: re-raising one object grows its traceback
                error = ModelUnavailableError(self.error.message, self.error.hint)
                error.http_status = self.error.http_status
                raise error
            raise ModelUnavailableError(
                f"model {self.name!r} is still loading", "try again in a moment (GET /readyz)"
            )
        loaded.inflight += 1
        return loaded

    @staticmethod
    def release(loaded: Loaded) -> None:
        loaded.inflight -= 1

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "ref": self.ref, "status": self.status}
        if self.loaded is not None:
            out.update(self.loaded.describe())
        if self.error is not None and self.loaded is None:
            out["error"] = self.error.to_dict()
        if self.reload_error:
            out["reload_error"] = self.reload_error
        return out


class ModelSet:
    """Every served model, loaded at start and kept in step with the registry."""

    def __init__(
        self,
        settings: Settings,
        refs: list[str],
        options: ServeOptions,
        on_run: Callable[[str], Callable[[int], None]] | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.models = [ServedModel(ref) for ref in refs]
        self.settled = asyncio.Event()
        self._on_run = on_run
        self._watch: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    def find(self, key: str) -> ServedModel:
        """The model served as ``key`` (its ref as given, else its name: the first one given)."""
        for model in self.models:
            if key == model.ref:
                return model
        for model in self.models:
            if key == model.name:
                return model
        served = ", ".join(m.ref for m in self.models)
        raise NotFoundError(f"no model {key!r} is served here", f"served: {served}")

    @property
    def ready(self) -> bool:
        return all(m.status == "ready" for m in self.models)

    async def start(self) -> None:
        """Load every model, then watch the registry every ``reload_every`` seconds."""
        for model in self.models:
            await self.refresh(model)
        self.settled.set()
        if self.options.reload_every > 0:
            self._watch = asyncio.create_task(self._watch_loop(), name="daybreak-serve-reload")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for model in self.models:
            if model.loaded is not None:
                await model.loaded.close()

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.reload_every)
            for model in self.models:
                try:
                    await self.refresh(model)
                except Exception:  # the watcher must outlive any one model's trouble
                    log.exception("checking %s for a new version failed", model.ref)

    async def refresh(self, model: ServedModel) -> None:
        """Swap in what ``model.ref`` names now when it changed; keep serving what is loaded
        when the registry cannot give a new export."""
        try:
            version, export = await asyncio.to_thread(
                locate, self.settings, model.ref, self.options.target
            )
        except Exception as exc:
            self._failed(model, _as_error(exc))
            return
        key = (version.id, export.id)
        if key == model.failed or (model.loaded is not None and model.loaded.key == key):
            return
        on_run = self._on_run(model.name) if self._on_run else None
        try:
            loaded = await asyncio.to_thread(
                build, self.settings, version, export, self.options, on_run
            )
        except Exception as exc:
            model.failed = key  # tried again only when the registry names another export
            self._failed(model, _as_error(exc))
            return
        self._install(model, loaded)

    def _failed(self, model: ServedModel, exc: DaybreakError) -> None:
        if model.loaded is None:
            model.error = unavailable(model.name, exc)
        else:
            model.reload_error = exc.message
            log.warning("%s: keeping %s: %s", model.ref, model.loaded.version.ref, exc)

    def _install(self, model: ServedModel, loaded: Loaded) -> None:
        old, model.loaded = model.loaded, loaded
        model.error, model.reload_error, model.failed = None, None, None
        if old is not None:
            log.info("%s: %s replaced %s", model.ref, loaded.version.ref, old.version.ref)
            task = asyncio.create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _retire(old: Loaded) -> None:
        """Close the old export once its last request is answered."""
        deadline = time.monotonic() + RETIRE_AFTER_S
        while old.inflight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await old.close()


def _as_error(exc: Exception) -> DaybreakError:
    if isinstance(exc, DaybreakError):
        return exc
    return ModelUnavailableError(f"{type(exc).__name__}: {str(exc)[:300]}", "see the server's log")
