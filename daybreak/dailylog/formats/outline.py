"""A stored log as an outline of sections, items, lines and facts: every format renders this
one outline, so all of them say the same things in the same order."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from daybreak.dailylog.formats import phrases as say
from daybreak.dailylog.formats.outline_types import Item, Outline, Section
from daybreak.dailylog.window import local_text, zone_or_utc


def outline(log: dict[str, Any]) -> Outline:
    """The sections of ``log`` that have something to say, in reading order."""
    zone = zone_or_utc(log["timezone"])
    content = log["content"]
    window = (
        f"{local_text(log['window_start'], zone)} → {local_text(log['window_end'], zone)} "
        f"({log['timezone']})"
    )
    day = local_text(log["window_end"], zone).rsplit(" ", 1)[0]
    builders = (
        _glance,
        _problems,
        _actions,
        _progress,
        _running,
        _datasets,
        _models,
        _notes,
        _items,
        _change,
    )
    sections = [s for b in builders if (s := b(content, zone)) is not None]
    return Outline(f"Daily Log — {day}", log["headline"], window, sections, log.get("id"))


def _glance(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    if content["quiet"]:
        return None
    counts, gpu = content["counts"], content["gpu"]
    facts = [
        ("Finished", str(counts["finished"])),
        ("Failed", str(counts["failed"])),
        ("Crashed", str(counts["crashed"])),
        ("Stalled", str(counts["stalled"])),
        ("Still running", str(counts["running"])),
        ("Queued", str(counts["queued"])),
        ("GPU-hours used", say.hours(gpu["used_hours"])),
        ("GPU-hours idle", say.hours(gpu["idle_hours"])),
    ]
    if counts.get("stopped"):
        facts.insert(3, ("Stopped", str(counts["stopped"])))
    return Section("glance", "At a glance", facts=facts)


def _problems(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    if not content["problems"]:
        return None
    return Section("problems", "Problems", [say.problem(p, zone) for p in content["problems"]])


def _actions(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    attached = {(a["run_id"], a["at"]) for p in content["problems"] for a in p["actions"]}
    other = [a for a in content["actions"] if (a["run_id"], a["at"]) not in attached]
    if not other:
        return None
    items = [Item(say.action(a, zone)) for a in other]
    return Section("actions", "What the watchdog did about earlier findings", items)


def _progress(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    entries = content["progress"]
    if content["quiet"] or not entries:
        return None
    return Section("progress", "Progress", [say.progress(e, zone) for e in entries])


def _running(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    if not content["running"]:
        return None
    return Section("running", "Still running", [say.running(r, zone) for r in content["running"]])


def _datasets(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    if not content["datasets"]:
        return None
    return Section(
        "datasets", "Datasets created", [say.dataset(d, zone) for d in content["datasets"]]
    )


def _models(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    models = content["models"]
    if not models.get("available"):
        return None
    items = [say.registered(m, zone) for m in models["registered"]]
    items += [say.exported(m, zone) for m in models["exported"]]
    items += [say.promoted(m, zone) for m in models["promoted"]]
    return Section("models", "Models", items) if items else None


def _notes(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    if not content["notes"]:
        return None
    return Section("notes", "Notes", [say.note(n, zone) for n in content["notes"]])


def _items(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    open_items, resolved = content["action_items"], content["resolved_items"]
    if not open_items and not resolved:
        return None
    items = [say.action_item(i, zone) for i in open_items]
    items += [say.resolved_item(i, zone) for i in resolved]
    return Section("action_items", "Action items", items)


def _change(content: dict[str, Any], zone: ZoneInfo) -> Section | None:
    compared = content["change"]["counts"]
    if content["quiet"] or not compared:
        return None
    facts = [
        (say.CHANGE_LABELS.get(name, name), say.then_now(*pair)) for name, pair in compared.items()
    ]
    return Section(
        "change", f"Since the previous log (#{content['change']['previous_id']})", facts=facts
    )
