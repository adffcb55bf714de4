"""Dataset versions on the web: the datasets, one dataset's versions, one version (stats and a
grid of thumbnails with their labels drawn in the browser), the diff of two versions; the same
as JSON, plus the thumbnails and masks the grid draws."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from daybreak.errors import ConfigError, DaybreakError, NotFoundError
from daybreak.lake import browse, datasets, thumbnails
from daybreak.lake.datasets import DatasetVersion
from daybreak.web.deps import settings as _settings

api = APIRouter(prefix="/api", tags=["datasets"])
pages = APIRouter(include_in_schema=False)
IMMUTABLE = "private, max-age=31536000, immutable"


def _version(request: Request, name: str, version: str) -> DatasetVersion:
    return datasets.get(_settings(request), f"{name}@{version}")


def _diff_pair(request: Request, name: str, a: str | None, b: str | None) -> tuple[Any, Any]:
    """The two versions to compare: ``a`` and ``b``, by default the latest and the one before."""
    found = datasets.list_versions(_settings(request), name)
    if not found:
        datasets.get(_settings(request), name)  # raises "no dataset called ..."
    new = _version(request, name, b) if b else found[-1]
    if a:
        old = _version(request, name, a)
    else:
        older = [r for r in found if r.version < new.version]
        old = older[-1] if older else new
    return old, new


# ---- JSON ---------------------------------------------------------------------------------
@api.get("/datasets")
def list_datasets(request: Request) -> list[dict[str, Any]]:
    """Every dataset with its number of versions and its latest version."""
    return browse.summaries(_settings(request))


@api.get("/datasets/{name}")
def get_dataset(request: Request, name: str) -> dict[str, Any]:
    """A dataset's versions, newest first, each with the runs that read it."""
    return {"name": name, "versions": browse.version_refs(_settings(request), name)}


@api.get("/datasets/{name}/diff")
def diff(request: Request, name: str, a: str | None = None, b: str | None = None) -> dict[str, Any]:
    """What changed from version ``a`` to ``b``, with samples of each change."""
    old, new = _diff_pair(request, name, a, b)
    return browse.diff_detail(_settings(request), old, new)


@api.get("/datasets/{name}/{version}")
def get_version(request: Request, name: str, version: str) -> dict[str, Any]:
    """One version (a number or a tag) with its runs and its stats."""
    settings = _settings(request)
    record = _version(request, name, version)
    return {
        **record.to_dict(),
        "ref": record.ref,
        "runs": datasets.runs_using(settings, record),
        "stats": browse.version_stats(settings, record),
    }


@api.get("/datasets/{name}/{version}/samples")
def samples(
    request: Request,
    name: str,
    version: str,
    split: str | None = None,
    label: str | None = None,
    page: int = 1,
    per_page: int = browse.PER_PAGE,
) -> dict[str, Any]:
    """A page of the version's samples (``split`` and ``label`` filter) with their labels."""
    record = _version(request, name, version)
    return browse.page_of_samples(_settings(request), record, split, label, page, per_page)


@api.get("/datasets/{name}/{version}/thumbnails/{sha256}")
def thumbnail(
    request: Request, name: str, version: str, sha256: str, size: int = thumbnails.DEFAULT_SIZE
) -> Response:
    """A small JPEG/PNG of one of the version's assets (cached; the ETag never changes)."""
    settings = _settings(request)
    record = _in_version(request, name, version, sha256)
    etag = f'"{sha256[:20]}-{thumbnails.check_size(size)}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    found = thumbnails.thumbnail(settings, record, sha256, size)
    headers = {"ETag": f'"{found.etag}"', "Cache-Control": IMMUTABLE}
    return Response(found.data, media_type=found.media_type, headers=headers)


@api.get("/datasets/{name}/{version}/masks/{sha256}/{index}")
def mask(
    request: Request,
    name: str,
    version: str,
    sha256: str,
    index: int,
    size: int = thumbnails.DEFAULT_SIZE,
) -> Response:
    """Label ``index`` of an asset as a white-on-black PNG mask the size of its thumbnail."""
    record = _in_version(request, name, version, sha256)
    found = thumbnails.mask_png(_settings(request), record, sha256, index, size)
    etag = f'"{found.etag}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(found.data, media_type=found.media_type, headers=headers)


def _in_version(request: Request, name: str, version: str, sha256: str) -> DatasetVersion:
    record = _version(request, name, version)
    thumbnails.check_sha(sha256)
    if sha256 not in browse.index_of(_settings(request), record).by_sha:
        raise NotFoundError(f"{record.ref} has no asset {sha256[:12]}…", "pick one of its samples")
    return record


# ---- pages --------------------------------------------------------------------------------
def _error_page(request: Request, exc: DaybreakError) -> Response:
    from daybreak.web.pages import _render, not_found

    if isinstance(exc, NotFoundError) and exc.http_status == 404:
        return not_found(request, exc)
    title = "Gone" if exc.http_status == 410 else "Cannot show this"
    return _render(
        request, "error.html", exc.http_status, title=title, message=exc.message, hint=exc.hint
    )


@pages.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request) -> Response:
    from daybreak.web.pages import _render

    found = browse.summaries(_settings(request))
    return _render(request, "datasets.html", title="Datasets", found=found)


@pages.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(request: Request, name: str) -> Response:
    from daybreak.web.pages import _render

    try:
        versions = browse.version_refs(_settings(request), name)
    except DaybreakError as exc:
        return _error_page(request, exc)
    return _render(request, "dataset.html", title=name, dataset=name, versions=versions)


@pages.get("/datasets/{name}/diff", response_class=HTMLResponse)
def diff_page(request: Request, name: str, a: str | None = None, b: str | None = None) -> Response:
    from daybreak.web.pages import _render

    settings = _settings(request)
    try:
        old, new = _diff_pair(request, name, a, b)
        changes = browse.diff_detail(settings, old, new)
    except DaybreakError as exc:
        return _error_page(request, exc)
    versions = [r.version for r in datasets.list_versions(settings, name)]
    return _render(
        request,
        "dataset_diff.html",
        title=f"{old.ref} → {new.ref}",
        dataset=name,
        old=old,
        new=new,
        diff=changes,
        versions=versions,
    )


@pages.get("/datasets/{name}/{version}", response_class=HTMLResponse)
def version_page(
    request: Request,
    name: str,
    version: str,
    split: str | None = None,
    label: str | None = None,
    page: str | None = None,
) -> Response:
    from daybreak.web.pages import _render

    settings = _settings(request)
    try:
        record = _version(request, name, version)
        start = _page_number(page)
        stats = None if record.purged_at else browse.version_stats(settings, record)
    except DaybreakError as exc:
        return _error_page(request, exc)
    return _render(
        request,
        "dataset_version.html",
        title=record.ref,
        record=record,
        runs=datasets.runs_using(settings, record),
        stats=stats,
        chosen={"split": split or "", "label": label or "", "page": start},
        versions=[r.version for r in datasets.list_versions(settings, name)],
    )


def _page_number(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ConfigError(f"page {raw[:40]!r} is not a page number", "pages are 1, 2, 3, …")
    return int(raw)
