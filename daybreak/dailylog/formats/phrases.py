"""How the log words things: numbers, durations, and one outline item per problem, run,
dataset, note or action item."""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import ZoneInfo

from daybreak.dailylog.formats.outline_types import Item
from daybreak.dailylog.window import local_text
from daybreak.display import format_duration

CHANGE_LABELS = {
    "finished": "Finished",
    "failed": "Failed",
    "crashed": "Crashed",
    "stalled": "Stalled",
    "running": "Still running",
    "queued": "Queued",
    "problems": "Problems",
    "gpu_used_hours": "GPU-hours used",
    "gpu_idle_hours": "GPU-hours idle",
}
ACTION_WORDS = {
    "notify": "notified the team",
    "stop": "stopped the job",
    "restart": "restarted from a checkpoint",
    "skipped": "did not act",
}
EVIDENCE_SHOWN = 6


def num(value: Any) -> str:
    """Four significant digits; NaN and Inf by name."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Inf" if value > 0 else "-Inf")
    return f"{value:.4g}"


def hours(value: float) -> str:
    """GPU-hours with one decimal."""
    return f"{value:.1f}"


def then_now(then: float, now: float) -> str:
    """``3 → 5 (+2)``, or ``5 (same)``."""
    delta = now - then
    sign = "+" if delta > 0 else ""
    shown = (lambda v: f"{v:.1f}") if isinstance(now, float) else num
    return (
        f"{shown(then)} → {shown(now)} ({sign}{shown(delta)})" if delta else f"{shown(now)} (same)"
    )


def run_label(item: dict[str, Any]) -> str:
    """``project/run-name (run id)``."""
    return f"{item['project']}/{item['run_name']} ({item['run_id'][:8]})"


def problem(p: dict[str, Any], zone: ZoneInfo) -> Item:
    """One problem: what, when, evidence, cause, suggestion, what Daybreak did, a chart."""
    lines = [("What", p["message"])]
    when = []
    if p["onset_step"] is not None:
        when.append(f"from step {p['onset_step']:,}")
    if p["onset_at"] is not None:
        when.append(f"at {local_text(p['onset_at'], zone)}")
    if p["step"] is not None and p["step"] != p["onset_step"]:
        when.append(f"known at step {p['step']:,}")
    when.append(f"noticed {local_text(p['first_seen'], zone)}")
    lines.append(("When", ", ".join(when)))
    evidence = [f"{k}={num(v)}" for k, v in list(p["evidence"].items())[:EVIDENCE_SHOWN]]
    if evidence:
        lines.append(("Evidence", ", ".join(evidence)))
    if p["cause"]:
        lines.append(("Likely cause", p["cause"]))
    if p["suggestion"]:
        lines.append(("Suggested", p["suggestion"]))
    did = "; ".join(action(a, zone, about=False) for a in p["actions"]) or "nothing yet"
    lines.append(("Daybreak did", did))
    if p["cleared"]:
        lines.append(("Now", "no longer seen"))
    title = f"{p['severity']} · {p['kind'].replace('_', ' ')} — {run_label(p)}"
    return Item(title, lines, p["chart"], p["severity"])


def action(a: dict[str, Any], zone: ZoneInfo, about: bool = True) -> str:
    """What the watchdog did and when; ``about`` names the finding and run it was about."""
    verb = ACTION_WORDS.get(a["kind"], a["kind"])
    text = f"{local_text(a['at'], zone)} {verb}"
    if about:
        text += f" ({a['finding_kind']} in {a['project']}/{a['run_name']})"
    return f"{text}: {a['message']}" if a["message"] else text


def progress(e: dict[str, Any], zone: ZoneInfo) -> Item:
    """One model's best figure against the previous log, with a chart."""
    flag = " — new best" if e["new_best"] else (" — first figure" if e["first"] else "")
    title = f"{e['project']} / {e['model']}: {e['metric']} {num(e['best'])}{flag}"
    best = (
        f"{num(e['best'])} at step {e['best_step']:,} of {e['run_name']} ({e['run_id'][:8]}), "
        f"{local_text(e['best_at'], zone)}"
    )
    lines = [("Best", best)]
    if e["previous"] is not None:
        change = e["change"]
        sign = "+" if change > 0 else ""
        lines.append(("Previous log", f"{num(e['previous'])} ({sign}{num(change)})"))
    if e["runs"] > 1:
        lines.append(("Runs", str(e["runs"])))
    return Item(title, lines, e["chart"], "good" if e["new_best"] else "")


def running(r: dict[str, Any], zone: ZoneInfo) -> Item:
    """A run still training: its step, speed and ETA."""
    parts = []
    if r["step"] is not None:
        of = f" of {r['planned_steps']:,}" if r["planned_steps"] else ""
        parts.append(f"step {r['step']:,}{of}")
    if r["steps_per_s"]:
        parts.append(f"{r['steps_per_s']:.3g} steps/s")
    if r["eta_s"] is not None:
        parts.append(f"ETA {format_duration(r['eta_s'])} ({local_text(r['eta_at'], zone)})")
    elif r["step"] is None:
        parts.append("no steps logged yet")
    else:
        parts.append("ETA unknown (no planned steps in its config)")
    job = f", job {r['job_id']}" if r["job_id"] else ""
    return Item(f"{run_label(r)}{job}", [("", ", ".join(parts))])


def dataset(d: dict[str, Any], zone: ZoneInfo) -> Item:
    """A dataset version created in the window."""
    return Item(
        f"{d['name']}@{d['version']}: {d['rows']:,} rows, {local_text(d['created_at'], zone)}"
    )


def registered(m: dict[str, Any], zone: ZoneInfo) -> Item:
    """A model version registered in the window."""
    origin = f"from run {m['run_name'] or m['run_id']}" if m["run_id"] else "imported from ONNX"
    metrics = ", ".join(f"{k.removeprefix('val/')} {num(v)}" for k, v in m["metrics"].items())
    lines = [("", f"{m['category']}, {origin}, by {m['by']}, {local_text(m['at'], zone)}")]
    if metrics:
        lines.append(("Metrics", metrics))
    return Item(f"registered {m['ref']}", lines, level="good")


def exported(m: dict[str, Any], zone: ZoneInfo) -> Item:
    """One conversion of a version for a target: the recommended export, or none."""
    best = m["recommended"]
    tried = ", ".join(f"{count} {status}" for status, count in m["statuses"].items())
    if best is None:
        return Item(f"converted {m['ref']} for {m['target']}: none recommended", [("", tried)])
    facts = [f"recommended {best['export']}"]
    if best["p50_ms"] is not None:
        facts.append(f"{num(best['p50_ms'])} ms at batch 1")
    if best["vs_eager"]:
        facts.append(f"{best['vs_eager']:.1f}x PyTorch")
    if best["score"] is not None and best["task"]:
        facts.append(f"{best['task']} {100 * best['score']:.1f}%")
    return Item(f"converted {m['ref']} for {m['target']}", [("", ", ".join(facts)), ("", tried)])


def promoted(m: dict[str, Any], zone: ZoneInfo) -> Item:
    """An alias moved, added or removed."""
    alias = f"{m['model']}@{m['alias']}"
    if m["new_version"] is None:
        title = f"{alias} removed (was version {m['old_version']})"
    elif m["old_version"] is None:
        title = f"{alias} → version {m['new_version']} (new alias)"
    else:
        title = f"{alias}: version {m['old_version']} → {m['new_version']}"
    note = f"“{m['note']}” " if m["note"] else ""
    return Item(title, [("", f"{note}by {m['by']}, {local_text(m['at'], zone)}")])


def note(n: dict[str, Any], zone: ZoneInfo) -> Item:
    """A note with its author, subject and time."""
    subject = n.get("subject")
    about = f" on {subject}" if subject else ""
    author = n.get("author") or "someone"
    when = local_text(n["created_at"], zone) if n.get("created_at") else ""
    return Item(f"{author}{about}, {when}", [("", str(n.get("body") or ""))])


def action_item(i: dict[str, Any], zone: ZoneInfo) -> Item:
    """An open action item with its owner and age."""
    owner = i.get("owner") or "nobody yet"
    created = i.get("created_at")
    if not isinstance(created, int | float):
        age = "new" if i.get("new") else "carried over"
    else:
        age = f"{'new, ' if i.get('new') else 'open since '}{local_text(created, zone)}"
    return Item(f"#{i['id']} {i['title']}", [("Owner", owner), ("", age)], level="warning")


def resolved_item(i: dict[str, Any], zone: ZoneInfo) -> Item:
    """An action item resolved in the window, with who and how."""
    by = i.get("resolved_by") or "someone"
    lines = [("Resolved", f"by {by}, {local_text(i['resolved_at'], zone)}")]
    if i.get("resolution"):
        lines.append(("", str(i["resolution"])))
    return Item(f"#{i['id']} {i['title']} (resolved)", lines, level="good")
