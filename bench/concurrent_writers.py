"""Twenty concurrent writers for ten minutes on PostgreSQL (issue 8): zero errors, zero lost
points, the p99 ingest latency.

A ``daybreak server`` process over a PostgreSQL database (``--postgres URL``; a fresh database
is made from it) takes the writes. Twenty writers, threads spread over two client processes,
each own a run and do what the SDK's remote mode does: every 0.5 s they send what their
training loop logged since (10 metrics at 40 steps/s, so 200 steps x 10 keys per batch) as one
binary points batch with a sequence number, retried on failure. Ingest latency is the time from
sending a batch to the server's reply (written and indexed). At the end every run's every key
is read back and counted. Baseline, for context: the same batches sent by one writer alone.

    python bench/concurrent_writers.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
        [--minutes 10] [--writers 20] [--quick]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import _common
from _common import Result

KEYS = [f"train/m{i}" for i in range(10)]
STEPS_PER_SECOND = 40
FLUSH_EVERY_S = 0.5


def writer(url: str, run_id: str, seconds: float, out: dict[str, Any]) -> None:
    """One run's writer: register, send a batch every 0.5 s, finish."""
    import httpx
    import numpy as np

    from daybreak.tracking.points import encode_batch, records_from

    latencies: list[float] = []
    errors: list[str] = []
    client = httpx.Client(base_url=url, timeout=60)
    body = {"project": "writers", "name": run_id, "host": "bench", "pid": os.getpid()}
    client.put(f"/api/runs/{run_id}", json=body).raise_for_status()
    step, seq = 0, 0
    started = time.monotonic()
    next_flush = started + FLUSH_EVERY_S
    while time.monotonic() - started < seconds:
        time.sleep(max(0.0, next_flush - time.monotonic()))
        next_flush += FLUSH_EVERY_S
        count = int(STEPS_PER_SECOND * FLUSH_EVERY_S)
        steps = range(step, step + count)
        now = time.time()
        batch = {
            key: records_from(steps, [now] * count, np.sin(np.arange(step, step + count) + k))
            for k, key in enumerate(KEYS)
        }
        payload = encode_batch(batch)
        for attempt in range(5):
            sent = time.perf_counter()
            try:
                answer = client.post(
                    f"/api/runs/{run_id}/points",
                    content=payload,
                    headers={"X-Daybreak-Seq": str(seq)},
                )
                answer.raise_for_status()
                latencies.append(time.perf_counter() - sent)
                break
            except httpx.HTTPError as exc:
                errors.append(f"batch {seq} attempt {attempt}: {exc}")
                time.sleep(0.5)
        step += count
        seq += 1
    client.post(f"/api/runs/{run_id}/finish", json={"status": "finished"}).raise_for_status()
    out[run_id] = {"latencies": latencies, "errors": errors, "points": step * len(KEYS)}


def client_process(url: str, run_ids: list[str], seconds: float, result_file: str) -> None:
    out: dict[str, Any] = {}
    threads = [
        threading.Thread(target=writer, args=(url, run_id, seconds, out)) for run_id in run_ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Path(result_file).write_text(json.dumps(out))


def run_writers(url: str, count: int, seconds: float, work: Path, tag: str) -> dict[str, Any]:
    run_ids = [f"{tag}{i:02d}" for i in range(count)]
    groups = [run_ids[i::2] for i in range(min(2, count))]
    procs = []
    for i, group in enumerate(groups):
        target = str(work / f"{tag}-{i}.json")
        proc = multiprocessing.Process(target=client_process, args=(url, group, seconds, target))
        proc.start()
        procs.append((proc, target))
    merged: dict[str, Any] = {}
    for proc, target in procs:
        proc.join()
        merged.update(json.loads(Path(target).read_text()))
    return merged


def count_points(url: str, run_ids: list[str]) -> dict[str, int]:
    """Points on the server per run, summed over keys, from the metric index."""
    out = {}
    for run_id in run_ids:
        with urllib.request.urlopen(f"{url}/api/runs/{run_id}/metrics", timeout=60) as answer:
            keys = json.loads(answer.read())["keys"]
        out[run_id] = sum(int(stats["count"]) for stats in keys.values() if stats)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--postgres", required=True, help="a PostgreSQL server URL")
        parser.add_argument("--minutes", type=float, default=10.0)
        parser.add_argument("--writers", type=int, default=20)

    options = _common.args(__doc__.split("\n")[0], extra)
    seconds = 30.0 if options.quick else options.minutes * 60
    from mlflow_client import _free_port, _fresh_pg_database, _server  # shared server plumbing

    with tempfile.TemporaryDirectory(prefix="daybreak-bench-writers-") as tmp:
        work = Path(tmp)
        db_url = _fresh_pg_database(options.postgres, "writers")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAYBREAK_")}
        env.update(
            DAYBREAK_HOME=str(work / "home"),
            DAYBREAK_DB=db_url,
            XDG_CONFIG_HOME=str(work / "xdg"),
            PYTHONPATH=str(_common.REPO),
        )
        command = [sys.executable, "-m", "daybreak.cli", "server", "--port", str(port)]
        with _server(command, env, f"{url}/api/health"):
            alone = run_writers(url, 1, min(60.0, seconds), work, "solo")
            crowd = run_writers(url, options.writers, seconds, work, "w")
            stored = count_points(url, list(crowd) + list(alone))
    sent = {run_id: data["points"] for run_id, data in {**crowd, **alone}.items()}
    lost = sum(sent[r] - stored.get(r, 0) for r in sent)
    errors = [e for data in crowd.values() for e in data["errors"]]
    latencies = [x * 1000 for data in crowd.values() for x in data["latencies"]]
    solo = [x * 1000 for data in alone.values() for x in data["latencies"]]
    total = sum(data["points"] for data in crowd.values())
    note = (
        f"{options.writers} writers x {seconds / 60:.1f} min, {total:,} points in "
        f"{len(latencies):,} batches ({total / seconds:,.0f} points/s); p50 "
        f"{percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, max "
        f"{max(latencies):.1f} ms; errors (retried): {len(errors)}"
        + (f", first: {errors[0]}" if errors else "")
    )
    results = [
        Result("points lost", float(lost), "points", "points sent", float(sum(sent.values())),
               floor=0.0, note=note),
        Result("failed batch attempts", float(len(errors)), "errors", "batches",
               float(len(latencies)), floor=0.0),
        Result("ingest latency p99, 20 writers", percentile(latencies, 0.99), "ms",
               "one writer alone", percentile(solo, 0.99)),
        Result("ingest latency p50, 20 writers", percentile(latencies, 0.5), "ms",
               "one writer alone", percentile(solo, 0.5)),
    ]  # fmt: skip
    return _common.report("Concurrent writers on PostgreSQL", results, options)


if __name__ == "__main__":
    sys.exit(main())
