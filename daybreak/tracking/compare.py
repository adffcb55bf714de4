"""Runs side by side: their config with the differing keys marked, and their summary and
final metric values with the best run per row."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from daybreak.tracking.records import KeyStats, RunRecord

MISSING = object()
LOWER_IS_BETTER = re.compile(
    r"loss|err|wer|cer|perplexity|ppl|mae|mse|rmse|latency|time|duration|fid|nll|dist",
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True)
class Row:
    """One key across the runs (``values[i]`` is run i's; None where it has none)."""

    key: str
    values: list[Any]
    differs: bool = False
    best: int | None = None  # index of the best run, for numeric rows
    lower_is_better: bool = False


def flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def config_rows(records: Sequence[RunRecord]) -> list[Row]:
    """Every config key of any run; ``differs`` where the runs do not all agree (a key some
    runs lack counts as different)."""
    configs = [flat(r.config) for r in records]
    keys = sorted({k for c in configs for k in c})
    rows = []
    for key in keys:
        raw = [c.get(key, MISSING) for c in configs]
        same = len({_canonical(v) for v in raw}) == 1
        rows.append(Row(key, [None if v is MISSING else v for v in raw], differs=not same))
    return rows


def _canonical(value: Any) -> str:
    if value is MISSING:
        return "\0missing"
    return json.dumps(value, sort_keys=True, default=str)


def summary_rows(
    records: Sequence[RunRecord], indexes: Sequence[Mapping[str, KeyStats]], skip: str = "sys/"
) -> list[Row]:
    """The summary values, then the last value of every logged (non-system) metric key that
    the summary does not already hold; each numeric row marks its best run."""
    summaries = [flat(r.summary) for r in records]
    keys = sorted({k for s in summaries for k in s})
    rows = [_ranked(k, [s.get(k) for s in summaries]) for k in keys]
    metric_keys = sorted(
        {k for index in indexes for k in index if not k.startswith(skip)} - set(keys)
    )
    for key in metric_keys:
        lasts = [index[key].last if key in index else None for index in indexes]
        rows.append(_ranked(key, lasts))
    return rows


def _ranked(key: str, values: list[Any]) -> Row:
    lower = bool(LOWER_IS_BETTER.search(key))
    numbers = [
        (v, i)
        for i, v in enumerate(values)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]
    best = None
    if len(numbers) > 1 and len({v for v, _ in numbers}) > 1:
        best = (min if lower else max)(numbers)[1]
    differs = len({_canonical(v) for v in values}) > 1
    return Row(key, values, differs=differs, best=best, lower_is_better=lower)
