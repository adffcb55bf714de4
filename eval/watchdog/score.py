"""Score a detector on the labelled corpus.

    python -m eval.watchdog.score --corpus eval/watchdog/corpus [--detector daybreak|baseline]

Imports the corpus into a throwaway Daybreak home, runs the detector on every run at the
``now`` its label gives (else its last timestamp), and matches findings to labels by kind:

- a finding counts as an alarm when its severity is ``warning`` or ``critical`` (``info``
  findings never count, as hits or as false alarms);
- on a run labelled with kind K, an alarm of kind K at or after the onset step (or with no
  step) is a hit, a true positive; with none, the label is missed (a false negative), and an
  alarm of kind K only before the onset is also a false positive;
- on a run not labelled K, an alarm of kind K is a false positive, unless K is in the label
  line's ``allow`` (a symptom the fault also shows: a NaN run's loss climbing first);
- a healthy run (no labels) with any alarm, of any kind, is a false alarm.

Prints per-kind precision, recall, F1, macro-F1 over the kinds, the false-alarm rate on
healthy runs and the median detection delay (alarm step - onset step), and exits 1 when
macro-F1 < 0.90 or the false-alarm rate > 2%, or the detector raised on any run.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from eval.watchdog.generate import LABELS_FILE, RUNS_FILE
from eval.watchdog.specs import KINDS

ALARMS = ("warning", "critical")
FLOORS = {"macro_f1": 0.90, "false_alarm_rate": 0.02}
DEFAULT_CORPUS = Path(__file__).resolve().parent / "corpus"
DETECTORS = {
    "daybreak": "daybreak.watchdog:diagnose",
    "baseline": "eval.watchdog.baseline:diagnose",
}

Detector = Callable[..., list[Any]]


# -- the corpus -------------------------------------------------------------------------------


def load_labels(corpus: Path) -> list[dict[str, Any]]:
    path = corpus / LABELS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: generate the corpus with "
            f"`python -m eval.watchdog.generate --out {corpus}`"
        )
    with path.open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def corpus_lines(corpus: Path) -> Iterator[str]:
    """The runs JSONL lines, gzipped (as generated) or not (``runs.jsonl``)."""
    packed = corpus / RUNS_FILE
    if packed.is_file():
        with gzip.open(packed, "rt", encoding="utf-8") as handle:
            yield from handle
        return
    with (corpus / "runs.jsonl").open(encoding="utf-8") as handle:
        yield from handle


@contextlib.contextmanager
def throwaway_home() -> Iterator[Path]:
    """A fresh Daybreak home for the duration, through the environment, restored after.

    ``stale_after`` is set out of reach: the corpus's clock is not this machine's, so a run
    exported as ``running`` must stay running, not be marked crashed on read because its
    last heartbeat is long past by the wall clock. Liveness is the detector's to judge from
    ``now``."""
    from daybreak.store.engine import forget_databases

    home = Path(tempfile.mkdtemp(prefix="daybreak-score-"))
    values = {
        "DAYBREAK_HOME": str(home),
        "DAYBREAK_DB": f"sqlite:///{home / 'daybreak.db'}",
        "DAYBREAK_BLOBS": str(home / "blobs"),
        "DAYBREAK_URL": "",
        "DAYBREAK_STALE_AFTER": "1e15",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield home
    finally:
        forget_databases()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(home, ignore_errors=True)


def import_corpus(corpus: Path) -> int:
    from daybreak.config import get_settings
    from daybreak.tracking.transfer import import_runs

    return len(import_runs(get_settings(), corpus_lines(corpus)).run_ids)


# -- running a detector -------------------------------------------------------------------------


def resolve(detector: str) -> Detector:
    """``daybreak``, ``baseline``, or ``module:function``."""
    target = DETECTORS.get(detector, detector)
    module, _, name = target.partition(":")
    if not name:
        raise ValueError(
            f"unknown detector {detector!r}: use daybreak, baseline or module:function"
        )
    function: Detector = getattr(importlib.import_module(module), name)
    return function


def run_detector(
    detect: Detector, labels: list[dict[str, Any]]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str], float]:
    """Findings per run (as dicts), errors per run (the detector raised), seconds spent."""
    import daybreak

    findings: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    spent = 0.0
    for label in labels:
        run_id = label["run_id"]
        started = time.perf_counter()
        try:
            found = detect(daybreak.get_run(run_id), now=label.get("now") or last_time(run_id))
            findings[run_id] = [as_dict(f) for f in found]
        except Exception as exc:
            errors[run_id] = f"{type(exc).__name__}: {exc}"
            findings[run_id] = []
        spent += time.perf_counter() - started
    return findings, errors, spent


def last_time(run_id: str) -> float:
    """The run's last timestamp: its last point, heartbeat or end."""
    import daybreak

    view = daybreak.get_run(run_id)
    stamps = [view.record.last_heartbeat, view.ended_at or 0.0]
    stamps += [s.last_ts for s in view.metrics().values() if s.last_ts is not None]
    return float(max(stamps))


def as_dict(finding: Any) -> dict[str, Any]:
    if isinstance(finding, dict):
        return {k: finding.get(k) for k in ("kind", "severity", "step", "message")}
    return {k: getattr(finding, k, None) for k in ("kind", "severity", "step", "message")}


# -- the arithmetic -------------------------------------------------------------------------------


def score(
    labels: list[dict[str, Any]],
    findings: dict[str, list[Any]],
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Per-kind counts, precision, recall, F1 and delays; macro-F1; false alarms on healthy
    runs. ``findings``: run id -> findings (objects or dicts with kind, severity, step)."""
    table: dict[str, dict[str, Any]] = {
        k: {"runs": 0, "tp": 0, "fp": 0, "fn": 0, "delays": []} for k in KINDS
    }
    missed: list[dict[str, Any]] = []
    spurious: list[dict[str, Any]] = []
    false_alarms: list[dict[str, Any]] = []
    healthy = 0
    for label in labels:
        run_id = label["run_id"]
        alarms = [as_dict(f) for f in findings.get(run_id, [])]
        alarms = [f for f in alarms if f["severity"] in ALARMS]
        onsets = {x["kind"]: int(x["onset_step"]) for x in label["labels"]}
        allowed = set(label.get("allow", []))
        if not onsets:
            healthy += 1
            if alarms:
                false_alarms.append(
                    {"run_id": run_id, "kinds": sorted({f["kind"] for f in alarms})}
                )
        for kind in KINDS:
            raised = [f for f in alarms if f["kind"] == kind]
            row = table[kind]
            if kind in onsets:
                row["runs"] += 1
                onset = onsets[kind]
                hits = [f for f in raised if f["step"] is None or f["step"] >= onset]
                if hits:
                    row["tp"] += 1
                    stepped = [f["step"] for f in hits if f["step"] is not None]
                    if stepped:
                        row["delays"].append(min(stepped) - onset)
                    continue
                row["fn"] += 1
                missed.append({"run_id": run_id, "kind": kind, "variant": label.get("variant")})
                if raised:  # only before the onset: a false alarm, too
                    row["fp"] += 1
                    spurious.append({"run_id": run_id, "kind": kind, "early": True})
            elif raised and kind not in allowed:
                row["fp"] += 1
                spurious.append({"run_id": run_id, "kind": kind, "early": False})
    kinds: dict[str, Any] = {}
    for kind, row in table.items():
        kinds[kind] = {**row, **_rates(row["tp"], row["fp"], row["fn"])}
        kinds[kind]["median_delay"] = _median(row["delays"])
    scored = [k for k, row in kinds.items() if row["runs"] or row["fp"]]
    macro = sum(kinds[k]["f1"] for k in scored) / len(scored) if scored else 0.0
    rate = len(false_alarms) / healthy if healthy else 0.0
    delays = [d for row in kinds.values() for d in row["delays"]]
    errors = errors or {}
    return {
        "runs": len(labels),
        "healthy": healthy,
        "kinds": kinds,
        "macro_f1": macro,
        "false_alarms": len(false_alarms),
        "false_alarm_rate": rate,
        "median_delay": _median(delays),
        "false_alarm_runs": false_alarms,
        "missed": missed,
        "spurious": spurious,
        "errors": errors,
        "floors": FLOORS,
        "passed": macro >= FLOORS["macro_f1"] and rate <= FLOORS["false_alarm_rate"] and not errors,
    }


def _rates(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _median(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(statistics.median(values)) if values else None


# -- the report -------------------------------------------------------------------------------


def render(report: dict[str, Any], detector: str = "", verbose: bool = False) -> str:
    out = io.StringIO()
    head = f"detector {detector}: " if detector else ""
    out.write(
        f"{head}{report['runs']} runs ({report['healthy']} healthy)"
        + (f", {report['seconds']:.1f} s" if "seconds" in report else "")
        + "\n\n"
    )
    out.write(
        f"{'kind':<16}{'runs':>5}{'TP':>5}{'FP':>5}{'FN':>5}"
        f"{'precision':>11}{'recall':>8}{'F1':>7}{'delay (steps)':>15}\n"
    )
    for kind, row in report["kinds"].items():
        out.write(
            f"{kind:<16}{row['runs']:>5}{row['tp']:>5}{row['fp']:>5}{row['fn']:>5}"
            f"{_show(row['precision']):>11}{_show(row['recall']):>8}{_show(row['f1']):>7}"
            f"{_show(row['median_delay'], '.0f'):>15}\n"
        )
    floors = report["floors"]
    out.write(
        f"\nmacro-F1                      {report['macro_f1']:.3f}   (floor >= "
        f"{floors['macro_f1']:.2f})\n"
        f"false alarms on healthy runs  {report['false_alarms']}/{report['healthy']} = "
        f"{100 * report['false_alarm_rate']:.1f}%   (floor <= "
        f"{100 * floors['false_alarm_rate']:.0f}%)\n"
        f"median detection delay        {_show(report['median_delay'], '.0f')} steps\n"
    )
    if report["errors"]:
        out.write(f"detector errors               {len(report['errors'])} runs\n")
    if verbose:
        for title, rows in (
            ("false alarms", report["false_alarm_runs"]),
            ("missed", report["missed"]),
            ("false positives", report["spurious"]),
            ("errors", [{"run_id": k, "error": v} for k, v in report["errors"].items()]),
        ):
            for row in rows:
                out.write(f"  {title}: {json.dumps(row)}\n")
    out.write("\nPASS\n" if report["passed"] else "\nFAIL: below the issue's floors\n")
    return out.getvalue()


def _show(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def evaluate(corpus: Path, detector: str) -> dict[str, Any]:
    """Import ``corpus`` into a throwaway home, run ``detector`` on every run, score it."""
    labels = load_labels(corpus)
    detect = resolve(detector)
    with throwaway_home():
        import_corpus(corpus)
        findings, errors, seconds = run_detector(detect, labels)
    report = score(labels, findings, errors)
    report["seconds"] = seconds
    report["detector"] = detector
    report["corpus"] = str(corpus)
    report["findings"] = findings
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--detector", default="daybreak", help="daybreak, baseline, or module:function"
    )
    parser.add_argument("--json", action="store_true", help="the full report as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss and alarm")
    args = parser.parse_args(argv)
    if not (args.corpus / LABELS_FILE).is_file():
        print(
            f"error: no corpus at {args.corpus}; generate it with "
            f"`python -m eval.watchdog.generate --out {args.corpus}`",
            file=sys.stderr,
        )
        return 2
    try:
        resolve(args.detector)
    except (ImportError, AttributeError, ValueError) as exc:
        print(f"error: cannot load detector {args.detector!r}: {exc}", file=sys.stderr)
        return 2
    report = evaluate(args.corpus, args.detector)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render(report, args.detector, args.verbose), end="")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
