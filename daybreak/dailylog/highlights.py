"""The few lines of the latest Daily Log worth a wall screen: its headline, the night at a
glance, the problems, the new bests and what the watchdog did, in the log's own words."""

from __future__ import annotations

from typing import Any

from daybreak.config import Settings
from daybreak.dailylog.formats import phrases as say
from daybreak.dailylog.service import latest
from daybreak.dailylog.window import local_text, zone_or_utc

SHOWN = 5
GLANCE = (("finished", "Finished"), ("failed", "Failed"), ("crashed", "Crashed"),
          ("stalled", "Stalled"), ("running", "Still running"))  # fmt: skip


def highlights(settings: Settings, limit: int = SHOWN) -> dict[str, Any] | None:
    """The latest log's highlights (at most ``limit`` of each kind), or None before the first."""
    log = latest(settings)
    if log is None:
        return None
    content, zone = log["content"], zone_or_utc(log["timezone"])
    counts = content.get("counts", {})
    problems = content.get("problems", [])
    bests = [e for e in content.get("progress", []) if e.get("new_best")]
    did = _watchdog(problems, content.get("actions", []), zone)
    return {
        "id": log["id"],
        "day": local_text(log["window_end"], zone).rsplit(" ", 1)[0],
        "headline": log["headline"],
        "quiet": bool(content.get("quiet")),
        "glance": [{"label": t, "value": int(counts.get(k, 0))} for k, t in GLANCE],
        "problems": [_problem(p) for p in problems[:limit]],
        "more_problems": max(0, len(problems) - limit),
        "bests": [say.progress(e, zone).title.removesuffix(" — new best") for e in bests[:limit]],
        "watchdog": did[:limit],
        "open_items": len(content.get("action_items", [])),
    }


def _problem(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "severity": p["severity"],
        "kind": p["kind"].replace("_", " "),
        "run": f"{p['project']}/{p['run_name']}",
        "message": p["message"],
    }


def _watchdog(problems: list[dict[str, Any]], other: list[dict[str, Any]], zone: Any) -> list[str]:
    """Each thing the watchdog did, newest first: on this log's problems, then on earlier ones."""
    done = [
        (
            a["at"],
            f"{say.action(a, zone, about=False)} ({p['kind']} in {p['project']}/{p['run_name']})",
        )
        for p in problems
        for a in p.get("actions", [])
    ]
    attached = {(a["run_id"], a["at"]) for p in problems for a in p.get("actions", [])}
    done += [
        (a["at"], say.action(a, zone)) for a in other if (a["run_id"], a["at"]) not in attached
    ]
    return [text for _, text in sorted(done, key=lambda d: -d[0])]
