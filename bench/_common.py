"""Shared plumbing for the benchmarks: a throwaway Daybreak home, results, tables, machine info.

Every benchmark measures its baseline in the same process (or, for process-level figures, in
the same run of the script), prints a small table and can write its results as JSON so that
``bench/run_all.py`` can build the Markdown summary kept in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Result:
    """One measured figure, its in-run baseline and, when it has one, the floor it must meet."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float | None
    floor: float | None = None
    higher_is_better: bool = False
    note: str = ""
    baseline_unit: str | None = None  # when the baseline is not in the figure's unit
    ratio_value: float | None = None  # set when figure / baseline is not the meaningful ratio
    floor_on_ratio: bool = False  # the floor holds the ratio to the baseline, not the figure

    @property
    def ratio(self) -> float | None:
        if self.ratio_value is not None:
            return self.ratio_value
        if (
            self.baseline is None
            or self.baseline == 0
            or self.baseline_unit not in (None, self.unit)
        ):
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if self.floor is None:
            return "info"
        measured = self.ratio if self.floor_on_ratio else self.value
        if measured is None:
            return "FAIL"
        ok = measured >= self.floor if self.higher_is_better else measured <= self.floor
        return "PASS" if ok else "FAIL"

    @property
    def floor_text(self) -> str:
        if self.floor is None:
            return "-"
        unit = "x" if self.floor_on_ratio else self.unit
        return f"{'≥' if self.higher_is_better else '≤'} {fmt(self.floor)} {unit}"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(ratio=self.ratio, verdict=self.verdict, floor_text=self.floor_text)
        return out


def fmt(value: float | None) -> str:
    """A number with about three significant digits, thousands separated."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{fmt(ratio)}x"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> str:
    """min-max of the repetitions, to show how noisy a figure was."""
    return f"{fmt(min(values))}-{fmt(max(values))}"


def args(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a shortened run (for smoke tests)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    if extra:
        extra(parser)
    return parser.parse_args()


@contextlib.contextmanager
def temp_home(prefix: str = "daybreak-bench-") -> Iterator[Path]:
    """A fresh DAYBREAK_HOME with its own SQLite database; the environment is restored after."""
    saved = dict(os.environ)
    home = Path(tempfile.mkdtemp(prefix=prefix))
    for name in list(os.environ):
        if name.startswith("DAYBREAK_"):
            del os.environ[name]
    os.environ["DAYBREAK_HOME"] = str(home)
    os.environ["DAYBREAK_DB"] = f"sqlite:///{home / 'daybreak.db'}"
    os.environ["XDG_CONFIG_HOME"] = str(home / "xdg")  # no user config file leaks in
    try:
        yield home
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from daybreak.store.engine import forget_databases

        forget_databases()
        shutil.rmtree(home, ignore_errors=True)


def bench_env(home: Path) -> dict[str, str]:
    """The environment for a benchmark subprocess that should use ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYBREAK_")}
    env.update(
        DAYBREAK_HOME=str(home),
        DAYBREAK_DB=f"sqlite:///{home / 'daybreak.db'}",
        XDG_CONFIG_HOME=str(home / "xdg"),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def report(
    title: str,
    results: list[Result],
    options: argparse.Namespace,
    details: dict[str, Any] | None = None,
) -> int:
    """Print the table, write JSON if asked; returns the exit code (1 if any floor failed)."""
    print(f"\n{title}{'  (--quick)' if options.quick else ''}")
    rows = [("figure", "value", "baseline", "ratio", "floor", "verdict")]
    for r in results:
        baseline = (
            "-"
            if r.baseline is None
            else f"{fmt(r.baseline)} {r.baseline_unit or r.unit} ({r.baseline_name})"
        )
        rows.append(
            (
                r.name,
                f"{fmt(r.value)} {r.unit}",
                baseline,
                fmt_ratio(r.ratio),
                r.floor_text,
                r.verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for r in results:
        if r.note:
            print(f"  * {r.name}: {r.note}")
    if options.json:
        payload = {
            "title": title,
            "script": Path(sys.argv[0]).name,
            "quick": options.quick,
            "machine": machine(),
            "results": [r.to_dict() for r in results],
            "details": details or {},
        }
        options.json.write_text(json.dumps(payload, indent=2))
    return 1 if any(r.verdict == "FAIL" for r in results) else 0
