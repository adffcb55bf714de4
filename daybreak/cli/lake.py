"""``daybreak lake ...`` and ``daybreak dataset ...``: thin commands over daybreak.lake."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from daybreak.cli.console import console, print_json
from daybreak.config import get_settings

if TYPE_CHECKING:
    from daybreak.lake.tables import Lake

lake_app = typer.Typer(
    help="The data lake: ingest files, query labels and metadata.", no_args_is_help=True
)
dataset_app = typer.Typer(help="Dataset versions composed from the lake.", no_args_is_help=True)


def _lake() -> Lake:
    from daybreak.lake.tables import Lake

    return Lake(get_settings())


@lake_app.command("ingest")
def ingest(
    paths: list[str] = typer.Argument(..., help="Files, folders and s3:// prefixes to add."),
    source: str = typer.Option("", help="Where the data came from [default: the folder given]."),
    folder_labels: bool = typer.Option(
        False, "--folder-labels", help="Use each file's folder name as its class."
    ),
    fps: float = typer.Option(1.0, "--fps", help="Frames sampled per second of video."),
    verify: str = typer.Option(
        "structure",
        "--verify",
        help="structure: check headers and end markers (a file that fails is decoded to be sure); "
        "decode: decode every image.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Add images (JPEG, PNG, WebP), video frames and text; duplicates stored once, bad files skipped."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from daybreak.lake.ingest import ingest as run_ingest
    from daybreak.lake.ingest import total_size, walk

    found = list(walk(paths))
    total_bytes = total_size(found)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        disable=as_json,
    ) as progress:
        task = progress.add_task(f"ingest 0/{len(found)} files", total=total_bytes)

        def advance(done: int, size: int) -> None:
            progress.update(task, advance=size, description=f"ingest {done}/{len(found)} files")

        report = run_ingest(
            _lake(),
            paths,
            source=source,
            folder_labels=folder_labels,
            progress=advance,
            fps=fps,
            verify=verify,
        )
    if as_json:
        print_json(report.to_dict())
        return
    rate = report.added / report.seconds if report.seconds else 0.0
    console.print(
        f"added [bold]{report.added}[/] assets ({report.bytes_added / 2**20:.1f} MiB, {rate:,.0f}/s) in "
        f"{report.commits} commit(s); {len(report.duplicates)} duplicate(s); {report.labels_added} label(s); "
        f"{len(report.skipped)} skipped"
    )
    for path, reason in report.skipped:
        console.print(f"  [yellow]skipped[/] {path}: {reason}")
    for path, digest in report.duplicates[:20]:
        console.print(f"  [dim]duplicate[/] {path} (already in as {digest[:12]})")


@lake_app.command("labels")
def labels(
    path: Path = typer.Argument(..., help="The label file."),
    fmt: str = typer.Option(..., "--format", help="coco, labelstudio, csv or jsonl."),
    source: str = typer.Option(
        None, help="Who or what made the labels [default: the file's name]."
    ),
    round_: int = typer.Option(
        None, "--round", help="Labelling round [default: the source's next]."
    ),
    images: Path = typer.Option(
        None, "--images", help="Folder the file's image paths are relative to."
    ),
    allow_unknown: bool = typer.Option(
        False, "--allow-unknown", help="Skip labels of assets not in the lake."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import labels (checked whole first: nothing is written if anything is wrong)."""
    from daybreak.lake.labels import import_labels

    report = import_labels(_lake(), path, fmt, source, round_, images, allow_unknown)
    if as_json:
        print_json(report.to_dict())
        return
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.by_kind.items())) or "nothing"
    console.print(
        f"imported {report.added} labels ({kinds}) as {report.source} round {report.round}"
    )
    if report.unknown_assets:
        console.print(
            f"[yellow]skipped {len(report.unknown_assets)} label(s) of assets not in the lake[/]"
        )


@lake_app.command("delete")
def delete(
    where: str = typer.Option(..., "--where", help="SQL predicate over the items view."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Take assets (and their labels) out of the lake: new dataset versions no longer see them."""
    from daybreak.lake import remove

    lake = _lake()
    settings = get_settings()
    shas = remove.matching(lake, where)
    if not shas:
        from daybreak.cli.console import fail

        fail(f"the predicate {where!r} matches no assets", "check it with `daybreak lake sql`")
    if not yes and not as_json:
        versions = remove.affected(settings, set(shas))
        console.print(
            f"{len(shas)} assets match; dataset versions that contain some: {', '.join(versions) or 'none'}"
        )
        typer.confirm("Delete them from the lake?", abort=True)
    report = remove.delete(lake, settings, where)
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"deleted {len(report.assets)} assets and {report.labels_removed} labels; "
        f"earlier dataset versions that still hold them: {', '.join(report.affected_datasets) or 'none'}"
    )


@lake_app.command("compact")
def compact(as_json: bool = typer.Option(False, "--json")) -> None:
    """Merge the small fragments that ingests leave; every dataset version stays readable."""
    result = _lake().compact()
    if as_json:
        print_json(result)
        return
    for table, metrics in result.items():
        console.print(
            f"{table}: {metrics['fragments_removed']} fragments merged into {metrics['fragments_added']}"
        )


@lake_app.command("cleanup")
def cleanup(
    older_than_days: float = typer.Option(
        7.0, "--older-than-days", help="Only versions older than this."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Delete every old table version, even those dataset versions point at: those are "
        "re-pinned to the current version, or retired when an asset they hold was deleted.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before --force."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete old table versions; versions a dataset version refers to are kept unless --force."""
    if force:
        from daybreak.lake.purge import force_cleanup

        if not yes and not as_json:
            typer.confirm(
                "Delete every old table version (dataset versions holding deleted assets are retired)?",
                abort=True,
            )
        _print_cleanup(force_cleanup(_lake(), get_settings()), as_json)
        return
    result = _lake().cleanup(older_than_days * 86400)
    if as_json:
        print_json(result)
        return
    for table, stats in result.items():
        console.print(
            f"{table}: {stats['versions_removed']} versions removed, {stats['bytes_removed'] / 2**20:.1f} MiB freed"
        )


@lake_app.command("purge")
def purge(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask first."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Remove the bytes and labels of deleted assets from storage for good; reports the dataset
    versions that held them (retired) and the runs that trained on those."""
    from daybreak.lake.purge import purge as run_purge

    if not yes and not as_json:
        typer.confirm(
            "Remove deleted assets' bytes from storage? Dataset versions that hold them can no "
            "longer be read afterwards",
            abort=True,
        )
    _print_cleanup(run_purge(_lake(), get_settings()), as_json)


def _print_cleanup(report: Any, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    freed = sum(report.bytes_removed.values()) / 2**20
    removed = sum(report.versions_removed.values())
    if report.purged_assets:
        console.print(f"purged [bold]{len(report.purged_assets)}[/] assets from storage")
    console.print(f"{removed} table versions removed, {freed:.1f} MiB freed")
    console.print(
        f"dataset versions re-pinned (still readable): {', '.join(report.repinned) or 'none'}"
    )
    if report.retired:
        console.print(
            f"[yellow]dataset versions retired[/] (held purged assets): {', '.join(report.retired)}"
        )
        console.print(f"runs that read them: {', '.join(report.runs) or 'none'}")


@lake_app.command("sql")
def sql(
    query: str = typer.Argument(..., help="SQL over the views assets, labels and items."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Query the lake's metadata and labels with DuckDB."""
    from daybreak.lake.query import run_sql

    columns, rows = run_sql(_lake(), query)
    if as_json:
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


@lake_app.command("stats")
def stats(as_json: bool = typer.Option(False, "--json")) -> None:
    """Assets by kind and format, labels by source and class, table versions."""
    from daybreak.lake.query import run_sql

    lake = _lake()
    out: dict[str, Any] = {
        "versions": lake.versions(),
        "assets": [
            dict(zip(("kind", "format", "count", "bytes"), r, strict=True))
            for r in run_sql(
                lake,
                "SELECT kind, format, count(*), sum(size) FROM assets GROUP BY ALL ORDER BY ALL",
            )[1]
        ],
        "labels": [
            dict(zip(("source", "kind", "label", "count"), r, strict=True))
            for r in run_sql(
                lake, "SELECT source, kind, label, count(*) FROM labels GROUP BY ALL ORDER BY ALL"
            )[1]
        ],
    }
    if as_json:
        print_json(out)
        return
    console.print(f"table versions: {out['versions']}")
    assets = Table("kind", "format", "count", "MiB", title="assets")
    for row in out["assets"]:
        assets.add_row(
            str(row["kind"]),
            str(row["format"]),
            str(row["count"]),
            f"{(row['bytes'] or 0) / 2**20:.1f}",
        )
    labels = Table("source", "kind", "label", "count", title="labels")
    for row in out["labels"]:
        labels.add_row(str(row["source"]), str(row["kind"]), str(row["label"]), str(row["count"]))
    console.print(assets, labels)


@dataset_app.command("create")
def create(
    name: str = typer.Argument(..., help="Dataset name; each create makes its next version."),
    where: str = typer.Option("TRUE", "--where", help="SQL predicate over the items view."),
    split: str = typer.Option(
        "train=0.8,val=0.1,test=0.1", "--split", help="train=0.8,val=0.1,test=0.1 or 80/10/10."
    ),
    seed: int = typer.Option(0, "--seed", help="Changes which assets land in which split."),
    stratify_by: str = typer.Option(
        None, "--stratify-by", help="label: keep each class's split fractions."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create an immutable, fingerprinted dataset version with stable splits."""
    from daybreak.lake import datasets

    record = datasets.create(
        _lake(), get_settings(), name, where, datasets.parse_splits(split), seed, stratify_by
    )
    if as_json:
        print_json(record.to_dict())
        return
    counts = ", ".join(f"{k} {v}" for k, v in record.split_counts.items())
    console.print(
        f"created [bold]{record.ref}[/]: {record.rows} assets ({counts}); fingerprint {record.fingerprint[:16]}"
    )


@dataset_app.command("ls")
def ls(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every dataset version."""
    from daybreak.lake import datasets

    records = datasets.list_versions(get_settings())
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    table = Table("dataset", "rows", "splits", "predicate", "fingerprint", "state")
    for r in records:
        table.add_row(
            r.ref,
            str(r.rows),
            ", ".join(f"{k} {v}" for k, v in r.split_counts.items()),
            r.predicate,
            r.fingerprint[:12],
            "[yellow]purged[/]" if r.purged_at else "readable",
        )
    console.print(table)


@dataset_app.command("tag")
def dataset_tag(
    ref: str = typer.Argument(..., help="NAME@VERSION to name."),
    label: str = typer.Argument(
        ..., metavar="TAG", help="The name, e.g. paper: then NAME@paper works."
    ),
) -> None:
    """Name a dataset version; the name moves if given to another version."""
    from daybreak.lake import datasets

    record = datasets.tag(get_settings(), ref, label)
    console.print(f"{record.name}@{label} → {record.ref}")


@dataset_app.command("stats")
def dataset_stats(
    ref: str = typer.Argument(..., help="NAME@VERSION or NAME."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Assets per split and label."""
    from daybreak.lake import datasets

    settings = get_settings()
    record = datasets.get(settings, ref)
    counts = datasets.stats(settings, record)
    if as_json:
        print_json({"dataset": record.ref, "counts": counts})
        return
    labels = sorted({label for per_split in counts.values() for label in per_split})
    table = Table("label", *counts, title=record.ref)
    for label in labels:
        table.add_row(label, *(str(counts[split].get(label, 0)) for split in counts))
    console.print(table)


@dataset_app.command("diff")
def dataset_diff(
    old: str = typer.Argument(..., help="NAME@V1"),
    new: str = typer.Argument(..., help="NAME@V2"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Assets added, removed, moved between splits and relabelled from one version to another."""
    from daybreak.lake import datasets

    settings = get_settings()
    changes = datasets.diff(settings, datasets.get(settings, old), datasets.get(settings, new))
    if as_json:
        print_json(changes)
        return
    console.print(f"{changes['old']} → {changes['new']}: {changes['unchanged']} unchanged")
    for key in ("added", "removed", "moved", "relabelled"):
        shown = ", ".join(sha[:12] for sha in changes[key][:8]) + (
            " …" if len(changes[key]) > 8 else ""
        )
        console.print(f"  {key:>10}: {len(changes[key])} {shown}")


@dataset_app.command("export")
def dataset_export(
    ref: str = typer.Argument(..., help="NAME@VERSION or NAME."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write into."),
    fmt: str = typer.Option("folders", "--format", help="folders (SPLIT/LABEL/SHA.EXT) or coco."),
) -> None:
    """Export a version as folders (one per split and class) or as COCO (images + one JSON per split)."""
    from daybreak.lake import datasets, export

    settings = get_settings()
    record = datasets.get(settings, ref)
    if fmt == "folders":
        written = export.export_folders(_lake(), settings, record, out)
        console.print(f"wrote {written} files of {record.ref} to {out}")
    elif fmt == "coco":
        counts = export.export_coco(_lake(), settings, record, out)
        console.print(
            f"wrote {record.ref} as COCO to {out}: "
            + ", ".join(f"{k} {v} images" for k, v in counts.items())
        )
    else:
        from daybreak.cli.console import fail

        fail(f"unknown export format {fmt!r}", "use --format folders or --format coco")


@dataset_app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME@VERSION, or NAME for the latest."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One dataset version: predicate, splits, lake versions, fingerprint, notes."""
    from rich.markup import escape

    from daybreak.lake import datasets
    from daybreak.notes.service import list_notes
    from daybreak.store.engine import get_database

    settings = get_settings()
    record = datasets.get(settings, ref)
    details = {**record.to_dict(), "runs": datasets.runs_using(settings, record)}
    notes = [  # about the whole dataset or this version of it
        note
        for note in list_notes(get_database(settings.db_url), dataset=record.name)
        if note["dataset"] in (record.name, record.ref)
    ]
    if as_json:
        print_json({**details, "notes": notes})
        return
    for key, value in details.items():
        shown = ", ".join(value) if key == "runs" else value
        console.print(f"[bold]{key:>20}[/]  {shown}")
    for note in notes:
        console.print(f"[bold]{'note':>20}[/]  {escape(note['author'])}: {escape(note['body'])}")
