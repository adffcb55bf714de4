"""The MLflow client logging into Daybreak vs into MLflow's own server (issue 8), side by side.

Both servers run as their own processes on this machine with their default options and the same
kind of backend (SQLite files; ``--postgres URL`` adds a PostgreSQL round, one fresh database
each). A fresh client process per measurement runs unchanged ``mlflow.log_*`` calls with
``MLFLOW_TRACKING_URI`` pointing at one server; rounds alternate between the servers and the
medians of the rounds are compared. Daybreak is measured twice: with Daybreak installed next to
the client (its tracking-store plugin queues metrics and sends them in batches), and with
``DAYBREAK_MLFLOW_BUFFER=0`` (MLflow's stock REST store, one request per call, as a client
without Daybreak installed gets). Each timed loop ends with ``mlflow.end_run()``, which returns
only once every point reached the server, and the points are counted afterwards. Workloads:

- ``log_metric``: one ``mlflow.log_metric`` per step, synchronous (the client's default);
- ``log_metrics x10``: one ``mlflow.log_metrics`` of ten metrics per step (one log-batch);
- ``async log_metric``: ``MLFLOW_ENABLE_ASYNC_LOGGING=true``, unchanged calls.

A third "server" answers every call with a canned reply and does nothing else: what is left
there is the cost of MLflow's stock REST store per call, the best any server reached by one
request per call can do.

    python bench/mlflow_client.py [--quick] [--postgres postgresql+psycopg://…/postgres]
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _common
from _common import Result

FLOOR = 10.0  # Daybreak ≥ 10x faster than MLflow's server

CLIENT = textwrap.dedent(
    """
    import json, os, sys, time
    import mlflow
    workload, steps = sys.argv[1], int(sys.argv[2])
    mlflow.set_experiment("bench")
    run_id = mlflow.start_run().info.run_id
    for i in range(10):  # warm the connection and the server's caches
        mlflow.log_metric("warm", i, step=i)
    if workload == "async":
        mlflow.flush_async_logging()
    mlflow.MlflowClient().get_run(run_id)  # everything before the clock reached the server
    started = time.perf_counter()
    for step in range(steps):
        if workload == "batch10":
            mlflow.log_metrics({f"m{k}": step * 0.1 + k for k in range(10)}, step=step)
        else:
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    if workload == "async":
        mlflow.flush_async_logging()
    mlflow.end_run()
    seconds = time.perf_counter() - started
    client = mlflow.MlflowClient()
    key = "m9" if workload == "batch10" else "loss"
    count = len(client.get_metric_history(run_id, key))
    print(json.dumps({"seconds": seconds, "points": count}))
    """
)

CANNED = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    RUN = {"info": {"run_id": "r1", "experiment_id": "1", "status": "RUNNING",
                    "artifact_uri": "mlflow-artifacts:/1/r1/artifacts",
                    "lifecycle_stage": "active"}, "data": {}}
    REPLIES = {
        "/api/2.0/mlflow/experiments/get-by-name": {"experiment": {
            "experiment_id": "1", "name": "bench", "lifecycle_stage": "active"}},
        "/api/2.0/mlflow/runs/create": {"run": RUN},
        "/api/2.0/mlflow/runs/get": {"run": RUN},
        "/api/2.0/mlflow/runs/update": {"run_info": RUN["info"]},
        "/api/2.0/mlflow/metrics/get-history": {"metrics": []},
    }
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes
        def reply(self):
            size = int(self.headers.get("content-length") or 0)
            self.rfile.read(size)
            body = json.dumps(REPLIES.get(self.path.split("?")[0], {})).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_GET = do_POST = reply
        def log_message(self, *args):
            pass
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)

WORKLOADS = {  # name -> (client workload, steps, points per step, quick steps)
    "log_metric": ("single", 1000, 1, 200),
    "log_metrics x10": ("batch10", 300, 10, 60),
    "async log_metric": ("async", 3000, 1, 500),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(url: str, process: subprocess.Popen[bytes], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {seconds:.0f} s")


@contextmanager
def _server(command: list[str], env: dict[str, str], health: str) -> Iterator[None]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_up(health, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _mlflow_bin() -> str:
    return str(Path(sys.executable).with_name("mlflow"))


@contextmanager
def servers(work: Path, db_urls: dict[str, str]) -> Iterator[dict[str, str]]:
    """Daybreak, MLflow and the canned server, each on its own port; yields their URLs."""
    work.mkdir(parents=True, exist_ok=True)
    ports = {name: _free_port() for name in ("daybreak", "mlflow", "canned")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYBREAK_", "MLFLOW_"))}
    daybreak_env = {
        **env,
        "DAYBREAK_HOME": str(work / "daybreak"),
        "DAYBREAK_DB": db_urls["daybreak"],
        "XDG_CONFIG_HOME": str(work / "xdg"),
        "PYTHONPATH": str(_common.REPO),
    }
    daybreak = [
        sys.executable, "-m", "daybreak.cli", "server", "--port", str(ports["daybreak"])
    ]  # fmt: skip
    mlflow = [
        _mlflow_bin(), "server", "--backend-store-uri", db_urls["mlflow"],
        "--artifacts-destination", str(work / "mlflow-artifacts"),
        "--host", "127.0.0.1", "--port", str(ports["mlflow"]),
    ]  # fmt: skip
    canned_script = work / "canned.py"
    canned_script.write_text(CANNED)
    canned = [sys.executable, str(canned_script), str(ports["canned"])]
    with (
        _server(daybreak, daybreak_env, urls["daybreak"] + "/api/health"),
        _server(mlflow, env, urls["mlflow"] + "/health"),
        _server(canned, env, urls["canned"] + "/health"),
    ):
        yield urls


CLIENTS = {  # who is measured -> (server, the client's Daybreak plugin on)
    "daybreak": ("daybreak", True),
    "daybreak-rest": ("daybreak", False),
    "mlflow": ("mlflow", True),
    "canned": ("canned", False),
}


def measure(url: str, workload: str, steps: int, script: Path, plugin: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DAYBREAK_"))}
    env.update(MLFLOW_TRACKING_URI=url, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    env["DAYBREAK_MLFLOW_BUFFER"] = "1" if plugin else "0"
    if workload == "async":
        env["MLFLOW_ENABLE_ASYNC_LOGGING"] = "true"
    out = subprocess.run(
        [sys.executable, str(script), workload, str(steps)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode:
        raise RuntimeError(f"client against {url} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_round(
    urls: dict[str, str], backend: str, rounds: int, quick: bool, script: Path
) -> list[Result]:
    results = []
    for name, (workload, steps, per_step, quick_steps) in WORKLOADS.items():
        steps = quick_steps if quick else steps
        seconds: dict[str, list[float]] = {who: [] for who in CLIENTS}
        for _ in range(rounds):
            for who, (server, plugin) in CLIENTS.items():
                if who == "canned" and workload == "async":
                    continue
                got = measure(urls[server], workload, steps, script, plugin)
                if who != "canned" and got["points"] != steps:
                    raise RuntimeError(f"{who} kept {got['points']} of {steps} points")
                seconds[who].append(got["seconds"])
        calls = steps
        ours = _common.median(seconds["daybreak"]) / calls * 1000
        theirs = _common.median(seconds["mlflow"]) / calls * 1000
        stock = _common.median(seconds["daybreak-rest"]) / calls * 1000

        def ms(who: str, calls: int = calls, seconds: dict[str, list[float]] = seconds) -> str:
            return _common.spread([s / calls * 1000 for s in seconds[who]])

        note = (
            f"{steps} steps x {per_step} metric(s), {rounds} rounds; Daybreak {ms('daybreak')} ms,"
            f" MLflow {ms('mlflow')} ms per call; Daybreak through MLflow's stock REST store"
            f" {ms('daybreak-rest')} ms ({theirs / stock:.2f}x faster than MLflow)"
        )
        if seconds["canned"]:
            floor_ms = _common.median(seconds["canned"]) / calls * 1000
            note += (
                f"; MLflow's stock REST store against a server that does nothing: {floor_ms:.2f} ms"
                " per call (the best one request per call can do)"
            )
        results.append(
            Result(
                f"{name} into Daybreak ({backend})",
                ours,
                "ms/call",
                f"MLflow server, {backend}",
                theirs,
                floor=FLOOR,
                higher_is_better=True,
                floor_on_ratio=True,
                ratio_value=theirs / ours,
                note=note,
            )
        )
    return results


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--postgres", help="also compare on PostgreSQL (a server URL)")
        parser.add_argument("--rounds", type=int, default=3)

    options = _common.args(__doc__.split("\n")[0], extra)
    rounds = 1 if options.quick else options.rounds
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="daybreak-bench-mlflow-") as tmp:
        work = Path(tmp)
        script = work / "client.py"
        script.write_text(CLIENT)
        sqlite = {
            "daybreak": f"sqlite:///{work / 'daybreak.db'}",
            "mlflow": f"sqlite:///{work / 'mlflow.db'}",
        }
        with servers(work / "sqlite", sqlite) as urls:
            results += run_round(urls, "SQLite", rounds, options.quick, script)
        if options.postgres:
            pg = {name: _fresh_pg_database(options.postgres, name) for name in sqlite}
            with servers(work / "pg", pg) as urls:
                results += run_round(urls, "PostgreSQL", rounds, options.quick, script)
    return _common.report("The MLflow client: Daybreak vs MLflow's server", results, options)


def _fresh_pg_database(url: str, name: str) -> str:
    import sqlalchemy as sa

    database = f"bench_{name}_{os.getpid()}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database}"))
        conn.execute(sa.text(f"CREATE DATABASE {database}"))
    engine.dispose()
    return url.rsplit("/", 1)[0] + f"/{database}"


if __name__ == "__main__":
    sys.exit(main())
