"""The kiosk left running for hours, sped up: does its page's memory grow?

A registry of 4 models in 2 categories with 6 versions each spread over six months (their
metrics improving), 3 runs training (a thread keeps logging their losses, so every visit of
the training screen draws grown curves), a Daily Log, and 2 models on show for the demo. The
kiosk runs in headless Chromium with 0.25 s per screen: every screen change fetches that
screen's JSON and redraws its cards and uPlot charts (hours of a 20 s rotation in minutes).

The figure is the page's JS heap in use after a forced garbage collection (CDP
``HeapProfiler.collectGarbage`` then ``Performance.getMetrics``, over Chromium's debugging pipe
with no test driver attached, whose network domain would keep every response) at the end of
the run; the baseline is the same figure after the first rotations (warm-up: every screen
shown four times). Floors: the heap at the end within 35% of that baseline (the first few hundred changes
fill bounded things: JIT-compiled code, Chromium's layout-shift buffer) and within 3% of the
figure halfway through (the steady state does not grow; not judged with --quick, whose halfway
point is still warming up); the DOM node and event listener counts exactly the same.

    python bench/kiosk.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import _common
from _common import Result

INTERVAL_S = 0.25
SCREENS = 5
WARMUP_CHANGES = 4 * SCREENS
CHECKS = 8  # memory read this many times after the warm-up
WARMUP_FLOOR = 1.35  # end / first rotations: bounded warm-up, a leak of 1 KB a change fails it
STEADY_FLOOR = 1.03  # end / halfway: the steady state does not grow
MONTH = 30 * 24 * 3600.0
CHROMIUM = Path("/usr/bin/chromium")


def tiny_onnx(path: Path) -> Path:
    """A three-class RGB classifier: the mean of each channel times a 3x3 matrix."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 4, "weights")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["pixels"], ["means"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["means", "weights"], ["scores"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def make_registry(settings: Any, home: Path) -> None:
    """Versions over six months whose val/acc climbs; two models on show with an export."""
    import sqlalchemy as sa

    from daybreak.blobs import BlobStore
    from daybreak.registry import service
    from daybreak.registry.aliases import set_alias
    from daybreak.registry.exports import record_export
    from daybreak.store.engine import get_database
    from daybreak.store.schema import model_versions

    source = tiny_onnx(home / "tiny.onnx")
    now = time.time()
    db = get_database(settings.db_url)
    models = [("shapes", "classification"), ("shapes-xl", "classification"),
              ("faces", "face"), ("faces-lite", "face")]  # fmt: skip
    for m, (name, category) in enumerate(models):
        for n in range(6):
            version = service.register_onnx(settings, source, name, category, ["a", "b", "c"])
            lineage = {**version.lineage, "metrics": {"val/acc": 0.5 + 0.07 * n + 0.02 * m}}
            with db.write() as conn:
                conn.execute(
                    sa.update(model_versions)
                    .where(model_versions.c.id == version.id)
                    .values(created_at=now - (6 - n) * MONTH + m * 3600, lineage=lineage)
                )
        uri, size, _ = BlobStore(settings.blobs_url).put_file(source, f"exports/{name}.onnx")
        record_export(
            settings, f"{name}@6", "server-cpu", "onnx", "fp32", "ok", {}, uri, size, True
        )
        set_alias(settings, f"{name}@5", "production")
        if m % 2 == 0:
            set_alias(settings, f"{name}@6", "demo")


def training_runs(count: int = 3) -> list[Any]:
    import daybreak

    runs = []
    for n in range(count):
        run = daybreak.init(project="vision", name=f"night-{n}", system_metrics=False,
                            config={"steps": 100_000})  # fmt: skip
        for step in range(2000):
            run.log({"train/loss": 3.0 / (1 + step / 200) + 0.01 * n}, step=step)
            if step % 100 == 0:
                run.log({"val/loss": 3.2 / (1 + step / 200)}, step=step)
        runs.append(run)
    return runs


def keep_training(runs: list[Any], stop: threading.Event) -> None:
    step = 2000
    while not stop.wait(0.2):
        for run in runs:
            run.log({"train/loss": 3.0 / (1 + step / 200)}, step=step)
        step += 1


class Chromium:
    """Headless Chromium driven over ``--remote-debugging-pipe`` with nothing else attached:
    unlike a test driver, no DevTools network domain keeps a copy of every response, so the
    page's memory is what a kiosk's would be."""

    def __init__(self, profile: Path) -> None:
        commands, self._to_browser = os.pipe()
        self._from_browser, answers = os.pipe()

        def pipes() -> None:  # the browser reads commands on fd 3 and answers on fd 4
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"]  # fmt: skip
        self.process = subprocess.Popen(
            [str(CHROMIUM), *args], pass_fds=(3, 4), preexec_fn=pipes,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(commands)
        os.close(answers)
        self._buffer = b""
        self._next = 0
        self.session = ""

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium went away")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        found: dict[str, Any] = json.loads(message)
        return found

    def open(self, url: str, width: int = 1920, height: int = 1080) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_ERRORS})
        self.send("Performance.enable")
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        found = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return found["result"].get("value")

    def memory(self) -> dict[str, float]:
        """The page's heap in use, DOM nodes and listeners after two forced collections."""
        for _ in range(2):
            self.send("HeapProfiler.collectGarbage")
        metrics = self.send("Performance.getMetrics")["metrics"]
        found = {m["name"]: m["value"] for m in metrics}
        return {
            "heap_mb": found["JSHeapUsedSize"] / 1e6,
            "nodes": found["Nodes"],
            "listeners": found["JSEventListeners"],
        }

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


COUNT_ERRORS = "window.__kioskErrors = 0; addEventListener('error', () => window.__kioskErrors++);"


def wait_for_changes(browser: Chromium, count: int) -> None:
    deadline = time.monotonic() + max(60.0, count * INTERVAL_S * 4)
    while time.monotonic() < deadline:
        if (
            browser.evaluate("Number(document.body && document.body.dataset.changes)") or 0
        ) >= count:
            return
        time.sleep(0.5)
    raise SystemExit(f"the kiosk did not reach {count} screen changes in time")


def run_kiosk(
    url: str, changes: int, profile: Path
) -> tuple[dict[str, float], dict[str, float], list[Any]]:
    browser = Chromium(profile)
    try:
        browser.open(f"{url}/kiosk?interval={INTERVAL_S}")
        wait_for_changes(browser, WARMUP_CHANGES)
        baseline = browser.memory()
        trail = [(WARMUP_CHANGES, baseline)]
        for part in range(1, CHECKS + 1):
            target = WARMUP_CHANGES + (changes - WARMUP_CHANGES) * part // CHECKS
            wait_for_changes(browser, target)
            trail.append((target, browser.memory()))
        errors = browser.evaluate("window.__kioskErrors")
    finally:
        browser.close()
    if errors:
        raise SystemExit(f"the kiosk page threw {errors} uncaught errors")
    return baseline, trail[-1][1], trail


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    changes = 300 if options.quick else 1200
    if not CHROMIUM.exists():
        print(f"no Chromium at {CHROMIUM}", file=sys.stderr)
        return 1
    with _common.temp_home("daybreak-bench-kiosk-") as home:
        from daybreak import dailylog
        from daybreak.config import get_settings
        from daybreak.stack import ServerThread

        settings = get_settings()
        make_registry(settings, home)
        runs = training_runs()
        dailylog.build(settings, until=time.time() + 1)
        stop = threading.Event()
        feeder = threading.Thread(target=keep_training, args=(runs, stop), daemon=True)
        feeder.start()
        server = ServerThread(settings, "127.0.0.1", _free_port()).start()
        started = time.perf_counter()
        try:
            baseline, end, trail = run_kiosk(server.url, changes, home / "chromium")
        finally:
            stop.set()
            feeder.join()
            server.stop()
            for run in runs:
                run.finish()
        seconds = time.perf_counter() - started
    hours = changes * 20 / 3600
    walk = ", ".join(f"{n}: {m['heap_mb']:.2f} MB/{m['nodes']:.0f} nodes" for n, m in trail)
    note = (
        f"{changes} screen changes (every screen refetched and redrawn each time) in "
        f"{seconds:.0f} s, {hours:.1f} h of a 20 s rotation; after GC by change count: {walk}"
    )
    halfway_at, halfway = trail[CHECKS // 2]
    steady = (
        "the second half must not grow: the first hundreds of changes fill bounded things "
        "(JIT-compiled code, Chromium's layout-shift buffer of 150 entries)"
    )
    results = [
        Result("kiosk JS heap after GC, end", end["heap_mb"], "MB", "first rotations",
               baseline["heap_mb"], floor=WARMUP_FLOOR, floor_on_ratio=True, note=note),
        Result("kiosk JS heap after GC, end vs halfway", end["heap_mb"], "MB",
               f"after {halfway_at} changes", halfway["heap_mb"],
               floor=None if options.quick else STEADY_FLOOR, floor_on_ratio=True, note=steady),
        Result("kiosk DOM nodes, end", end["nodes"], "nodes", "first rotations",
               baseline["nodes"], floor=1.0, floor_on_ratio=True),
        Result("kiosk JS event listeners, end", end["listeners"], "listeners", "first rotations",
               baseline["listeners"], floor=1.0, floor_on_ratio=True),
    ]  # fmt: skip
    return _common.report("Kiosk: memory over a sped-up rotation", results, options)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
