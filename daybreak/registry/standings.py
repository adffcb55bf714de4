"""Where each category's models stand, read from their registered versions: the best headline
metric of each model over time (the kiosk's progress charts) and the models of each category
ranked by it (its leaderboard). A category is judged by one metric, the headline metric most
of its versions have, so that its models are compared on the same figure."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Any

import sqlalchemy as sa

from daybreak.config import Settings
from daybreak.dailylog.scope import headline_metric, lower_is_better
from daybreak.store.engine import get_database
from daybreak.store.schema import model_aliases, model_versions, models


@dataclasses.dataclass(frozen=True)
class Figure:
    """One registered version and its headline figure (None when its lineage has none)."""

    model: str
    category: str
    version: int
    created_at: float
    metric: str | None
    metrics: dict[str, float]


def figures(settings: Settings) -> list[Figure]:
    """Every registered version, oldest first, with the finite numbers of its lineage."""
    query = (
        sa.select(
            models.c.name,
            models.c.category,
            model_versions.c.version,
            model_versions.c.created_at,
            model_versions.c.lineage,
        )
        .join(models, models.c.id == model_versions.c.model_id)
        .order_by(model_versions.c.created_at, model_versions.c.id)
    )
    with get_database(settings.db_url).read() as conn:
        rows = conn.execute(query).mappings().all()
    return [_figure(row) for row in rows]


def _figure(row: Any) -> Figure:
    lineage = row["lineage"] or {}
    numbers = {
        str(k): float(v)
        for k, v in (lineage.get("metrics") or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    config = lineage.get("config")
    config = config if isinstance(config, dict) else {}
    metric = headline_metric(config, list(numbers)) if numbers else None
    return Figure(row["name"], row["category"], row["version"], row["created_at"], metric, numbers)


def category_metrics(found: list[Figure]) -> dict[str, str]:
    """Each category's metric: the headline metric most of its versions have."""
    counts: dict[str, Counter[str]] = {}
    for figure in found:
        if figure.metric is not None:
            counts.setdefault(figure.category, Counter())[figure.metric] += 1
    return {c: min(n.items(), key=lambda kv: (-kv[1], kv[0]))[0] for c, n in counts.items()}


def progress(settings: Settings) -> list[dict[str, Any]]:
    """Per category, each model's best figure so far at each of its versions, by time."""
    found = figures(settings)
    out = []
    for category, metric in sorted(category_metrics(found).items()):
        lower = lower_is_better(metric)
        lines: dict[str, list[dict[str, Any]]] = {}
        for f in found:
            if f.category != category or metric not in f.metrics:
                continue
            points = lines.setdefault(f.model, [])
            value = f.metrics[metric]
            best = value if not points else _better(points[-1]["best"], value, lower)
            points.append({"at": f.created_at, "version": f.version, "value": value, "best": best})
        series = [{"model": m, "points": p} for m, p in sorted(lines.items())]
        out.append({"category": category, "metric": metric, "goal": _goal(lower), "models": series})
    return out


def leaderboard(settings: Settings) -> list[dict[str, Any]]:
    """Per category, its models ranked by their best version on the category's metric (models
    without that figure last), each with its aliases."""
    found = figures(settings)
    metrics = category_metrics(found)
    aliases = _aliases(settings)
    names = {(f.category, f.model) for f in found} | set(_models(settings))
    by_model: dict[str, list[Figure]] = {}
    for f in found:
        by_model.setdefault(f.model, []).append(f)
    out = []
    for category in sorted({c for c, _ in names}):
        metric = metrics.get(category)
        lower = lower_is_better(metric) if metric else False
        rows = [
            _row(model, by_model.get(model, []), metric, lower, aliases)
            for c, model in sorted(names)
            if c == category
        ]
        rows.sort(key=lambda r: _rank_key(r["best"], lower, r["model"]))
        out.append({"category": category, "metric": metric, "goal": _goal(lower), "models": rows})
    return out


def _row(
    model: str,
    versions: list[Figure],
    metric: str | None,
    lower: bool,
    aliases: dict[str, dict[str, int]],
) -> dict[str, Any]:
    scored = [f for f in versions if metric and metric in f.metrics]
    best = None
    if scored and metric:
        pick = min if lower else max
        best = pick(scored, key=lambda f: (f.metrics[metric], -f.version))
    return {
        "model": model,
        "best": best.metrics[metric] if best and metric else None,
        "version": best.version if best else None,
        "at": best.created_at if best else None,
        "versions": len(versions),
        "latest": max((f.version for f in versions), default=None),
        "aliases": aliases.get(model, {}),
    }


def _rank_key(value: float | None, lower: bool, model: str) -> tuple[bool, float, str]:
    if value is None:
        return True, 0.0, model
    return False, value if lower else -value, model


def _better(best: float, value: float, lower: bool) -> float:
    return min(best, value) if lower else max(best, value)


def _goal(lower: bool) -> str:
    return "min" if lower else "max"


def _aliases(settings: Settings) -> dict[str, dict[str, int]]:
    query = sa.select(models.c.name, model_aliases.c.alias, model_aliases.c.version).join(
        models, models.c.id == model_aliases.c.model_id
    )
    out: dict[str, dict[str, int]] = {}
    with get_database(settings.db_url).read() as conn:
        for name, alias, version in conn.execute(query.order_by(model_aliases.c.alias)):
            out.setdefault(name, {})[alias] = version
    return out


def _models(settings: Settings) -> list[tuple[str, str]]:
    """(category, name) of every model, those without versions too."""
    with get_database(settings.db_url).read() as conn:
        return [(c, n) for n, c in conn.execute(sa.select(models.c.name, models.c.category))]
