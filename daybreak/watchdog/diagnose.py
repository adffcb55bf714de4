"""``diagnose(run, now=None)``: every finding about one stored run, live or ended."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from daybreak.tracking.points import History
from daybreak.tracking.records import RunRecord
from daybreak.watchdog import rules
from daybreak.watchdog.findings import Finding
from daybreak.watchdog.roles import find_roles, gpu_util_keys

KNOWN_ERRORS = (
    (
        re.compile(r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED", re.I),
        "oom",
        "the GPU ran out of memory",
        "lower the batch size, use gradient accumulation, activation "
        "checkpointing or mixed precision",
    ),
    (
        re.compile(r"DataLoader worker \(pid[^)]*\) is killed|Killed\s*$|oom-kill", re.I | re.M),
        "oom",
        "the process (or a data loader worker) was killed, usually for using too much RAM",
        "fewer DataLoader workers, smaller prefetch, or more memory for the job",
    ),
    (
        re.compile(
            r"NCCL (error|WARN.*timeout)|Watchdog caught collective operation timeout", re.I
        ),
        "known_error",
        "a distributed collective failed or timed out",
        "look for a rank that died or hung; restart from the last checkpoint",
    ),
    (
        re.compile(r"No space left on device", re.I),
        "known_error",
        "the disk filled up",
        "free space where checkpoints and logs go",
    ),
    (
        re.compile(r"Segmentation fault|core dumped", re.I),
        "known_error",
        "the process crashed in native code",
        "check library versions (CUDA, drivers) and custom extensions",
    ),
)


def diagnose(run: Any, now: float | None = None) -> list[Finding]:
    """Findings about ``run`` (a run id or ``daybreak.get_run(...)``) as of ``now`` (unix time;
    default: now), most severe first."""
    import daybreak

    view = daybreak.get_run(run) if isinstance(run, str) else run
    return diagnose_series(view.record, view.metric_keys(), view.history, _log_tail(view), now)


def diagnose_series(
    record: RunRecord,
    keys: list[str],
    read: Callable[[str], History],
    log_text: str = "",
    now: float | None = None,
) -> list[Finding]:
    """Findings about one run given its record, its metric keys, a way to read a key's
    history (the continuous watchdog passes its cache) and the tail of its log."""
    now = time.time() if now is None else now
    found, loss = series_findings(record, keys, read, now)
    return ranked(found + state_findings(record, loss, log_text, now))


def ranked(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by step."""
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (order[f.severity], f.step if f.step is not None else -1))


def series_findings(
    record: RunRecord, keys: list[str], read: Callable[[str], History], now: float
) -> tuple[list[Finding], History | None]:
    """What the metric points say (they change only when points arrive); also returns the
    training loss the liveness checks need."""
    roles = find_roles(keys, record.config if isinstance(record.config, dict) else {})
    histories = {role: _upto(read(key), now) for role, key in roles.items()}
    findings: list[Finding] = []
    loss = histories.get("loss")
    for role in ("loss", "grad_norm"):
        if histories.get(role) is not None and (found := rules.nan(histories[role], role)):
            findings.append(found)
    if loss is None or not len(loss):
        return findings, loss
    diverged = rules.divergence(loss)
    findings += [f for f in (diverged, rules.no_learning(loss, histories.get("lr"))) if f]
    if diverged is None and (spike := rules.loss_spike(loss)):
        findings.append(spike)
    if histories.get("val_loss") is not None and (
        over := rules.overfitting(loss, histories["val_loss"])
    ):
        findings.append(over)
    if dropped := rules.throughput_drop(loss):
        findings.append(dropped)
    for key in gpu_util_keys(keys):
        if idle := rules.gpu_idle(_upto(read(key), now), loss.timestamps, loss.steps):
            findings.append(idle)
            break
    return findings, loss


def state_findings(
    record: RunRecord, loss: History | None, log_text: str, now: float
) -> list[Finding]:
    """What the run's state, heartbeat and log say (they change with time alone)."""
    live = _liveness(record, loss, now) if loss is not None and len(loss) else []
    return live + _ended(record, loss, log_text)


def _upto(history: History, now: float) -> History:
    """The points logged by ``now`` (diagnosing a run as it was then)."""
    keep = history.timestamps <= now
    if keep.all():
        return history
    return History(history.key, history.steps[keep], history.timestamps[keep], history.values[keep])


HEARTBEAT_DEAD_AFTER = 120.0  # seconds without a heartbeat (one every 5 s): the process is gone


def _liveness(record: RunRecord, loss: History, now: float) -> list[Finding]:
    if record.status != "running" or len(loss.timestamps) < 4:
        return []
    beat = record.last_heartbeat
    if beat is not None and now - beat > HEARTBEAT_DEAD_AFTER:
        step = int(loss.steps[-1])
        return [
            Finding(
                "crashed",
                "critical",
                step,
                f"the process stopped sending heartbeats {now - beat:.0f} s ago (last step {step})",
                "it died without a traceback (killed, OOM-killed, machine lost): resume it from "
                "its last checkpoint (`daybreak jobs retry` for a queued job)",
                {"heartbeat_age_s": now - beat},
            )
        ]
    stamps = loss.timestamps
    if not bool(np.all(stamps[1:] >= stamps[:-1])):  # a clock that went backwards
        stamps = np.sort(stamps)
    intervals = np.diff(stamps)
    found = rules.stalled(float(loss.timestamps.max()), intervals, now, int(loss.steps[-1]))
    return [found] if found else []


def _ended(record: RunRecord, loss: History | None, log_text: str) -> list[Finding]:
    """A run that ended without finishing, and errors recognised in its error or log."""
    step = int(loss.steps[-1]) if loss is not None and len(loss) else None
    out: list[Finding] = []
    text = (record.error or "") + "\n" + log_text
    for pattern, kind, what, suggestion in KNOWN_ERRORS:
        if match := pattern.search(text):
            out.append(
                Finding(kind, "critical", step, what, suggestion, {"match": match.group(0)[:200]})
            )
            break
    if record.status in ("crashed", "failed"):
        last_line = (record.error or "").strip().splitlines()[-1:] or ["no error recorded"]
        out.append(
            Finding(
                "crashed",
                "critical",
                step,
                f"the run {record.status} at step {step}: {last_line[0][:300]}",
                "read the traceback; fix and resume from the last checkpoint "
                "(`daybreak jobs retry` for a queued job)",
                {"status": record.status},
            )
        )
    return out


def _log_tail(view: Any, size: int = 20000) -> str:
    try:
        text = view.logs()
    except Exception:  # no log file, or a remote store without one
        return ""
    return str(text[-size:])
