"""The tiler application (no cache): ``create_tiler_app(settings)``.

The cache layer and the admin routes are composed around it in ``main.py``;
this module is the heavy one (rasterio, xarray, zarr), imported lazily by the
Lambda only when a request misses the cache.
"""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from titiler.core.factory import AlgorithmFactory, ColorMapFactory, TMSFactory

from titiler_eopf import __version__
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.checks import colormap_image_check
from titiler_eopf.tiler.colormaps import eopf_colormaps
from titiler_eopf.tiler.factory import EOPFTilerFactory
from titiler_eopf.tiler.http_errors import add_exception_handlers
from titiler_eopf.tiler.pages import add_docs, build_pages_router
from titiler_eopf.tiler.settings import TilerSettings

logger = logging.getLogger("titiler_eopf")


def create_tiler_app(
    settings: TilerSettings, catalog: Catalog | None = None, versions=None, metadata_store=None
) -> FastAPI:
    """Build the FastAPI tiler for ``settings`` (nothing read from the environment).
    ``versions``: the ``SourceVersions`` shared with the cache (one per process);
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
    tiler = EOPFTilerFactory(catalog=catalog, limits=settings, extensions=[wmts])
    app.include_router(tiler.router, prefix=tiler.router_prefix, tags=["EOPF items"])
    from titiler_eopf.tiler.mosaic import add_mosaic_routes

    add_mosaic_routes(app, catalog, tiler)  # collection mosaics, with a STAC API only
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

    add_exception_handlers(app)
    return app
