"""The model registry on the web: models by category, a model's versions and aliases, one
version (lineage, signature, preprocessing, card, exports compared); the same as JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from daybreak.errors import NotFoundError
from daybreak.registry import aliases, exports, service
from daybreak.web.deps import settings as _settings

api = APIRouter(prefix="/api", tags=["models"])
pages = APIRouter(include_in_schema=False)


@api.get("/models")
def list_models(request: Request, category: str | None = None) -> list[dict[str, Any]]:
    """Every model (of ``category``) with its latest version and aliases."""
    return [m.to_dict() for m in service.list_models(_settings(request), category)]


@api.get("/models/{name}")
def get_model(request: Request, name: str) -> dict[str, Any]:
    """A model, its versions (oldest first) and its alias history."""
    settings = _settings(request)
    return {
        **service.get_model(settings, name).to_dict(),
        "versions": [v.to_dict() for v in service.list_versions(settings, name)],
        "alias_history": [m.to_dict() for m in aliases.alias_moves(settings, name)],
    }


@api.get("/models/{name}/versions/{which}")
def get_version(request: Request, name: str, which: str) -> dict[str, Any]:
    """One version (a number or an alias) with its exports."""
    settings = _settings(request)
    version = service.get_version(settings, f"{name}@{which}")
    found = exports.list_exports(settings, version.ref)
    return {**version.to_dict(), "exports": [e.to_dict() for e in found]}


@pages.get("/models", response_class=HTMLResponse)
def models_page(request: Request, category: str | None = None) -> Response:
    from daybreak.registry import categories
    from daybreak.web.pages import _render

    settings = _settings(request)
    found = service.list_models(settings, category)
    kinds = categories.list_all(settings)
    grouped = {k.name: [m for m in found if m.category == k.name] for k in kinds}
    return _render(
        request,
        "models.html",
        title="Models",
        grouped={k: v for k, v in grouped.items() if v},
        categories=kinds,
        chosen=category,
    )


@pages.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, name: str) -> Response:
    from daybreak.web.pages import _render, not_found

    settings = _settings(request)
    try:
        model = service.get_model(settings, name)
    except NotFoundError as exc:
        return not_found(request, exc)
    versions = list(reversed(service.list_versions(settings, name)))
    history = list(reversed(aliases.alias_moves(settings, name)))
    return _render(
        request, "model.html", title=name, model=model, versions=versions, history=history
    )


@pages.get("/models/{name}/{which}", response_class=HTMLResponse)
def version_page(request: Request, name: str, which: str) -> Response:
    from daybreak.registry.signature import show
    from daybreak.web.pages import _render, not_found

    settings = _settings(request)
    try:
        version = service.get_version(settings, f"{name}@{which}")
    except NotFoundError as exc:
        return not_found(request, exc)
    found = exports.list_exports(settings, version.ref)
    by_target: dict[str, list[Any]] = {}
    for export in found:
        by_target.setdefault(export.target, []).append(export)
    return _render(
        request,
        "model_version.html",
        title=version.ref,
        mv=version,
        signature=show(version.signature),
        card=_markdown(version.card),
        targets={t: _latest_conversion(e) for t, e in by_target.items()},
    )


def _latest_conversion(found: list[Any]) -> list[Any]:
    newest = found[-1].report.get("conversion")
    return [e for e in found if e.report.get("conversion") == newest]


def _markdown(text: str) -> str:
    """The card as HTML, its headings one level down (the page has the h1); raw HTML in the
    card is escaped, not rendered."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    return str(md.renderer.render(tokens, md.options, {}))
