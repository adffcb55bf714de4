"""The problems section: findings first seen in the window, each with its evidence, a chart
around the onset, the likely cause, the suggested action and what Daybreak already did."""

from __future__ import annotations

from typing import Any

from daybreak.dailylog.scope import Scope
from daybreak.dailylog.series import around, chart, time_at
from daybreak.watchdog.roles import find_roles
from daybreak.watchdog.store import list_actions, list_findings

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
CAUSES = {
    "nan": "a numerical overflow: a learning rate too high, a bad batch, or a log or division of zero",
    "divergence": "a learning rate too high for this point of training, or a bad shard of data",
    "loss_spike": "an unusual batch or one step too large; the run recovered",
    "no_learning": "a learning rate far too low, frozen weights, or labels that do not match inputs",
    "overfitting": "the model memorises the training set: too little data or regularisation",
    "stalled": "a hung data loader, a deadlock between workers, or a stuck file system",
    "crashed": "the process ended without finishing; its error says why",
    "throughput_drop": "a slower data source, thermal throttling, or another job on the GPU",
    "gpu_idle": "the input pipeline cannot keep the GPU busy",
    "oom": "the batch or model does not fit in memory",
    "known_error": "a known failure of the system around the run",
}


def gather_problems(scope: Scope) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(problems, actions): findings first seen in the window, most severe first, and every
    action the watchdog took in the window (those about a listed problem are attached to it)."""
    found = list_findings(scope.db, since=scope.since, until=scope.until)
    actions = list_actions(scope.db, since=scope.since, until=scope.until)
    earlier = list_actions(
        scope.db, run_ids=sorted({f["run_id"] for f in found}), until=scope.since
    )
    scope.ensure_index(sorted({f["run_id"] for f in found}))
    problems = [_problem(scope, finding, [*earlier, *actions]) for finding in found]
    problems.sort(key=lambda p: (SEVERITY_ORDER.get(p["severity"], 3), p["first_seen"]))
    return problems, [_action(a) for a in actions]


def _problem(
    scope: Scope, finding: dict[str, Any], actions: list[dict[str, Any]]
) -> dict[str, Any]:
    evidence = finding["evidence"] if isinstance(finding["evidence"], dict) else {}
    key = _chart_key(scope, finding["run_id"], evidence)
    onset = _onset(scope, finding, evidence, key)
    problem: dict[str, Any] = {
        "finding_id": finding["id"],
        "run_id": finding["run_id"],
        "run_name": finding["run_name"],
        "project": finding["project"],
        "kind": finding["kind"],
        "severity": finding["severity"],
        "step": finding["step"],
        "onset_step": onset,
        "onset_at": None,
        "first_seen": finding["first_seen"],
        "cleared": finding["cleared_at"] is not None,
        "message": finding["message"],
        "cause": CAUSES.get(finding["kind"], ""),
        "suggestion": finding["suggestion"],
        "evidence": evidence,
        "chart": None,
        "actions": [
            _action(a)
            for a in actions
            if a["run_id"] == finding["run_id"]
            and (a["finding_id"] == finding["id"] or a["finding_kind"] == finding["kind"])
        ],
    }
    if key is not None:
        history = scope.cache.history(finding["run_id"], key)
        lo, hi = around(history, onset)
        problem["chart"] = chart(history, lo, hi, marker=onset)
        problem["onset_at"] = time_at(history, onset)
    return problem


def _chart_key(scope: Scope, run_id: str, evidence: dict[str, Any]) -> str | None:
    keys = scope.keys(run_id)
    declared = evidence.get("key")
    if isinstance(declared, str) and declared in keys:
        return declared
    roles = find_roles(keys, _config(scope, run_id))
    return roles.get("loss") or roles.get("val_loss")


def _config(scope: Scope, run_id: str) -> dict[str, Any]:
    for run in scope.runs:
        if run["id"] == run_id:
            return dict(run["config"])
    return {}


def _onset(
    scope: Scope, finding: dict[str, Any], evidence: dict[str, Any], key: str | None
) -> int | None:
    for name in ("onset_step", "spike_step", "best_step"):
        value = evidence.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    if finding["step"] is not None:
        return int(finding["step"])
    stats = scope.index.get(finding["run_id"], {}).get(key) if key else None
    return stats.last_step if stats is not None else None


def _action(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": action["run_id"],
        "run_name": action["run_name"],
        "project": action["project"],
        "kind": action["kind"],
        "finding_kind": action["finding_kind"],
        "message": action["message"],
        "detail": action["detail"] if isinstance(action["detail"], dict) else {},
        "at": action["at"],
    }
