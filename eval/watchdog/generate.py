"""Generate the labelled corpus: train every planned run through the Daybreak SDK into a
throwaway home, export it as runs JSONL, and write its labels.

    python -m eval.watchdog.generate --out eval/watchdog/corpus [--quick] [--seed 0]

Writes ``runs.jsonl.gz`` (every run and point, docs/runs-jsonl.md, gzipped), ``labels.jsonl``
(one line per run: its id, its labels ``[{kind, onset_step, onset_ts}]``, empty for a healthy
run, the ``now`` to diagnose it at, the kinds it may also fairly get, and its shape) and
``manifest.json`` (what was generated, how, and how long it took).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from eval.watchdog import specs
from eval.watchdog.specs import HEALTHY, Spec

RUNS_FILE = "runs.jsonl.gz"
LABELS_FILE = "labels.jsonl"
MANIFEST_FILE = "manifest.json"
MAX_ATTEMPTS = 12
REPO = Path(__file__).resolve().parents[2]

_home: Path | None = None  # this worker's Daybreak home


@dataclasses.dataclass
class Produced:
    """One run of the corpus: its JSONL lines and its label line."""

    index: int
    jsonl: str
    label: dict[str, Any]
    attempts: int
    seconds: float


# -- one run ----------------------------------------------------------------------------------


def settings_for(home: Path) -> Any:
    from daybreak.config import get_settings

    return get_settings(
        home=home, db=f"sqlite:///{home / 'daybreak.db'}", url="", blobs=str(home / "blobs")
    )


def produce(planned: Spec, home: Path) -> Produced:
    """Train ``planned`` (drawn again until it shows what it should), export it, label it."""
    from eval.watchdog.checks import Invalid

    started = time.perf_counter()
    reasons = []
    for attempt in range(MAX_ATTEMPTS):
        spec = specs.make(
            planned.index,
            planned.kind,
            planned.variant,
            planned.quick,
            planned.corpus,
            attempt,
            wide=planned.wide,
        )
        try:
            jsonl, label = train_and_export(spec, home)
        except Invalid as exc:
            reasons.append(str(exc))
            continue
        return Produced(planned.index, jsonl, label, attempt + 1, time.perf_counter() - started)
    raise RuntimeError(
        f"run {planned.index} ({planned.kind}/{planned.variant}) did not show what it should in "
        f"{MAX_ATTEMPTS} draws: {reasons}"
    )


def train_and_export(spec: Spec, home: Path) -> tuple[str, dict[str, Any]]:
    import daybreak
    from eval.watchdog import checks, trainer

    settings = settings_for(home)
    run = daybreak.init(
        home=home,
        db=settings.db,
        url="",
        blobs=settings.blobs,
        project={"cls": "tabular", "reg": "forecast", "cnn": "vision"}[spec.task],
        name=run_name(spec),
        config=config_of(spec),
        tags=[spec.task],
        system_metrics=False,
        capture_output=False,
    )
    try:
        trained = trainer.train(spec, run)
        labels = checks.labels_of(spec, trained)
    except BaseException:
        run.finish("stopped")
        raise
    rng = np.random.default_rng(spec.seed + 1)
    times = timeline(spec, trained, rng)
    for key, (steps, stamps, values) in system_series(spec, trained, times, rng).items():
        for step, ts, value in zip(steps, stamps, values, strict=True):
            run.log({key: value}, step=step, timestamp=ts)
    run.finish("failed" if times["error"] else "finished")
    run_id = run_id_of(spec)
    out = io.StringIO()
    from daybreak.tracking.readers import LocalBackend
    from daybreak.tracking.transfer import export_run

    export_run(LocalBackend(settings), run.id, out)
    lines = out.getvalue().splitlines(keepends=True)
    lines[0] = rewrite_run_line(lines[0], spec, run_id, times)
    loss_steps, loss_ts, _ = trained.series[trainer.STYLES[spec.style]["loss"]]
    ts_of = dict(zip(loss_steps, loss_ts, strict=True))
    for label in labels:
        label["onset_ts"] = ts_of.get(label["onset_step"]) or onset_time(trained, label)
    label_line = {
        "run_id": run_id,
        "labels": labels,
        "now": round(times["now"], 3),
        "allow": checks.ALLOWED.get(spec.kind, []),
        "variant": spec.variant,
        "shape": shape_of(spec),
    }
    return "".join(lines), label_line


def onset_time(trained: Any, label: dict[str, Any]) -> float:
    step = min(label["onset_step"], len(trained.step_ts) - 1)
    return round(float(trained.step_ts[step]), 3)


def timeline(spec: Spec, trained: Any, rng: np.random.Generator) -> dict[str, Any]:
    """When the run ended (or None), its last heartbeat, its status and error, when the
    process stopped training, and ``now``: the time to diagnose it at."""
    from eval.watchdog import trainer

    loss_ts = np.asarray(trained.series[trainer.STYLES[spec.style]["loss"]][1])
    last = float(loss_ts[-1])
    interval = float(np.median(np.diff(loss_ts))) if len(loss_ts) > 1 else spec.cadence
    error = trained.error
    status = spec.status
    alive_until = float("inf")
    ended: float | None = None
    if error:  # an exception, or a NaN guard: failed, with the traceback
        status, ended = "failed", trained.end_ts
        error = error.replace(str(REPO / "eval" / "watchdog" / "trainer.py"), "/srv/ml/train.py")
    elif status in ("finished", "stopped"):
        ended = trained.end_ts + float(rng.uniform(0.5, 3))
        error = "interrupted (Ctrl-C)" if status == "stopped" else None
    elif spec.variant == "killed":  # killed -9: Daybreak marked it crashed when it went quiet
        ended = last + float(rng.uniform(0, 5))
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ended + 30))
        error = f"process stopped sending heartbeats (marked crashed at {when})"
    if ended is not None:
        return {
            "status": status,
            "ended": ended,
            "heartbeat": ended,
            "error": error,
            "now": ended + spec.review,
            "sys_end": ended,
            "alive_until": alive_until,
        }
    # still marked running: alive (training, or hung) or gone without a word (vanished)
    if spec.variant == "vanished":
        heartbeat = last + float(rng.uniform(0, 5))
        now = heartbeat + spec.review
        return {
            "status": "running",
            "ended": None,
            "heartbeat": heartbeat,
            "error": None,
            "now": now,
            "sys_end": heartbeat,
            "alive_until": alive_until,
        }
    if spec.kind == "stalled":
        gaps = np.diff(loss_ts)
        longest = float(gaps.max()) if len(gaps) else interval
        stall = max(300.0, 30 * interval, 3 * longest) * float(spec.fault["stall_factor"])
        now = last + stall
        alive_until = last
    elif spec.fault.get("in_eval"):  # inside an evaluation as long as the earlier ones
        now = last + spec.eval_pause * float(rng.uniform(0.2, 0.9))
        trained.segments.append((last, now, "eval"))
    else:
        now = last + interval * float(rng.uniform(0.1, 1.0))
    return {
        "status": "running",
        "ended": None,
        "heartbeat": now - float(rng.uniform(0, 5)),
        "error": None,
        "now": now,
        "sys_end": now,
        "alive_until": alive_until,
    }


def system_series(
    spec: Spec, trained: Any, times: dict[str, Any], rng: np.random.Generator
) -> dict[str, tuple[list[int], list[float], list[float]]]:
    from eval.watchdog import trainer

    idle_from = slow_from = None
    if spec.kind == "gpu_idle":
        idle_from = spec.t0 if not spec.onset else trained.step_ts[spec.onset]
    if spec.variant == "slow_io_idle_gpu" and spec.onset:
        slow_from = trained.step_ts[spec.onset - 1]
    return trainer.system_metrics(
        spec,
        trained.segments,
        times["sys_end"],
        times["alive_until"],
        idle_from,
        slow_from,
        rng,
    )


def run_id_of(spec: Spec) -> str:
    """Stable per run; the committed corpus's (seed 0, not wide) ids are its index's hash."""
    name = (
        f"{spec.index}"
        if not (spec.corpus or spec.wide)
        else (f"{spec.corpus}:{'wide' if spec.wide else 'plain'}:{spec.index}")
    )
    return hashlib.sha256(f"daybreak-watchdog-corpus:{name}".encode()).hexdigest()[:12]


def run_name(spec: Spec) -> str:
    model = f"cnn-w{spec.width}" if spec.task == "cnn" else f"mlp-w{spec.width}x{spec.depth}"
    return f"{model}-{spec.optimizer}-lr{spec.lr:.0e}-b{spec.batch}"


def config_of(spec: Spec) -> dict[str, Any]:
    """What a training script would put in its config: no word of the fault."""
    config: dict[str, Any] = {
        "task": spec.task,
        "model": {"kind": "cnn" if spec.task == "cnn" else "mlp", "width": spec.width},
        "optimizer": {"name": spec.optimizer, "lr": spec.lr, "weight_decay": spec.weight_decay},
        "batch_size": spec.batch,
        "steps": spec.steps,
        "schedule": {"name": spec.schedule, "warmup": spec.warmup},
        "data": {"train_size": spec.n_train},
        "seed": spec.index,
    }
    if spec.task != "cnn":
        config["model"]["depth"] = spec.depth
    if spec.style == "declared":
        from eval.watchdog.trainer import STYLES

        names = STYLES["declared"]
        config["watchdog"] = {role: names[role] for role in ("loss", "val_loss", "grad_norm", "lr")}
    return config


def shape_of(spec: Spec) -> dict[str, Any]:
    """The spec's shape, for breaking results down (not for the detector)."""
    return {
        "task": spec.task,
        "steps": spec.steps,
        "loss_scale": float(f"{spec.loss_scale:.3g}"),
        "batch": spec.batch,
        "optimizer": spec.optimizer,
        "schedule": spec.schedule,
        "style": spec.style,
        "log_every": spec.log_every,
        "log_mode": spec.log_mode,
        "cadence": float(f"{spec.cadence:.3g}"),
        "eval_every": spec.eval_every,
        "eval_pause": round(spec.eval_pause, 1),
        "gpus": spec.gpus,
        "status": spec.status,
    }


def rewrite_run_line(line: str, spec: Spec, run_id: str, times: dict[str, Any]) -> str:
    """The exported run line on the virtual clock, with a fixed host and environment so the
    corpus is the same wherever it is generated."""
    record = json.loads(line)["run"]
    digest = hashlib.sha1(run_id.encode()).hexdigest()
    record.update(
        id=run_id,
        status=times["status"],
        started_at=round(spec.t0, 3),
        ended_at=None if times["ended"] is None else round(times["ended"], 3),
        last_heartbeat=round(times["heartbeat"], 3),
        error=times["error"],
        git={"commit": digest, "branch": "main", "dirty": False},
        host=f"gpu-{int(digest[:2], 16) % 4 + 1}" if spec.gpus else "cpu-1",
        command="python train.py --config config.yaml",
        environment={"python": "3.11.9", "torch": "2.3.1"},
        attempts=2 if spec.variant == "resumed" else 1,
    )
    return json.dumps({"run": record}) + "\n"


# -- the pool -----------------------------------------------------------------------------------


def _init_worker(root: str) -> None:
    import torch

    global _home
    torch.set_num_threads(1)
    _home = Path(root) / f"home-{os.getpid()}"
    _home.mkdir(parents=True, exist_ok=True)


def _produce_here(planned: Spec) -> Produced:
    assert _home is not None
    return produce(planned, _home)


def generate(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    workers: int = 2,
    limit: int | None = None,
    progress: bool = True,
    wide: bool = False,
    healthy: int | None = None,
    per_kind: int | None = None,
) -> dict[str, Any]:
    """Generate a corpus into ``out``; returns its manifest. ``wide``: a held-out corpus of
    shapes beyond the committed one's (specs._widen)."""
    started = time.perf_counter()
    plan = specs.plan(quick, seed, wide, healthy, per_kind)[:limit]
    out.mkdir(parents=True, exist_ok=True)
    root = tempfile.mkdtemp(prefix="daybreak-corpus-")
    results: list[Produced] = []
    try:
        if workers <= 1:
            _init_worker(root)
            for spec in plan:
                results.append(_produce_here(spec))
                _show(progress, len(results), len(plan), results[-1])
        else:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=context, initializer=_init_worker, initargs=(root,)
            ) as pool:
                for produced in pool.map(_produce_here, plan, chunksize=1):
                    results.append(produced)
                    _show(progress, len(results), len(plan), produced)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results.sort(key=lambda r: r.index)
    with gzip.GzipFile(out / RUNS_FILE, "wb", mtime=0) as raw:
        for produced in results:
            raw.write(produced.jsonl.encode())
    with (out / LABELS_FILE).open("w") as handle:
        for produced in results:
            handle.write(json.dumps(produced.label) + "\n")
    manifest = {
        "quick": quick,
        "seed": seed,
        "wide": wide,
        "runs": len(results),
        "healthy": sum(1 for r in results if not r.label["labels"]),
        "labels": dict(Counter(x["kind"] for r in results for x in r.label["labels"])),
        "variants": dict(Counter(r.label["variant"] for r in results)),
        "points": sum(r.jsonl.count("\n") - 1 for r in results),
        "redraws": sum(r.attempts - 1 for r in results),
        "train_seconds": round(sum(r.seconds for r in results), 1),
        "seconds": round(time.perf_counter() - started, 1),
        "workers": workers,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _show(progress: bool, done: int, total: int, produced: Produced) -> None:
    if progress:
        kinds = ",".join(x["kind"] for x in produced.label["labels"]) or HEALTHY
        print(
            f"[{done}/{total}] {produced.label['run_id']} {kinds} ({produced.label['variant']}) "
            f"{produced.seconds:.1f}s, {produced.attempts} draw(s)",
            file=sys.stderr,
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("eval/watchdog/corpus"))
    parser.add_argument("--quick", action="store_true", help="~30 short runs, for tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--limit", type=int, default=None, help="only the first N planned runs")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="a held-out corpus: shapes beyond the committed one's (losses to 1e4, 30-12000 "
        "steps, batches of 2, more schedules, idle GPUs during evaluations, longer pauses)",
    )
    parser.add_argument("--healthy", type=int, default=None, help="healthy runs (default 150)")
    parser.add_argument("--per-kind", type=int, default=None, help="runs per fault kind (14)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    manifest = generate(
        args.out,
        args.quick,
        args.seed,
        args.workers,
        args.limit,
        progress=not args.quiet,
        wide=args.wide,
        healthy=args.healthy,
        per_kind=args.per_kind,
    )
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
