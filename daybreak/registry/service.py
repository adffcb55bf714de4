"""The registry's service functions: what the CLI, the web API and daybreak.convert call.

Register a run's checkpoint or an ONNX file as the next numbered version of a model, read
models and versions back by reference (``NAME``, ``NAME@3``, ``NAME@production``), move
aliases with a note (every move kept), edit cards, diff two versions, record exports."""

from __future__ import annotations

import dataclasses
import getpass
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from daybreak.blobs import BlobStore
from daybreak.config import Settings
from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.registry import builders, card, categories, lineage, onnx_import, refs
from daybreak.registry.errors import ModelFormatError
from daybreak.store.engine import get_database
from daybreak.store.schema import alias_history, exports, model_aliases, model_versions, models

EXPORT_STATUSES = ("ok", "failed", "unvalidated")


@dataclasses.dataclass(frozen=True)
class Model:
    id: int
    name: str
    category: str
    description: str
    owner: str
    created_at: float
    latest: int | None
    aliases: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ModelVersion:
    id: int
    model: str
    category: str
    version: int
    source: str  # run | onnx
    run_id: str | None
    checkpoint_step: int | None
    uri: str
    sha256: str
    size: int
    lineage: dict[str, Any]
    signature: dict[str, Any]
    preprocessing: dict[str, Any]
    card: str
    created_at: float
    created_by: str
    aliases: list[str]

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class Alias:
    model: str
    alias: str
    version: int
    note: str
    updated_by: str
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AliasMove:
    model: str
    alias: str
    old_version: int | None
    new_version: int | None
    note: str
    by: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Export:
    id: int
    ref: str
    target: str
    format: str
    precision: str
    uri: str | None
    size: int | None
    report: dict[str, Any]
    status: str
    recommended: bool
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def current_user() -> str:
    """Who is acting: ``$DAYBREAK_USER``, else the OS user name."""
    try:
        return os.environ.get("DAYBREAK_USER") or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return ""


# -- registering ---------------------------------------------------------------------------------


def register_run(
    settings: Settings,
    run: str,
    name: str,
    category: str,
    step: int | None = None,
    description: str = "",
    owner: str = "",
    created_by: str | None = None,
) -> ModelVersion:
    """The next version of model ``name`` from a checkpoint of ``run`` (its latest, or the one
    at ``step``): the zoo model rebuilt from it gives the signature and preprocessing."""
    from daybreak.tracking.checkpoints import Checkpoint
    from daybreak.tracking.readers import LocalBackend

    refs.check_name(name)
    _check_target(settings, name, category)
    backend = LocalBackend(settings)
    record = backend.get_run(run)
    row = _checkpoint_row(backend, record.id, step)
    state = Checkpoint.from_row(row, settings).load(map_location="cpu")
    if not isinstance(state, dict) or "model" not in state:
        raise ModelFormatError(
            f"the checkpoint at step {row['step']} of run {record.id} holds no model weights",
            "save checkpoints as {'model': model.state_dict(), ...}",
        )
    built = builders.build(record.config, state)
    facts = lineage.of_run(settings, record, row["step"])
    with tempfile.TemporaryDirectory(prefix="daybreak-registry-") as folder:
        import torch

        path = Path(folder) / "model.pt"
        torch.save(builders.slim(state, record.config), path)
        return _store(
            settings,
            path,
            name,
            category,
            {"source": "run", "run_id": record.id, "checkpoint_step": row["step"]},
            facts,
            built.signature,
            built.preprocessing,
            description,
            owner,
            created_by,
        )


def register_onnx(
    settings: Settings,
    path: Path,
    name: str,
    category: str,
    labels: list[str] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    description: str = "",
    owner: str = "",
    created_by: str | None = None,
) -> ModelVersion:
    """The next version of model ``name`` from an ONNX file made elsewhere (checked, loaded by
    ONNX Runtime, its signature read from the graph)."""
    refs.check_name(name)
    _check_target(settings, name, category)
    found = onnx_import.inspect(Path(path), labels, mean, std)
    source = {"source": "onnx", "run_id": None, "checkpoint_step": None}
    return _store(
        settings,
        Path(path),
        name,
        category,
        source,
        found.lineage,
        found.signature,
        found.preprocessing,
        description,
        owner,
        created_by,
    )


def _checkpoint_row(backend: Any, run_id: str, step: int | None) -> dict[str, Any]:
    from daybreak.tracking.checkpoints import SUPERSEDED

    rows = [
        r for r in backend.artifacts(run_id, "checkpoint") if not r["name"].endswith(SUPERSEDED)
    ]
    if not rows:
        raise NotFoundError(
            f"run {run_id} has no checkpoint to register",
            "register a run that saved checkpoints (run.save_checkpoint), or an ONNX file "
            "with `daybreak model register-onnx`",
        )
    if step is None:
        return max(rows, key=lambda r: (r["step"] if r["step"] is not None else -1, r["id"]))
    chosen = [r for r in rows if r["step"] == step]
    if not chosen:
        steps = ", ".join(str(r["step"]) for r in sorted(rows, key=lambda r: r["step"] or -1))
        raise NotFoundError(
            f"run {run_id} has no checkpoint at step {step}", f"its checkpoints: {steps}"
        )
    return max(chosen, key=lambda r: r["id"])


def _check_target(settings: Settings, name: str, category: str) -> None:
    """Fail early, before any heavy work: an unknown category, a name taken in another one."""
    with get_database(settings.db_url).write() as conn:
        categories.require(conn, category)
        _check_category(conn, name, category)


def _check_category(conn: Connection, name: str, category: str) -> None:
    found = conn.execute(sa.select(models.c.category).where(models.c.name == name)).scalar()
    if found is not None and found != category:
        raise ConflictError(
            f"model {name!r} is in category {found!r}, not {category!r}",
            f"use --category {found}, or register under another --name",
        )


def _store(
    settings: Settings,
    path: Path,
    name: str,
    category: str,
    source: dict[str, Any],
    facts: dict[str, Any],
    signature: dict[str, Any],
    preprocessing: dict[str, Any],
    description: str,
    owner: str,
    created_by: str | None,
) -> ModelVersion:
    """Copy the file into the blob store, then add the version row; the bytes are removed
    again when the row cannot be written (nothing half-written stays)."""
    blobs = BlobStore(settings.blobs_url)
    key = f"registry/{name}/{uuid.uuid4().hex}{path.suffix}"
    uri, size, sha256 = blobs.put_file(path, key)
    by = current_user() if created_by is None else created_by
    try:
        with get_database(settings.db_url).write() as conn:
            kind = categories.require(conn, category)
            model_id, model = _model(conn, name, category, description, owner, by)
            number = _next_version(conn, model_id)
            text = card.generate(
                f"{name}@{number}",
                category,
                kind.intended_use,
                model["description"],
                model["owner"],
                {**facts, **({"source": "onnx"} if source["source"] == "onnx" else {})},
                signature,
                preprocessing,
            )
            conn.execute(
                model_versions.insert().values(
                    model_id=model_id,
                    version=number,
                    **source,
                    uri=uri,
                    sha256=sha256,
                    size=size,
                    lineage=facts,
                    signature=signature,
                    preprocessing=preprocessing,
                    card=text,
                    created_at=time.time(),
                    created_by=by,
                )
            )
    except BaseException:
        blobs.delete(key)
        raise
    return get_version(settings, f"{name}@{number}")


def _model(
    conn: Connection, name: str, category: str, description: str, owner: str, by: str
) -> tuple[int, dict[str, Any]]:
    """The model's id and row, created on its first version (owned by ``owner``, else by
    who registers it); a description or owner given again replaces the stored one."""
    _check_category(conn, name, category)
    row = conn.execute(sa.select(models).where(models.c.name == name)).mappings().first()
    if row is None:
        values = {
            "name": name,
            "category": category,
            "description": description,
            "owner": owner or by,
            "created_at": time.time(),
        }
        result = conn.execute(models.insert().values(**values))
        return int(result.inserted_primary_key[0]), values  # type: ignore[index]
    changes = {k: v for k, v in (("description", description), ("owner", owner)) if v}
    if changes:
        conn.execute(models.update().where(models.c.id == row["id"]).values(**changes))
    return int(row["id"]), {**row, **changes}


def _next_version(conn: Connection, model_id: int) -> int:
    top = conn.execute(
        sa.select(sa.func.max(model_versions.c.version)).where(
            model_versions.c.model_id == model_id
        )
    ).scalar()
    return int(top or 0) + 1


# -- reading -------------------------------------------------------------------------------------


def list_models(settings: Settings, category: str | None = None) -> list[Model]:
    """Every model (of ``category``), by name, with its latest version and aliases."""
    with get_database(settings.db_url).write() as conn:
        if category is not None:
            categories.require(conn, category)
        query = sa.select(models).order_by(models.c.name)
        if category is not None:
            query = query.where(models.c.category == category)
        return [_model_of(conn, row) for row in conn.execute(query).mappings().all()]


def get_model(settings: Settings, name: str) -> Model:
    with get_database(settings.db_url).read() as conn:
        return _model_of(conn, _model_row(conn, name))


def _model_row(conn: Connection, name: str) -> Any:
    row = conn.execute(sa.select(models).where(models.c.name == name)).mappings().first()
    if row is None:
        raise NotFoundError(f"no model {name!r}", "list models with `daybreak model ls`")
    return row


def _model_of(conn: Connection, row: Any) -> Model:
    latest = conn.execute(
        sa.select(sa.func.max(model_versions.c.version)).where(
            model_versions.c.model_id == row["id"]
        )
    ).scalar()
    return Model(
        id=row["id"],
        name=row["name"],
        category=row["category"],
        description=row["description"],
        owner=row["owner"],
        created_at=row["created_at"],
        latest=latest,
        aliases=_aliases_of(conn, row["id"]),
    )


def _aliases_of(conn: Connection, model_id: int) -> dict[str, int]:
    rows = conn.execute(
        sa.select(model_aliases.c.alias, model_aliases.c.version)
        .where(model_aliases.c.model_id == model_id)
        .order_by(model_aliases.c.alias)
    ).all()
    return {alias: version for alias, version in rows}


def list_versions(settings: Settings, name: str) -> list[ModelVersion]:
    """Every version of model ``name``, oldest first."""
    with get_database(settings.db_url).read() as conn:
        row = _model_row(conn, name)
        numbers = conn.execute(
            sa.select(model_versions.c.version)
            .where(model_versions.c.model_id == row["id"])
            .order_by(model_versions.c.version)
        ).scalars()
        return [_version(conn, row, n) for n in list(numbers)]


def get_version(settings: Settings, ref: str) -> ModelVersion:
    """The version ``ref`` names: ``NAME`` (latest), ``NAME@3`` or ``NAME@alias``."""
    with get_database(settings.db_url).read() as conn:
        return _resolve(conn, ref)


def _resolve(conn: Connection, ref: str) -> ModelVersion:
    name, selector = refs.parse(ref)
    row = _model_row(conn, name)
    if selector is None:
        number = _model_of(conn, row).latest
        if number is None:
            raise NotFoundError(f"model {name!r} has no versions", "register one")
    elif isinstance(selector, int):
        number = selector
    else:
        found = _aliases_of(conn, row["id"])
        if selector not in found:
            known = ", ".join(found) or "none yet"
            raise NotFoundError(
                f"model {name!r} has no alias {selector!r}",
                f"its aliases: {known}; set one with `daybreak model alias {name}@N {selector}`",
            )
        number = found[selector]
    return _version(conn, row, number)


def _version(conn: Connection, model: Any, number: int) -> ModelVersion:
    row = (
        conn.execute(
            sa.select(model_versions).where(
                model_versions.c.model_id == model["id"], model_versions.c.version == number
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(
            f"model {model['name']!r} has no version {number}",
            f"see its versions with `daybreak model show {model['name']}`",
        )
    aliases = [a for a, v in _aliases_of(conn, model["id"]).items() if v == number]
    return ModelVersion(
        id=row["id"],
        model=model["name"],
        category=model["category"],
        version=row["version"],
        source=row["source"],
        run_id=row["run_id"],
        checkpoint_step=row["checkpoint_step"],
        uri=row["uri"],
        sha256=row["sha256"],
        size=row["size"],
        lineage=row["lineage"],
        signature=row["signature"],
        preprocessing=row["preprocessing"],
        card=row["card"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        aliases=aliases,
    )


def artifact_path(settings: Settings, version: ModelVersion) -> Path:
    """A local file with the version's bytes (``model.pt`` for runs, the ONNX file)."""
    blobs = BlobStore(settings.blobs_url)
    return blobs.local_path(blobs.key_of(version.uri))


def load_module(settings: Settings, ref: str) -> Any:
    """The registered torch module of a version made from a run, in eval mode (for
    conversion and parity checks)."""
    import torch

    version = get_version(settings, ref)
    if version.source != "run":
        raise ModelFormatError(
            f"{version.ref} was imported from ONNX: it has no PyTorch module",
            "run its ONNX file with ONNX Runtime instead",
        )
    state = torch.load(artifact_path(settings, version), map_location="cpu", weights_only=False)
    return builders.build(state["config"], state).module


# -- aliases -------------------------------------------------------------------------------------


def set_alias(
    settings: Settings, ref: str, alias: str, note: str = "", by: str | None = None
) -> Alias:
    """Point ``alias`` of the model at the version ``ref`` names; the move is kept in history."""
    refs.check_alias(alias)
    by = current_user() if by is None else by
    now = time.time()
    with get_database(settings.db_url).write() as conn:
        version = _resolve(conn, ref)
        model_id = _model_row(conn, version.model)["id"]
        old = _aliases_of(conn, model_id).get(alias)
        values = {"version": version.version, "note": note, "updated_by": by, "updated_at": now}
        if old is None:
            conn.execute(model_aliases.insert().values(model_id=model_id, alias=alias, **values))
        else:
            conn.execute(
                model_aliases.update()
                .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
                .values(**values)
            )
        _history(conn, model_id, alias, old, version.version, note, by, now)
    return Alias(version.model, alias, version.version, note, by, now)


def delete_alias(
    settings: Settings, name: str, alias: str, note: str = "", by: str | None = None
) -> AliasMove:
    """Remove ``alias`` from model ``name``; the removal is kept in history."""
    by = current_user() if by is None else by
    now = time.time()
    with get_database(settings.db_url).write() as conn:
        model_id = _model_row(conn, name)["id"]
        old = _aliases_of(conn, model_id).get(alias)
        if old is None:
            raise NotFoundError(f"model {name!r} has no alias {alias!r}", "see `model alias ls`")
        conn.execute(
            model_aliases.delete().where(
                model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
            )
        )
        _history(conn, model_id, alias, old, None, note, by, now)
    return AliasMove(name, alias, old, None, note, by, now)


def _history(
    conn: Connection,
    model_id: int,
    alias: str,
    old: int | None,
    new: int | None,
    note: str,
    by: str,
    at: float,
) -> None:
    conn.execute(
        alias_history.insert().values(
            model_id=model_id,
            alias=alias,
            old_version=old,
            new_version=new,
            note=note,
            by=by,
            at=at,
        )
    )


def list_aliases(settings: Settings, name: str) -> list[Alias]:
    with get_database(settings.db_url).read() as conn:
        model_id = _model_row(conn, name)["id"]
        rows = conn.execute(
            sa.select(model_aliases)
            .where(model_aliases.c.model_id == model_id)
            .order_by(model_aliases.c.alias)
        ).mappings()
        return [
            Alias(name, r["alias"], r["version"], r["note"], r["updated_by"], r["updated_at"])
            for r in rows
        ]


def alias_moves(settings: Settings, name: str, alias: str | None = None) -> list[AliasMove]:
    """Every move of the model's aliases (or of one), oldest first."""
    with get_database(settings.db_url).read() as conn:
        model_id = _model_row(conn, name)["id"]
        query = (
            sa.select(alias_history)
            .where(alias_history.c.model_id == model_id)
            .order_by(alias_history.c.id)
        )
        if alias is not None:
            query = query.where(alias_history.c.alias == alias)
        return [
            AliasMove(
                name, r["alias"], r["old_version"], r["new_version"], r["note"], r["by"], r["at"]
            )
            for r in conn.execute(query).mappings()
        ]


# -- cards ---------------------------------------------------------------------------------------


def set_card(settings: Settings, ref: str, text: str) -> ModelVersion:
    """Replace the card of the version ``ref`` names."""
    if not text.strip():
        raise ConfigError("the new card is empty", "give a Markdown file with the card's text")
    with get_database(settings.db_url).write() as conn:
        version = _resolve(conn, ref)
        conn.execute(
            model_versions.update().where(model_versions.c.id == version.id).values(card=text)
        )
    return get_version(settings, version.ref)


def set_card_field(settings: Settings, ref: str, key: str, value: str) -> ModelVersion:
    """Set one section of the card (``owner``, ``intended use``, ``limitations``, any new one)."""
    if not key.strip():
        raise ConfigError("--set-field needs KEY=VALUE", "for example --set-field owner=ana")
    with get_database(settings.db_url).write() as conn:
        version = _resolve(conn, ref)
        text = card.set_field(version.card, key, value)
        conn.execute(
            model_versions.update().where(model_versions.c.id == version.id).values(card=text)
        )
    return get_version(settings, version.ref)


# -- diff ----------------------------------------------------------------------------------------


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


# -- exports (filled in by daybreak.convert) ------------------------------------------------------


def record_export(
    settings: Settings,
    ref: str,
    target: str,
    format: str,
    precision: str,
    status: str,
    report: dict[str, Any],
    uri: str | None = None,
    size: int | None = None,
    recommended: bool = False,
) -> Export:
    """Store one converted form of a version with its report; a recommended export makes the
    version's other exports for the same target not recommended."""
    if status not in EXPORT_STATUSES:
        raise ConfigError(f"export status {status!r}", f"one of {', '.join(EXPORT_STATUSES)}")
    if recommended and status != "ok":
        raise ConfigError("only a validated export (status ok) can be recommended", "")
    now = time.time()
    with get_database(settings.db_url).write() as conn:
        version = _resolve(conn, ref)
        if recommended:
            conn.execute(
                exports.update()
                .where(exports.c.version_id == version.id, exports.c.target == target)
                .values(recommended=False)
            )
        values: dict[str, Any] = {
            "target": target,
            "format": format,
            "precision": precision,
            "uri": uri,
            "size": size,
            "report": report,
            "status": status,
            "recommended": recommended,
            "created_at": now,
        }
        result = conn.execute(exports.insert().values(version_id=version.id, **values))
        new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return Export(id=new_id, ref=version.ref, **values)


def list_exports(settings: Settings, ref: str) -> list[Export]:
    with get_database(settings.db_url).read() as conn:
        version = _resolve(conn, ref)
        rows = conn.execute(
            sa.select(exports).where(exports.c.version_id == version.id).order_by(exports.c.id)
        ).mappings()
        return [
            Export(
                id=r["id"],
                ref=version.ref,
                **{k: r[k] for k in ("target", "format", "precision", "uri", "size", "report")},
                status=r["status"],
                recommended=bool(r["recommended"]),
                created_at=r["created_at"],
            )
            for r in rows
        ]
