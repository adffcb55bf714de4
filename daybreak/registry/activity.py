"""What happened in the registry during a time window, for the Daily Log: versions registered,
conversions made (one entry per version and target, with the recommended export) and aliases
moved."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from daybreak.store.schema import alias_history, exports, model_versions, models


def between(conn: Connection, since: float, until: float) -> dict[str, list[dict[str, Any]]]:
    return {
        "registered": _registered(conn, since, until),
        "exported": _exported(conn, since, until),
        "promoted": _promoted(conn, since, until),
    }


def _registered(conn: Connection, since: float, until: float) -> list[dict[str, Any]]:
    query = (
        sa.select(
            models.c.name,
            models.c.category,
            model_versions.c.version,
            model_versions.c.source,
            model_versions.c.run_id,
            model_versions.c.lineage,
            model_versions.c.created_by,
            model_versions.c.created_at,
        )
        .join(models, models.c.id == model_versions.c.model_id)
        .where(model_versions.c.created_at >= since, model_versions.c.created_at < until)
        .order_by(model_versions.c.created_at)
    )
    out = []
    for row in conn.execute(query).mappings():
        lineage = row["lineage"] or {}
        out.append(
            {
                "ref": f"{row['name']}@{row['version']}",
                "category": row["category"],
                "source": row["source"],
                "run_id": row["run_id"],
                "run_name": lineage.get("run_name"),
                "metrics": _headline_metrics(lineage.get("metrics") or {}),
                "by": row["created_by"],
                "at": row["created_at"],
            }
        )
    return out


def _headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k.startswith("val/") and "loss" not in k}


def _exported(conn: Connection, since: float, until: float) -> list[dict[str, Any]]:
    query = (
        sa.select(
            models.c.name,
            model_versions.c.version,
            exports.c.target,
            exports.c.status,
            exports.c.recommended,
            exports.c.report,
            exports.c.created_at,
        )
        .join(model_versions, model_versions.c.id == exports.c.version_id)
        .join(models, models.c.id == model_versions.c.model_id)
        .where(exports.c.created_at >= since, exports.c.created_at < until)
        .order_by(exports.c.id)
    )
    conversions: dict[tuple[str, str], dict[str, Any]] = {}
    for row in conn.execute(query).mappings():
        report = row["report"] or {}
        key = (f"{row['name']}@{row['version']}", str(report.get("conversion") or row["target"]))
        entry = conversions.setdefault(
            key,
            {
                "ref": key[0],
                "target": row["target"],
                "statuses": {},
                "recommended": None,
                "at": row["created_at"],
            },
        )
        entry["statuses"][row["status"]] = entry["statuses"].get(row["status"], 0) + 1
        if row["recommended"]:
            entry["recommended"] = _recommended(report)
    return list(conversions.values())


def _recommended(report: dict[str, Any]) -> dict[str, Any]:
    row = report.get("row") or {}
    return {
        "export": row.get("candidate"),
        "p50_ms": row.get("p50_ms_b1"),
        "vs_eager": row.get("vs_eager"),
        "score": row.get("score"),
        "task": report.get("task"),
        "size_bytes": row.get("size_bytes"),
    }


def _promoted(conn: Connection, since: float, until: float) -> list[dict[str, Any]]:
    query = (
        sa.select(alias_history, models.c.name)
        .join(models, models.c.id == alias_history.c.model_id)
        .where(alias_history.c.at >= since, alias_history.c.at < until)
        .order_by(alias_history.c.id)
    )
    return [
        {
            "model": row["name"],
            "alias": row["alias"],
            "old_version": row["old_version"],
            "new_version": row["new_version"],
            "note": row["note"],
            "by": row["by"],
            "at": row["at"],
        }
        for row in conn.execute(query).mappings()
    ]
