"""Pages for people: the landing page (``/``), the API docs (``/docs``) and the
browser assets they load (``/_vendor/...``), all served by the app: a browser
without internet access sees everything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Path
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from titiler_eopf import __version__
from titiler_eopf.presets import DEFAULT_PRESET, PRESETS, TMS
from titiler_eopf.tiler import assets
from titiler_eopf.tiler.html import templates, vendor_url
from titiler_eopf.tiler.listing import StoreListing
from titiler_eopf.tiler.settings import TilerSettings

ASSET_MAX_AGE = 86400  # assets change only with a new deployment


def build_pages_router(settings: TilerSettings) -> APIRouter:
    router = APIRouter()
    listing = StoreListing(settings)

    @router.get("/", response_class=HTMLResponse, tags=["Pages"], operation_id="landingPage")
    def landing(request: Request):
        """The collections and items of the store, each with its map, info and TileJSON links."""
        preset = PRESETS[DEFAULT_PRESET]
        return templates.TemplateResponse(
            request,
            "landing.html",
            {
                "listing": listing.get(),
                "root": request.scope.get("root_path", ""),
                "store_url": settings.store_url,
                "version": __version__,
                "tms": TMS,
                "query": preset.query(),
                "preset_title": preset.title,
            },
        )

    @router.get(
        "/_vendor/{package}/{name}",
        tags=["Pages"],
        operation_id="vendorAsset",
        name="vendor_asset",
        responses={200: {"content": {"text/javascript": {}, "text/css": {}, "image/png": {}}}},
    )
    def vendor_asset(
        package: Annotated[str, Path(description=f"one of {', '.join(assets.VENDOR_FILES)}")],
        name: Annotated[str, Path(description="a file of that package the pages use")],
    ):
        """MapLibre GL and Swagger UI files (from npm), served by the app."""
        if not assets.is_listed(package, name):
            listed = [f"{p}/{n}" for p, names in assets.VENDOR_FILES.items() for n in names]
            raise HTTPException(404, f"no asset {package}/{name}; assets: {', '.join(listed)}")
        try:
            body = assets.read_asset(package, name)
        except assets.AssetMissing as exc:
            raise HTTPException(404, str(exc)) from None
        return Response(
            body,
            media_type=assets.media_type(name),
            headers={"Cache-Control": f"public, max-age={ASSET_MAX_AGE}"},
        )

    return router


def add_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI from ``/_vendor`` (FastAPI's own loads it from a CDN)."""

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API docs",
            swagger_js_url=vendor_url(request, "swagger-ui-dist", "swagger-ui-bundle.js"),
            swagger_css_url=vendor_url(request, "swagger-ui-dist", "swagger-ui.css"),
            swagger_favicon_url=vendor_url(request, "swagger-ui-dist", "favicon-32x32.png"),
        )
