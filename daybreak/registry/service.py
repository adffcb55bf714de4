"""The registry's service functions: what the CLI, the web API and daybreak.convert call.

Register a run's checkpoint or an ONNX file as the next numbered version of a model, read
models and versions back by reference (``NAME``, ``NAME@3``, ``NAME@production``), move
and edit cards. Aliases, diffs and exports have their own modules (``aliases``, ``compare``,
``exports``)."""

from __future__ import annotations

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
from daybreak.registry.records import Model, ModelVersion
from daybreak.store.engine import get_database
from daybreak.store.schema import model_aliases, model_versions, models


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
        return _model_of(conn, model_row(conn, name))


def model_row(conn: Connection, name: str) -> Any:
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
        aliases=aliases_of(conn, row["id"]),
    )


def aliases_of(conn: Connection, model_id: int) -> dict[str, int]:
    rows = conn.execute(
        sa.select(model_aliases.c.alias, model_aliases.c.version)
        .where(model_aliases.c.model_id == model_id)
        .order_by(model_aliases.c.alias)
    ).all()
    return {alias: version for alias, version in rows}


def list_versions(settings: Settings, name: str) -> list[ModelVersion]:
    """Every version of model ``name``, oldest first."""
    with get_database(settings.db_url).read() as conn:
        row = model_row(conn, name)
        numbers = conn.execute(
            sa.select(model_versions.c.version)
            .where(model_versions.c.model_id == row["id"])
            .order_by(model_versions.c.version)
        ).scalars()
        return [_version(conn, row, n) for n in list(numbers)]


def get_version(settings: Settings, ref: str) -> ModelVersion:
    """The version ``ref`` names: ``NAME`` (latest), ``NAME@3`` or ``NAME@alias``."""
    with get_database(settings.db_url).read() as conn:
        return resolve_in(conn, ref)


def resolve_in(conn: Connection, ref: str) -> ModelVersion:
    name, selector = refs.parse(ref)
    row = model_row(conn, name)
    if selector is None:
        number = _model_of(conn, row).latest
        if number is None:
            raise NotFoundError(f"model {name!r} has no versions", "register one")
    elif isinstance(selector, int):
        number = selector
    else:
        found = aliases_of(conn, row["id"])
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
    aliases = [a for a, v in aliases_of(conn, model["id"]).items() if v == number]
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


# -- cards ---------------------------------------------------------------------------------------


def set_card(settings: Settings, ref: str, text: str) -> ModelVersion:
    """Replace the card of the version ``ref`` names."""
    if not text.strip():
        raise ConfigError("the new card is empty", "give a Markdown file with the card's text")
    with get_database(settings.db_url).write() as conn:
        version = resolve_in(conn, ref)
        conn.execute(
            model_versions.update().where(model_versions.c.id == version.id).values(card=text)
        )
    return get_version(settings, version.ref)


def set_card_field(settings: Settings, ref: str, key: str, value: str) -> ModelVersion:
    """Set one section of the card (``owner``, ``intended use``, ``limitations``, any new one)."""
    if not key.strip():
        raise ConfigError("--set-field needs KEY=VALUE", "for example --set-field owner=ana")
    with get_database(settings.db_url).write() as conn:
        version = resolve_in(conn, ref)
        text = card.set_field(version.card, key, value)
        conn.execute(
            model_versions.update().where(model_versions.c.id == version.id).values(card=text)
        )
    return get_version(settings, version.ref)
