"""Metrics, hot reload, dynamic batching and the ``daybreak serve`` command, on real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from daybreak.registry.aliases import set_alias
from daybreak.registry.exports import list_exports
from daybreak.serve.options import ServeOptions
from daybreak.serve.server import ServeThread
from tests.conftest import free_port
from tests.serve.conftest import Zoo, export_version, npy

NPY = {"content-type": "application/x-npy"}


def samples(name: str, text: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample called ``name`` in Prometheus text, by its sorted labels."""
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def tensors(count: int) -> np.ndarray:
    from daybreak.zoo import classifier

    images, _ = classifier.make_shapes(count, seed=9)
    return images.numpy().astype(np.float32)


def test_metrics_count_requests_latency_queue_and_batches(zoo: Zoo) -> None:
    with ServeThread(zoo.settings, ["shapes@production"], ServeOptions(workers=1)) as server:
        predict = f"{server.url}/v1/models/shapes/predict"
        for row in tensors(3):
            assert httpx.post(predict, content=npy(row), headers=NPY).status_code == 200
        assert httpx.post(predict, content=b"", headers=NPY).status_code == 400
        assert httpx.post(f"{server.url}/v1/models/who/predict", content=b"x").status_code == 404
        answer = httpx.get(f"{server.url}/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    requests = samples("daybreak_serve_requests_total", text)
    assert requests[(("model", "shapes"), ("status", "200"))] == 3
    assert requests[(("model", "shapes"), ("status", "400"))] == 1
    assert requests[(("model", "-"), ("status", "404"))] == 1
    assert samples("daybreak_serve_request_seconds_count", text)[(("model", "shapes"),)] == 4
    assert samples("daybreak_serve_queue_seconds_count", text)[(("model", "shapes"),)] == 3
    assert samples("daybreak_serve_batch_size_sum", text)[(("model", "shapes"),)] == 3
    assert samples("daybreak_serve_model_ready", text)[(("model", "shapes"),)] == 1


def test_moving_an_alias_swaps_versions_without_failing_a_request(zoo: Zoo) -> None:
    settings = zoo.settings
    set_alias(settings, "shapes@1", "canary")
    options = ServeOptions(workers=2, reload_every=0.1)
    answers: list[list[tuple[int, int | None, int | None]]] = [[], []]
    stop = threading.Event()
    row = npy(tensors(1)[0])

    def hammer(out: list[tuple[int, int | None, int | None]], url: str) -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                answer = client.post(url, content=row, headers=NPY)
                body = answer.json()
                export = body.get("export", {}).get("id")
                out.append((answer.status_code, body.get("version"), export))

    def wait_for(check: object) -> None:
        deadline = time.monotonic() + 15
        while not any(check(a) for a in answers[0][-3:]):  # type: ignore[operator]
            assert time.monotonic() < deadline, answers[0][-3:]
            time.sleep(0.05)

    with ServeThread(settings, ["shapes@canary"], options) as server:
        url = f"{server.url}/v1/models/shapes/predict"
        threads = [threading.Thread(target=hammer, args=(out, url)) for out in answers]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        set_alias(settings, "shapes@2", "canary", note="promote")
        wait_for(lambda a: a[1] == 2)
        export_version(settings, "shapes@2")  # a newer recommended export appears
        newest = max(e.id for e in list_exports(settings, "shapes@2"))
        wait_for(lambda a: a[2] == newest)
        time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join()
        listed = httpx.get(f"{server.url}/v1/models").json()["models"][0]
    for out in answers:
        assert {status for status, _, _ in out} == {200}
        versions = [v for _, v, _ in out]
        assert versions[0] == 1 and versions[-1] == 2
        assert versions == sorted(versions)  # once a thread saw version 2, it never saw 1 again
    assert listed["version"] == 2 and listed["export"]["id"] == newest


def test_batching_on_runs_concurrent_requests_together(zoo: Zoo) -> None:
    import onnxruntime

    rows = tensors(8)
    session = onnxruntime.InferenceSession(str(zoo.files["shapes@1"]))
    expected = session.run(None, {"input": rows})[0].argmax(1).tolist()
    options = ServeOptions(workers=1, batching="on", max_batch=8, batch_wait_ms=100)
    with ServeThread(zoo.settings, ["shapes@production"], options) as server:
        url = f"{server.url}/v1/models/shapes/predict"
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda r: httpx.post(url, content=npy(r), headers=NPY), rows))
        text = httpx.get(f"{server.url}/metrics").text
        listed = httpx.get(f"{server.url}/v1/models").json()["models"][0]
    assert [a.status_code for a in answers] == [200] * 8
    assert [a.json()["predictions"][0]["index"] for a in answers] == expected
    runs = samples("daybreak_serve_batch_size_count", text)[(("model", "shapes"),)]
    assert samples("daybreak_serve_batch_size_sum", text)[(("model", "shapes"),)] == 8
    assert runs < 8  # some requests shared a run
    assert listed["batching"] is True


def test_the_serve_command_serves_until_interrupted(zoo: Zoo) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYBREAK_")}
    env.update(DAYBREAK_HOME=str(zoo.settings.home), DAYBREAK_DB=zoo.settings.db_url)
    command = [sys.executable, "-m", "daybreak.cli", "serve", "shapes@production", "noexport"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--reload-every", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
                if ready.json()["models"]["shapes@production"]["status"] != "loading":
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert ready.status_code == 503  # noexport has no export
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/shapes/predict",
            content=npy(tensors(1)),
            headers=NPY,
        )
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    words = " ".join(output.split())  # the console may wrap long lines
    assert "ready shapes@production → shapes@1" in words
    assert "not loaded noexport" in words and "daybreak convert noexport@1" in words


def test_the_app_mounts_under_a_prefix_of_another_app(zoo: Zoo) -> None:
    import contextlib
    from collections.abc import AsyncIterator

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from daybreak.serve.app import create_app

    served = create_app(zoo.settings, ["shapes@production"], ServeOptions(workers=1))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await served.state.models.start()
        yield
        await served.state.models.stop()

    parent = Starlette(routes=[Mount("/serve", app=served)], lifespan=lifespan)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(parent, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{port}/serve"
        answer = httpx.post(
            f"{base}/v1/models/shapes/predict", content=npy(tensors(1)), headers=NPY
        )
        assert answer.status_code == 200 and answer.json()["version"] == 1
        assert httpx.get(f"{base}/readyz").json()["ready"] is True
    finally:
        server.should_exit = True
        thread.join(10)
