"""The model server (issue 6): ``daybreak serve`` over HTTP vs ONNX Runtime in process, on the
same export with the same sessions and threads, side by side in one run on this CPU.

Model: the MobileNetV2-like classifier of ``daybreak.convert.testing`` (trained briefly at
64x64 on the zoo's shapes; fully convolutional, exported fp32 for 1x1x224x224 inputs, the
size MobileNetV2 serves at). Server: ``daybreak serve`` in its own process, default options
(on 2 cores: two 1-thread sessions). Load: a separate client process, one keep-alive raw
socket per thread sending a request built once, the tensor as application/x-npy. Baseline: the
same two 1-thread sessions driven by two threads in this process (saturation), or one session
run back to back (latency).

Floors: HTTP throughput at saturation (concurrency 4) ≥ 0.8x in process; ≤ 1.5 ms added p50
latency at concurrency 1; p99 ≤ 3x p50 at concurrency 4. Also shown: JSON float lists and an
encoded PNG vs the binary tensor, and one 2-thread session vs two 1-thread sessions.

    python bench/serve.py [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common
from _common import Result

SIZE = 224
SMALL = 96  # a small input, where the fixed cost of a request weighs most
NPY = "application/x-npy"


# -- the load client (run as a separate process: `serve.py --client ...`) ------------------------


def client(
    url: str, model: str, body_file: Path, kind: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    """Latencies of back-to-back requests from ``concurrency`` keep-alive connections, each a
    raw socket sending a request built once (a few tens of microseconds of client CPU each)."""
    host, port = url.split("//", 1)[1].split(":")
    body = body_file.read_bytes()
    head = (
        f"POST /v1/models/{model}/predict HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    request = head.encode() + body
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    start = threading.Barrier(concurrency + 1)
    warm_until, stop_at = 0.0, 0.0

    def worker(out: list[float]) -> None:
        connection = socket.create_connection((host, int(port)))
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start.wait()
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                break
            connection.sendall(request)
            status = _response(connection)
            if status != 200:
                errors.append(str(status))
            if began >= warm_until:
                out.append(time.perf_counter() - began)
        connection.close()

    threads = [threading.Thread(target=worker, args=(out,)) for out in latencies]
    for thread in threads:
        thread.start()
    warm_until = time.perf_counter() + min(0.5, seconds / 4)
    stop_at = warm_until + seconds
    start.wait()
    for thread in threads:
        thread.join()
    flat = [v for out in latencies for v in out]
    return {"latencies": flat, "seconds": seconds, "errors": errors[:5], "error_count": len(errors)}


def _response(connection: socket.socket) -> int:
    """Read one whole response (its headers, then Content-Length bytes); returns its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        rest += chunk
    return int(head.split(b" ", 2)[1])


def load(
    url: str, body: Path, kind: str, concurrency: int, seconds: float, model: str = "mobilenet"
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--client", url, "--model", model, "--body", str(body)]
    command += ["--kind", kind]
    command += ["--concurrency", str(concurrency), "--seconds", str(seconds)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found: dict[str, Any] = json.loads(out)
    if found["error_count"]:
        raise RuntimeError(f"{found['error_count']} requests failed: {found['errors']}")
    return found


# -- the in-process baseline ----------------------------------------------------------------------


def sessions(path: Path, count: int, threads: int) -> list[Any]:
    from daybreak.convert import runtime

    return [runtime.session(path, threads) for _ in range(count)]


def in_process(runs: list[Any], batch: Any, seconds: float) -> dict[str, Any]:
    """Every session run back to back on its own thread (as the server's pool does)."""
    latencies: list[list[float]] = [[] for _ in runs]
    stop_at = time.perf_counter() + seconds

    def drive(session: Any, out: list[float]) -> None:
        feeds = {session.get_inputs()[0].name: batch}
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            session.run(None, feeds)
            out.append(time.perf_counter() - began)

    for session in runs:  # warm up
        drive_once = {session.get_inputs()[0].name: batch}
        for _ in range(5):
            session.run(None, drive_once)
    stop_at = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=drive, args=(s, out))
        for s, out in zip(runs, latencies, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": [v for out in latencies for v in out], "seconds": seconds}


# -- figures --------------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rate(measured: dict[str, Any], rows: int = 1) -> float:
    return len(measured["latencies"]) * rows / measured["seconds"]


def prepare(folder: Path, quick: bool) -> dict[str, tuple[Path, Any]]:
    """Train the classifier, export it for each input size, register each export as the
    recommended one; returns, by model name, the ONNX file and one input."""
    import numpy as np

    from daybreak.blobs import BlobStore
    from daybreak.config import get_settings
    from daybreak.convert import testing
    from daybreak.convert.export import export_onnx
    from daybreak.registry import service
    from daybreak.registry.exports import record_export

    settings = get_settings()
    model = testing.trained_mobilenet(steps=5 if quick else 40, size=64)
    out = {}
    for name, size in (("mobilenet", SIZE), ("mobilenet-small", SMALL)):
        path = export_onnx(model, np.zeros((1, 1, size, size), np.float32), folder / f"{name}.onnx")
        service.register_onnx(
            settings, path, name, "classification", ["square", "cross", "ring", "bar"]
        )
        uri, bytes_, _ = BlobStore(settings.blobs_url).put_file(path, f"exports/{name}/fp32.onnx")
        record_export(
            settings, f"{name}@1", "server-cpu", "onnx", "fp32", "ok", {}, uri, bytes_, True
        )
        images, _ = testing.shapes(1, 7, size)
        out[name] = (path, images.astype(np.float32))
    return out


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "daybreak.cli", "serve", "mobilenet", "mobilenet-small"]
    command += ["--port", str(port)]
    server = subprocess.Popen(command, env=_common.bench_env(home), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not become ready")


def npy_file(path: Path, batch: Any) -> tuple[Path, str]:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, batch)
    path.write_bytes(buffer.getvalue())
    return path, NPY


def bodies(folder: Path, batch: Any) -> dict[str, tuple[Path, str]]:
    import numpy as np
    from PIL import Image

    out = {"npy": npy_file(folder / "body.npy", batch)}
    out["json"] = (folder / "body.json", "application/json")
    out["json"][0].write_text(json.dumps({"inputs": batch.tolist()}))
    image = Image.fromarray((batch[0, 0] * 255).round().astype(np.uint8))
    image.save(folder / "body.png")
    out["png"] = (folder / "body.png", "image/png")
    return out


def measure(options: argparse.Namespace) -> tuple[list[Result], dict[str, Any]]:
    from tests.conftest import free_port

    seconds = 1.0 if options.quick else 2.0
    repeats = 1 if options.quick else 5
    with _common.temp_home("daybreak-bench-serve-") as home, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = prepare(folder, options.quick)
        path, batch = models["mobilenet"]
        small_path, small_batch = models["mobilenet-small"]
        files = bodies(folder, batch)
        small_body = npy_file(folder / "small.npy", small_batch)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(home, port)
        two, one, small_two = sessions(path, 2, 1), sessions(path, 1, 1), sessions(small_path, 2, 1)
        runs: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("proc4", "http4", "proc1", "http1", "small_proc4", "small_http4")
        }
        try:
            for _ in range(repeats):  # interleaved, so that noise hits both sides alike
                runs["proc4"].append(in_process(two, batch, seconds))
                runs["http4"].append(load(url, *files["npy"], 4, seconds))
                runs["proc1"].append(in_process(one, batch, seconds))
                runs["http1"].append(load(url, *files["npy"], 1, seconds))
                runs["small_proc4"].append(in_process(small_two, small_batch, seconds))
                runs["small_http4"].append(load(url, *small_body, 4, seconds, "mobilenet-small"))
            formats = {k: load(url, *files[k], 1, seconds) for k in ("npy", "json", "png")}
        finally:
            server.terminate()
            server.wait(20)
        wide = sessions(path, 1, 2)
        shapes = {
            "two 1-thread sessions, batch 1": rate(in_process(two, batch, seconds)),
            "one 2-thread session, batch 1": rate(in_process(wide, batch, seconds)),
            "one 2-thread session, batch 2": rate(in_process(wide, batch.repeat(2, 0), seconds), 2),
        }
    return figures(runs, formats, shapes)


def figures(
    runs: dict[str, list[dict[str, Any]]],
    formats: dict[str, dict[str, Any]],
    shapes: dict[str, float],
) -> tuple[list[Result], dict[str, Any]]:
    median = _common.median
    proc_rate = [rate(r) for r in runs["proc4"]]
    http_rate = [rate(r) for r in runs["http4"]]
    ratios = [h / p for h, p in zip(http_rate, proc_rate, strict=True)]
    proc_p50 = [quantile(r["latencies"], 0.5) * 1000 for r in runs["proc1"]]
    http_p50 = [quantile(r["latencies"], 0.5) * 1000 for r in runs["http1"]]
    added = [h - p for h, p in zip(http_p50, proc_p50, strict=True)]
    p50_4 = [quantile(r["latencies"], 0.5) * 1000 for r in runs["http4"]]
    p99_4 = [quantile(r["latencies"], 0.99) * 1000 for r in runs["http4"]]
    tails = [t / m for t, m in zip(p99_4, p50_4, strict=True)]
    small = [
        rate(h) / rate(p) for h, p in zip(runs["small_http4"], runs["small_proc4"], strict=True)
    ]
    small_ms = median([quantile(r["latencies"], 0.5) * 1000 for r in runs["small_proc4"]])
    p50 = {k: quantile(v["latencies"], 0.5) * 1000 for k, v in formats.items()}
    best_shape = max(shapes, key=lambda k: shapes[k])
    results = [
        Result(
            "HTTP throughput at saturation (concurrency 4, binary tensor)",
            median(http_rate),
            "req/s",
            "ONNX Runtime in process, same 2x1-thread sessions",
            median(proc_rate),
            floor=0.8,
            higher_is_better=True,
            floor_on_ratio=True,
            ratio_value=median(ratios),
            note=f"ratio = median of per-repeat ratios {_common.spread(ratios)}",
        ),
        Result(
            "added p50 latency at concurrency 1 (binary tensor)",
            median(added),
            "ms",
            "in-process p50 of one run",
            median(proc_p50),
            floor=1.5,
            note=f"HTTP p50 {_common.fmt(median(http_p50))} ms; added per repeat {_common.spread(added)} ms",
        ),
        Result(
            "p99 / p50 at concurrency 4",
            median(tails),
            "x",
            "p50 at concurrency 4",
            median(p50_4),
            floor=3.0,
            baseline_unit="ms",
            ratio_value=median(tails),
            note=f"p99 {_common.fmt(median(p99_4))} ms; ratio per repeat {_common.spread(tails)}",
        ),
        Result(
            f"HTTP throughput at saturation, small input (1x1x{SMALL}x{SMALL})",
            median([rate(r) for r in runs["small_http4"]]),
            "req/s",
            "ONNX Runtime in process, same sessions",
            median([rate(r) for r in runs["small_proc4"]]),
            higher_is_better=True,
            ratio_value=median(small),
            note=f"in-process run {_common.fmt(small_ms)} ms: the fixed cost of a request weighs more; "
            f"ratio per repeat {_common.spread(small)}",
        ),
        Result(
            f"JSON float list p50, image-sized input (1x1x{SIZE}x{SIZE})",
            p50["json"],
            "ms",
            "binary tensor (application/x-npy) p50",
            p50["npy"],
            note="ratio = JSON / binary, concurrency 1",
        ),
        Result(
            "encoded PNG p50 (decode + preprocess in the server)",
            p50["png"],
            "ms",
            "binary tensor (application/x-npy) p50",
            p50["npy"],
        ),
        Result(
            "one 2-thread session, batch 1, in process",
            shapes["one 2-thread session, batch 1"],
            "runs/s",
            "two 1-thread sessions",
            shapes["two 1-thread sessions, batch 1"],
            higher_is_better=True,
            note=f"batch 2 on one 2-thread session: {_common.fmt(shapes['one 2-thread session, batch 2'])} "
            f"rows/s; best: {best_shape}",
        ),
    ]
    return results, {"shapes": shapes, "formats_p50_ms": p50}


def main() -> int:
    if "--client" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--client")
        parser.add_argument("--model")
        parser.add_argument("--body", type=Path)
        parser.add_argument("--kind")
        parser.add_argument("--concurrency", type=int)
        parser.add_argument("--seconds", type=float)
        a = parser.parse_args()
        print(json.dumps(client(a.client, a.model, a.body, a.kind, a.concurrency, a.seconds)))
        return 0
    options = _common.args(__doc__.split("\n")[0])
    sys.path.insert(0, str(_common.REPO))
    results, details = measure(options)
    return _common.report(
        "Serving: daybreak serve vs ONNX Runtime in process", results, options, details
    )


if __name__ == "__main__":
    raise SystemExit(main())
