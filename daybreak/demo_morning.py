"""The demo's morning after: what the watchdog found in the demo's runs and did about it, a
note and an action item, and the Daily Log over the demo, written as a standalone HTML page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from daybreak.config import Settings

DEMO_POLICY = ("divergence", "nan")  # restarted with half the learning rate, clipped gradients


def set_demo_policy(settings: Settings) -> None:
    """The demo project restarts diverging or NaN runs from their last good checkpoint."""
    from daybreak.store.engine import get_database
    from daybreak.watchdog import policy

    rules = [
        policy.make_rule(list(DEMO_POLICY), "restart", lr_scale=0.5, clip_grad=1.0),
        policy.make_rule([], "notify"),
    ]
    policy.set_policy(get_database(settings.db_url), "demo", rules)


def wait_for_watchdog(watchdog: Any, after: float, timeout: float = 60.0) -> None:
    """Until the watchdog thread of ``daybreak up`` has completed a pass begun after ``after``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and watchdog.completed_pass_began < after:
        time.sleep(0.2)


def morning(settings: Settings, run_ids: list[str], best_run: str, console: Any) -> Path:
    """Print the findings and actions, write a note and an action item, build the Daily Log
    and write it as HTML; returns the page's path."""
    from daybreak import dailylog
    from daybreak.notes import service as notes
    from daybreak.store.engine import get_database
    from daybreak.watchdog import store

    db = get_database(settings.db_url)
    found = store.list_findings(db, run_ids=run_ids)
    for finding in found:
        console.print(
            f"watchdog: {finding['run_name']:<24} {finding['severity']:<8} {finding['kind']}: "
            f"{finding['message']}"
        )
    for action in store.list_actions(db, run_ids=run_ids):
        console.print(f"watchdog: {action['run_name']:<24} {action['kind']}: {action['message']}")
    if not found:
        console.print("watchdog: no findings in the demo's runs")
    notes.add_note(
        db,
        "The shapes classifier is the reference for the demo day: keep its config.",
        author="demo",
        run_id=best_run,
    )
    if register_best(settings, best_run, console) and convert_demo_model(settings, console):
        serve_demo_model(settings, console)
    worst = next((f for f in found if f["severity"] != "info"), None)
    if worst is not None:
        item = notes.action_item_from_finding(db, worst["id"], owner="demo", created_by="demo")
        console.print(f"action item {item}: look into {worst['kind']} on {worst['run_name']}")
    log = dailylog.build(settings)
    page = settings.home / "dailylog" / f"dailylog-{log['id']}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(dailylog.render(log, "html"))
    console.print(f"Daily Log {log['id']}: {log['headline']}")
    console.print(f"  written to {page} (also `daybreak dailylog show {log['id']}`)")
    return page


def register_best(settings: Settings, best_run: str, console: Any) -> bool:
    """Register the best classifier as ``shapes-cnn`` with the alias ``demo``; a demo whose
    run cannot be registered says why and goes on (False)."""
    from daybreak.errors import DaybreakError
    from daybreak.registry import aliases, service

    try:
        version = service.register_run(settings, best_run, "shapes-cnn", "classification")
        aliases.set_alias(settings, version.ref, "demo", "the demo's best classifier", by="demo")
    except DaybreakError as exc:
        console.print(f"registry: could not register the best classifier: {exc}")
        return False
    console.print(f"registry: {version.ref} is shapes-cnn@demo")
    return True


def convert_demo_model(settings: Settings, console: Any) -> bool:
    """Convert shapes-cnn@demo for the server CPU target and show the comparison table; False
    when nothing could be recommended."""
    from daybreak.convert.pipeline import convert_version
    from daybreak.convert.report import render
    from daybreak.errors import DaybreakError

    try:
        done = convert_version(settings, "shapes-cnn@demo", "server-cpu", runs=20)
    except DaybreakError as exc:
        console.print(f"convert: shapes-cnn@demo could not be converted: {exc}")
        return False
    console.print(render(done.report))
    console.print(
        f"convert: {done.ref} for server-cpu, {len(done.exports)} exports stored, "
        f"recommended {done.report.recommended or 'none'} (`daybreak model exports {done.ref}`)"
    )
    return done.report.recommended is not None


def serve_demo_model(settings: Settings, console: Any) -> None:
    """Serve shapes-cnn@demo over HTTP (as `daybreak serve` does) and ask it about one drawn
    shape per class, sent as PNG images."""
    import io

    import httpx
    from PIL import Image

    from daybreak.errors import DaybreakError
    from daybreak.serve.server import ServeThread
    from daybreak.zoo import classifier

    images, labels = classifier.make_shapes(len(classifier.CLASSES) * 3, seed=99)
    try:
        with ServeThread(settings, ["shapes-cnn@demo"]) as server:
            right = 0
            for image, label in zip(images, labels, strict=True):
                png = io.BytesIO()
                pixels = (image[0].clamp(0, 1) * 255).byte().numpy()
                Image.fromarray(pixels, "L").save(png, "PNG")  # as the lake keeps them
                answer = httpx.post(
                    f"{server.url}/v1/models/shapes-cnn/predict",
                    content=png.getvalue(),
                    headers={"content-type": "image/png"},
                    timeout=10,
                )
                answer.raise_for_status()
                right += answer.json()["predictions"][0]["label"] == classifier.CLASSES[label]
    except (DaybreakError, httpx.HTTPError) as exc:
        console.print(f"serve: shapes-cnn@demo could not be served: {exc}")
        return
    console.print(
        f"serve: shapes-cnn@demo answered {right}/{len(labels)} PNG shapes right over HTTP "
        f"(`daybreak serve shapes-cnn@demo` serves it on port 8766)"
    )
