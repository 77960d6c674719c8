"""The tiler application (no cache): ``create_tiler_app(settings)``.

The cache layer and the admin routes are composed around it in ``main.py``;
this module is the heavy one (rasterio, xarray, zarr), imported lazily by the
Lambda only when a request misses the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import Depends, FastAPI
from starlette.responses import JSONResponse, Response
from titiler.core.factory import AlgorithmFactory, ColorMapFactory, TMSFactory

from titiler_eopf import __version__
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.checks import colormap_image_check
from titiler_eopf.tiler.colormaps import eopf_colormaps
from titiler_eopf.tiler.factory import EOPFTilerFactory
from titiler_eopf.tiler.health import store_readiness
from titiler_eopf.tiler.http_errors import add_exception_handlers
from titiler_eopf.tiler.pages import add_docs, build_pages_router
from titiler_eopf.tiler.settings import TilerSettings
from titiler_eopf.tiler.stac import StacClient

logger = logging.getLogger("titiler_eopf")


def create_tiler_app(
    settings: TilerSettings,
    catalog: Catalog | None = None,
    versions=None,
    readiness: dict[str, Callable[[], dict]] | None = None,
    metadata_store=None,
) -> FastAPI:
    """Build the FastAPI tiler for ``settings`` (nothing read from the environment).
    ``versions``: the ``SourceVersions`` shared with the cache (one per process);
    ``readiness``: more parts of ``/readyz`` (``main.py`` adds the cache's state), each a
    callable answering a dict whose ``ready`` says whether the app can serve;
    ``metadata_store``: where opened products' metadata is shared across containers
    (``metadata_cache.BlobStore``, an adapter over the cache tier)."""
    catalog = catalog or Catalog(settings, versions, metadata_store)
    app = FastAPI(
        title="TiTiler-EOPF",
        description="Tiles, previews, points and statistics of EOPF Zarr products "
        "(native ESA and GeoZarr layouts).",
        version=__version__,
        docs_url=None,  # /docs is served with the app's own Swagger UI assets (pages.add_docs)
        redoc_url=None,  # ReDoc would load its script from a CDN
    )
    app.state.settings = settings
    app.state.catalog = catalog

    from titiler.extensions import wmtsExtension

    # WMTS GetCapabilities of an item (titiler's extension): layer named after the item
    wmts = wmtsExtension(layer_identifier_provider=lambda product: product.location.label)
    stac = StacClient(settings) if settings.stac_api_url else None
    tiler = EOPFTilerFactory(catalog=catalog, limits=settings, extensions=[wmts], stac=stac)
    app.include_router(tiler.router, prefix=tiler.router_prefix, tags=["EOPF items"])
    from titiler_eopf.tiler.mosaic import add_mosaic_routes

    add_mosaic_routes(app, catalog, tiler, stac)  # collection mosaics, with a STAC API only
    app.include_router(TMSFactory().router, tags=["Tiling schemes"])
    app.include_router(AlgorithmFactory().router, tags=["Algorithms"])  # `algorithm` of tiles
    app.include_router(
        ColorMapFactory(
            supported_colormaps=eopf_colormaps(),
            route_dependencies=[
                (
                    [{"path": "/colorMaps/viridis", "method": "GET"}],
                    [Depends(colormap_image_check(settings))],
                )
            ],
        ).router,
        tags=["Color maps"],
    )

    app.include_router(build_pages_router(settings))
    add_docs(app)

    @app.get("/healthz", tags=["Health"], operation_id="healthz")
    def healthz() -> dict:
        """Liveness: the app is up (does not touch the store)."""
        return {"status": "ok", "version": __version__}

    checks = {"store": lambda: store_readiness(settings), **(readiness or {})}

    @app.get(
        "/readyz",
        tags=["Health"],
        operation_id="readyz",
        responses={503: {"description": "A part the app needs is not ready"}},
    )
    def readyz() -> Response:
        """Readiness: the store answers a listing, and the state of the other parts (the
        cache's circuits; a cache that is down is bypassed, so it does not make the app
        unready). 503 when a part is not ready."""
        parts = {}
        for name, check in checks.items():
            try:
                parts[name] = check()
            except Exception as exc:  # noqa: BLE001 - a probe's failure is its answer
                parts[name] = {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
        ready = all(part.get("ready", True) for part in parts.values())
        body = {"status": "ready" if ready else "not ready", "version": __version__, **parts}
        return JSONResponse(body, status_code=200 if ready else 503)

    add_exception_handlers(app)
    return app
