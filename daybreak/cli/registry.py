"""``daybreak model``: register runs and ONNX files, ls, show, diff, alias, card, category."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from daybreak.cli.console import console, print_json
from daybreak.config import get_settings
from daybreak.errors import ConfigError

if TYPE_CHECKING:
    from daybreak.registry.records import ModelVersion

model_app = typer.Typer(
    help="The model registry: categories, models, versions, aliases and model cards.",
    no_args_is_help=True,
)
category_app = typer.Typer(help="Model categories (pose, face, classification, ...).")
model_app.add_typer(category_app, name="category")

REF_HELP = "NAME (its latest version), NAME@N or NAME@ALIAS."
JSON_HELP = "Print JSON."


def register(app: typer.Typer) -> None:
    """Add the ``model`` group to the ``daybreak`` command."""
    app.add_typer(model_app, name="model")


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _floats(value: str | None, flag: str) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(
            f"{flag} {value!r} is not a list of numbers", "e.g. 0.485,0.456,0.406"
        ) from exc


def _registered(version: ModelVersion, as_json: bool) -> None:
    if as_json:
        print_json(version.to_dict())
        return
    console.print(f"registered [bold]{escape(version.ref)}[/] ({version.category})")


@model_app.command("register")
def register_cmd(
    run: str = typer.Argument(..., help="A run id or a unique prefix of one."),
    name: str = typer.Option(..., "--name", help="The model's name, e.g. pose-lite."),
    category: str = typer.Option(..., "--category", help="Its category, e.g. pose."),
    checkpoint: int | None = typer.Option(None, "--checkpoint", help="The step (default: latest)."),
    description: str = typer.Option("", "--description"),
    owner: str = typer.Option("", "--owner", help="Who looks after it (default: you)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Register a run's checkpoint as the model's next version, with its lineage."""
    from daybreak.registry import service

    version = service.register_run(
        get_settings(), run, name, category, checkpoint, description, owner
    )
    _registered(version, as_json)


@model_app.command("register-onnx")
def register_onnx_cmd(
    file: Path = typer.Argument(..., help="An .onnx file made elsewhere."),
    name: str = typer.Option(..., "--name"),
    category: str = typer.Option(..., "--category"),
    labels: str | None = typer.Option(None, "--labels", help="Comma-separated label names."),
    mean: str | None = typer.Option(None, "--mean", help="Per-channel mean, comma-separated."),
    std: str | None = typer.Option(None, "--std", help="Per-channel std, comma-separated."),
    description: str = typer.Option("", "--description"),
    owner: str = typer.Option("", "--owner"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Register an ONNX file (checked, loadable by ONNX Runtime) as the model's next version."""
    from daybreak.registry import service

    names = [v.strip() for v in labels.split(",") if v.strip()] if labels else None
    version = service.register_onnx(
        get_settings(),
        file,
        name,
        category,
        names,
        _floats(mean, "--mean"),
        _floats(std, "--std"),
        description,
        owner,
    )
    _registered(version, as_json)


@model_app.command("ls")
def ls_cmd(
    category: str | None = typer.Option(None, "--category"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List models, with their latest version and aliases."""
    from daybreak.registry import service

    found = service.list_models(get_settings(), category)
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    table = Table("model", "category", "latest", "aliases", "owner", "created")
    for m in found:
        aliases = ", ".join(f"{a}→{v}" for a, v in m.aliases.items())
        table.add_row(
            escape(m.name),
            m.category,
            str(m.latest or "-"),
            escape(aliases),
            escape(m.owner),
            _when(m.created_at),
        )
    console.print(table if found else "no models registered yet")


@model_app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help=REF_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show a version: lineage, signature, preprocessing and card."""
    from daybreak.registry import service
    from daybreak.registry.signature import show

    version = service.get_version(get_settings(), ref)
    if as_json:
        print_json(version.to_dict())
        return
    aliases = f" [{', '.join(version.aliases)}]" if version.aliases else ""
    console.print(f"[bold]{escape(version.ref)}[/]{escape(aliases)}  {version.category}")
    console.print(
        f"source {version.source}  run {version.run_id or '-'}  step {version.checkpoint_step}"
    )
    console.print(
        f"artifact {escape(version.uri)} ({version.size} bytes, sha256 {version.sha256[:12]})"
    )
    code = version.lineage.get("code") or {}
    datasets = ", ".join(d["ref"] for d in version.lineage.get("datasets", []))
    console.print(f"datasets {escape(datasets or '-')}  commit {code.get('commit') or '-'}")
    for line in show(version.signature):
        console.print(f"  {escape(line)}")
    console.print(f"preprocessing {escape(str(version.preprocessing))}")
    console.print()
    console.print(version.card, markup=False, highlight=False)


@model_app.command("diff")
def diff_cmd(
    old: str = typer.Argument(..., help=REF_HELP),
    new: str = typer.Argument(..., help=REF_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """What differs between two versions: config, metrics, lineage, signature, preprocessing."""
    from daybreak.registry import compare

    changes = compare.diff(get_settings(), old, new)
    if as_json:
        print_json(changes)
        return
    console.print(f"[bold]{escape(changes['old'])}[/] → [bold]{escape(changes['new'])}[/]")
    for section in ("config", "metrics", "lineage", "signature", "preprocessing"):
        items = changes[section]
        if not items:
            continue
        console.print(f"[bold]{section}[/]")
        for key, (a, b) in items.items():
            console.print(f"  {escape(key)}: {escape(repr(a))} → {escape(repr(b))}")
    if not any(changes[s] for s in changes if s not in ("old", "new")):
        console.print("no differences")


@model_app.command("alias")
def alias_cmd(
    target: str = typer.Argument(..., help="NAME@N (or NAME@ALIAS) to point at; 'ls' to list."),
    alias: str = typer.Argument(
        ..., help="The alias (production, staging, demo, ...); for ls: NAME."
    ),
    note: str = typer.Option("", "--note", help="Why: kept in the alias's history."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias from the model."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Move an alias to a version (`model alias pose-lite@3 production --note "why"`), remove it
    (`--delete`), or list current aliases and their history (`model alias ls pose-lite`)."""
    from daybreak.registry import aliases

    settings = get_settings()
    if target == "ls":
        _alias_ls(alias, as_json)
        return
    if delete:
        move = aliases.delete_alias(settings, target.partition("@")[0], alias, note)
        if as_json:
            print_json(move.to_dict())
        else:
            console.print(
                f"removed {escape(move.model)}@{escape(alias)} (was version {move.old_version})"
            )
        return
    moved = aliases.set_alias(settings, target, alias, note)
    if as_json:
        print_json(moved.to_dict())
    else:
        console.print(f"{escape(moved.model)}@{escape(alias)} → version {moved.version}")


def _alias_ls(name: str, as_json: bool) -> None:
    from daybreak.registry import aliases

    settings = get_settings()
    current = aliases.list_aliases(settings, name)
    history = aliases.alias_moves(settings, name)
    if as_json:
        print_json(
            {"aliases": [a.to_dict() for a in current], "history": [h.to_dict() for h in history]}
        )
        return
    table = Table("alias", "version", "note", "by", "when")
    for a in current:
        table.add_row(
            escape(a.alias),
            str(a.version),
            escape(a.note),
            escape(a.updated_by),
            _when(a.updated_at),
        )
    console.print(table if current else f"{name} has no aliases")
    moves = Table("when", "alias", "from", "to", "note", "by", title="history")
    for h in history:
        moves.add_row(
            _when(h.at),
            escape(h.alias),
            str(h.old_version or "-"),
            str(h.new_version or "-"),
            escape(h.note),
            escape(h.by),
        )
    if history:
        console.print(moves)


@model_app.command("card")
def card_cmd(
    ref: str = typer.Argument(..., help=REF_HELP),
    edit: Path | None = typer.Option(
        None, "--edit", help="Replace the card with this Markdown file."
    ),
    set_field: list[str] = typer.Option(
        [], "--set-field", help="KEY=VALUE: set one section (owner, limitations, ...)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show a version's model card, or edit it."""
    from daybreak.registry import service

    settings = get_settings()
    if edit is not None:
        if not edit.is_file():
            raise ConfigError(f"no file {str(edit)!r}", "give a Markdown file with the card")
        service.set_card(settings, ref, edit.read_text(encoding="utf-8"))
    for pair in set_field:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(
                f"--set-field {pair!r} is not KEY=VALUE", "e.g. --set-field owner=ana"
            )
        service.set_card_field(settings, ref, key, value)
    version = service.get_version(settings, ref)
    if as_json:
        print_json({"ref": version.ref, "card": version.card})
    else:
        console.print(version.card, markup=False, highlight=False)


@category_app.command("ls")
def category_ls(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the categories."""
    from daybreak.registry import categories

    found = categories.list_all(get_settings())
    if as_json:
        print_json([c.to_dict() for c in found])
        return
    table = Table("category", "description", "intended use")
    for c in found:
        table.add_row(c.name, escape(c.description), escape(c.intended_use))
    console.print(table)


@category_app.command("add")
def category_add(
    name: str = typer.Argument(...),
    description: str = typer.Option("", "--description"),
    intended_use: str = typer.Option("", "--intended-use", help="Goes into its models' cards."),
) -> None:
    """Add a category."""
    from daybreak.registry import categories

    added = categories.add(get_settings(), name, description, intended_use)
    console.print(f"added category {escape(added.name)}")
