"""Run every benchmark, each in its own process, and print a Markdown summary.

    python bench/run_all.py [--quick] [--markdown PATH] [--only NAME ...]

Exit code 1 when any floor fails (or a benchmark crashes). The summary table is what
``docs/benchmarks.md`` keeps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import fmt, fmt_ratio, machine

BENCH = Path(__file__).resolve().parent
SCRIPTS = [
    "log_cost",
    "throughput",
    "read",
    "startup",
    "train_overhead",
    "lake",
    "jobs",
    "watchdog",
    "dailylog",
    "convert",
    "web_run_page",
    "datasets_web",
    "serve",
    "web_runs",
    "kiosk",
]


def run_one(name: str, quick: bool, out: Path) -> tuple[int, dict[str, Any] | None, float]:
    command = [sys.executable, str(BENCH / f"{name}.py"), "--json", str(out)] + (
        ["--quick"] if quick else []
    )
    print(f"\n=== {name} ===", flush=True)
    start = time.perf_counter()
    code = subprocess.run(command, cwd=BENCH.parent).returncode
    seconds = time.perf_counter() - start
    data = json.loads(out.read_text()) if out.exists() else None
    return code, data, seconds


def markdown(runs: list[tuple[str, int, dict[str, Any] | None, float]], quick: bool) -> str:
    info = machine()
    load = f"load average at the end {info['load']} (the machine is shared); "
    lines = [
        f"Machine: {info['cores']}-core {info['cpu']} CPU, Python {info['python']}, {info['platform']}; "
        f"{load}date: {info['date']}; command: `python bench/run_all.py{' --quick' if quick else ''}`",
        "",
        "| benchmark | figure | value | baseline (same run) | ratio | floor | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name, code, data, _ in runs:
        if data is None:
            lines.append(f"| `{name}.py` | crashed (exit {code}) | - | - | - | - | FAIL |")
            continue
        for r in data["results"]:
            unit = r["baseline_unit"] or r["unit"]
            baseline = (
                "-"
                if r["baseline"] is None
                else f"{fmt(r['baseline'])} {unit} ({r['baseline_name']})"
            )
            verdict = f"**{r['verdict']}**" if r["verdict"] == "FAIL" else r["verdict"]
            lines.append(
                f"| `{name}.py` | {r['name']} | {fmt(r['value'])} {r['unit']} | {baseline} | "
                f"{fmt_ratio(r['ratio'])} | {r['floor_text']} | {verdict} |"
            )
            if r["note"]:
                notes.append(f"- {r['name']}: {r['note']}")
    lines += ["", "Notes:", "", *notes, ""]
    lines.append("Wall time per script: " + ", ".join(f"`{n}` {s:.0f} s" for n, _, _, s in runs))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shortened runs (smoke test)")
    parser.add_argument("--markdown", type=Path, help="also write the summary to this file")
    parser.add_argument("--only", nargs="*", choices=SCRIPTS, help="run only these benchmarks")
    options = parser.parse_args()
    runs = []
    print(f"load average at the start: {machine()['load']}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in options.only or SCRIPTS:
            code, data, seconds = run_one(name, options.quick, Path(tmp) / f"{name}.json")
            runs.append((name, code, data, seconds))
    summary = markdown(runs, options.quick)
    print("\n" + summary)
    if options.markdown:
        options.markdown.write_text(summary + "\n")
    failed = [name for name, code, _, _ in runs if code != 0]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
