"""The difference between two versions of a model."""

from __future__ import annotations

from typing import Any

from daybreak.config import Settings
from daybreak.registry.service import get_version


def diff(settings: Settings, old_ref: str, new_ref: str) -> dict[str, Any]:
    """What differs between two versions: ``{section: {key: [old, new]}}`` for config,
    metrics, lineage (run, datasets, code), signature and preprocessing."""
    old, new = get_version(settings, old_ref), get_version(settings, new_ref)

    def strip(facts: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in facts.items() if k not in ("config", "metrics")}

    sections = {
        "config": (old.lineage.get("config", {}), new.lineage.get("config", {})),
        "metrics": (old.lineage.get("metrics", {}), new.lineage.get("metrics", {})),
        "lineage": (
            {**strip(old.lineage), "source": old.source, "sha256": old.sha256},
            {**strip(new.lineage), "source": new.source, "sha256": new.sha256},
        ),
        "signature": (old.signature, new.signature),
        "preprocessing": (old.preprocessing, new.preprocessing),
    }
    out: dict[str, Any] = {"old": old.ref, "new": new.ref}
    for section, (a, b) in sections.items():
        flat_a, flat_b = _flatten(a), _flatten(b)
        out[section] = {
            k: [flat_a.get(k), flat_b.get(k)]
            for k in sorted(set(flat_a) | set(flat_b))
            if flat_a.get(k) != flat_b.get(k)
        }
    return out


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as ``{"a.b.0.c": leaf}``."""
    if isinstance(value, dict) and value:
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return {prefix: value} if prefix else {}
    out: dict[str, Any] = {}
    for key, inner in items:
        out.update(_flatten(inner, f"{prefix}.{key}" if prefix else key))
    return out
