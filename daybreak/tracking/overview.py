"""What the home page says about runs: what is training now (step, progress, ETA), what
ended since a moment (the last Daily Log), and GPU use from the runs' system metrics."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from daybreak.store.engine import Database
from daybreak.store.schema import metric_keys, projects, runs
from daybreak.tracking import points
from daybreak.tracking.records import ENDED, FINISHED, RUNNING, nan_if_none

TOTAL_STEP_KEYS = ("max_steps", "total_steps", "num_steps", "steps")
GPU_UTIL = re.compile(r"^sys/gpu(\d+)/util_percent$")
GPU_MEMORY = "sys/gpu{}/mem_percent"
MAX_LIVE = 50
MAX_PROBLEMS = 50
MAX_FINISHED = 10
MAX_GPU_SERIES = 64


def _run_rows(conn: sa.Connection, where: Any, order: Any, limit: int) -> list[dict[str, Any]]:
    query = (
        sa.select(
            runs.c.id,
            runs.c.name,
            runs.c.status,
            runs.c.config,
            runs.c.host,
            runs.c.error,
            runs.c.started_at,
            runs.c.ended_at,
            runs.c.last_heartbeat,
            projects.c.name.label("project"),
        )
        .select_from(runs.join(projects, projects.c.id == runs.c.project_id))
        .where(where)
        .order_by(order)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def training_now(db: Database, now: float) -> list[dict[str, Any]]:
    """Running runs, newest first, each with its step, a headline metric and, when its config
    says how many steps it will take, its progress and an ETA from its pace so far."""
    with db.read() as conn:
        found = _run_rows(conn, runs.c.status == RUNNING, runs.c.started_at.desc(), MAX_LIVE)
        stats = _key_stats(conn, [r["id"] for r in found])
    for row in found:
        row.update(_progress(row.pop("config") or {}, stats.get(row["id"], {}), now))
        row["duration"] = max(0.0, now - row["started_at"])
    return found


def _key_stats(conn: sa.Connection, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    query = sa.select(metric_keys).where(
        metric_keys.c.run_id.in_(run_ids), sa.not_(metric_keys.c.key.startswith("sys/"))
    )
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute(query).mappings():
        out.setdefault(row["run_id"], {})[row["key"]] = dict(row)
    return out


def _progress(config: dict[str, Any], keys: dict[str, Any], now: float) -> dict[str, Any]:
    steps = {k: s for k, s in keys.items() if s["last_step"] is not None}
    step = max((s["last_step"] for s in steps.values()), default=None)
    total = _total_steps(config)
    rate = _pace(list(steps.values()))
    progress = eta = None
    if step is not None and total:
        progress = min(1.0, (step + 1) / total)
        eta = (total - step - 1) / rate if rate else None
    headline = _headline(keys)
    value = None
    if headline:
        value = nan_if_none(keys[headline]["last"], keys[headline]["count"])
    return {
        "step": step,
        "total_steps": total,
        "progress": progress,
        "eta": max(0.0, eta) if eta is not None else None,
        "steps_per_second": rate,
        "metric": headline,
        "value": value,
    }


def _total_steps(config: dict[str, Any]) -> int | None:
    for key in TOTAL_STEP_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _pace(stats: list[dict[str, Any]]) -> float | None:
    """Steps per second of the key that has gone furthest, over the time it has been logged."""
    if not stats:
        return None
    best = max(stats, key=lambda s: (s["last_step"], s["count"]))
    first, last = best["first_ts"], best["last_ts"]
    if first is None or last is None or last <= first or best["count"] < 2:
        return None
    return float(best["last_step"]) / (last - first) if best["last_step"] > 0 else None


def _headline(keys: dict[str, Any]) -> str | None:
    """The metric a glance wants: a loss (training loss first), else the first key."""
    ordered = sorted(keys, key=lambda k: ("loss" not in k.lower(), not k.startswith("train"), k))
    return ordered[0] if ordered else None


def ended_since(db: Database, since: float, finished_shown: int = MAX_FINISHED) -> dict[str, Any]:
    """Runs that finished, failed, crashed or stopped at or after ``since``, with counts per
    status: every one that did not finish (up to a limit), and the newest few that did."""
    ended = sa.and_(runs.c.status.in_(ENDED), runs.c.ended_at >= since)
    newest = runs.c.ended_at.desc()
    with db.read() as conn:
        counts = {
            status: int(count)
            for status, count in conn.execute(
                sa.select(runs.c.status, sa.func.count()).where(ended).group_by(runs.c.status)
            )
        }
        problems = _run_rows(conn, sa.and_(ended, runs.c.status != FINISHED), newest, MAX_PROBLEMS)
        finished = _run_rows(
            conn, sa.and_(ended, runs.c.status == FINISHED), newest, finished_shown
        )
    for row in problems + finished:
        row.pop("config")
        row["duration"] = max(0.0, (row["ended_at"] or since) - row["started_at"])
    return {
        "since": since,
        "counts": counts,
        "total": sum(counts.values()),
        "problems": problems,
        "finished": finished,
    }


def gpus_now(db: Database) -> list[dict[str, Any]]:
    """The last utilisation (and memory use) of every GPU that a running run reports."""
    query = (
        sa.select(
            metric_keys.c.run_id,
            metric_keys.c.key,
            metric_keys.c["last"],
            runs.c.host,
            runs.c.name,
        )
        .join(runs, runs.c.id == metric_keys.c.run_id)
        .where(runs.c.status == RUNNING, metric_keys.c.key.like("sys/gpu%"))
    )
    with db.read() as conn:
        rows = list(conn.execute(query).mappings())
    by_key = {(r["run_id"], r["key"]): r["last"] for r in rows}
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        match = GPU_UTIL.match(row["key"])
        if match is None:
            continue
        label = _gpu_label(row["host"], match[1])
        memory = by_key.get((row["run_id"], GPU_MEMORY.format(match[1])))
        out[label] = {
            "gpu": label,
            "util": row["last"],
            "memory": memory,
            "run_id": row["run_id"],
            "run": row["name"],
        }
    return [out[k] for k in sorted(out)]


def _gpu_label(host: str, index: str) -> str:
    return f"{host}:gpu{index}" if host else f"gpu{index}"


def gpu_history(
    db: Database, runs_dir: Path, since: float, until: float, buckets: int = 72
) -> dict[str, Any]:
    """GPU utilisation between ``since`` and ``until`` from the runs' ``sys/gpuN/util_percent``
    points, averaged into ``buckets`` time slots, one series per host and GPU."""
    width = (until - since) / buckets
    query = (
        sa.select(metric_keys.c.run_id, metric_keys.c.key, runs.c.host)
        .join(runs, runs.c.id == metric_keys.c.run_id)
        .where(
            metric_keys.c.key.like("sys/gpu%/util_percent"),
            metric_keys.c.last_ts >= since,
            metric_keys.c.first_ts <= until,
        )
        .order_by(metric_keys.c.last_ts.desc())
        .limit(MAX_GPU_SERIES * 4)
    )
    with db.read() as conn:
        found = list(conn.execute(query).mappings())
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    for row in found:
        match = GPU_UTIL.match(row["key"])
        if match is None:
            continue
        label = _gpu_label(row["host"], match[1])
        if label not in sums and len(sums) >= MAX_GPU_SERIES:
            continue
        history = points.read_history(runs_dir / row["run_id"], row["key"])
        ts, values = history.timestamps, history.values
        keep = (ts >= since) & (ts < until) & np.isfinite(values)
        slots = ((ts[keep] - since) // width).astype(np.int64)
        sums.setdefault(label, np.zeros(buckets))
        counts.setdefault(label, np.zeros(buckets))
        np.add.at(sums[label], slots, values[keep])
        np.add.at(counts[label], slots, 1)
    times = [since + (i + 0.5) * width for i in range(buckets)]
    series = [
        {"gpu": label, "values": _means(sums[label], counts[label])} for label in sorted(sums)
    ]
    return {"since": since, "until": until, "times": times, "series": series}


def _means(total: np.ndarray, count: np.ndarray) -> list[float | None]:
    return [
        round(float(s / c), 2) if c and math.isfinite(s / c) else None
        for s, c in zip(total, count, strict=True)
    ]
