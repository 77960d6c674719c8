"""Route factory: titiler's TilerFactory, fed by EOPF items and ``variables``.

Every route lives under ``/collections/{collection_id}/items/{item_id}``; the
path dependency opens the item (404 if it does not exist), the reader
dependency carries the repeated ``variables``.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Annotated, Any

from attrs import define, field
from fastapi import Depends, Path, Query
from fastapi.routing import APIRoute, APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse
from titiler.core.dependencies import DefaultDependency
from titiler.core.factory import TilerFactory
from titiler.core.resources.responses import JSONResponse

from titiler_eopf.paths import ID_PATTERN, ITEM_PREFIX
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.colormaps import colormap_dependency
from titiler_eopf.tiler.errors import ParameterError
from titiler_eopf.tiler.html import templates
from titiler_eopf.tiler.limits import LimitSettings
from titiler_eopf.tiler.params import BoundedRouter, bounded_dependencies
from titiler_eopf.tiler.product import Product
from titiler_eopf.tiler.reader import EOPFReader

MAX_SCALE = 4


@dataclass
class VariablesParams(DefaultDependency):
    """Bands of the request, in order."""

    variables: Annotated[
        list[str] | None,
        Query(
            description=(
                "Variables as `{group}:{variable}`, repeated, in band order; e.g. "
                "`/measurements/reflectance:b04`. The group may be a multiscale group "
                "(level chosen per request) or one of its levels (`.../r20m:b05`)."
            ),
        ),
    ] = None
    sel: Annotated[
        list[str] | None,
        Query(
            description=(
                "One value of each dimension besides y/x (titiler.xarray's syntax), repeated: "
                "`{dimension}={value}` or `{dimension}={method}::{value}`, e.g. "
                "`time=2022-01-01`, `time=nearest::2022-01-03`. `/info` lists the values."
            ),
        ),
    ] = None


def item_dependency(catalog: Catalog):
    """Path dependency returning the opened product."""

    def item(
        collection_id: Annotated[
            str, Path(pattern=ID_PATTERN.pattern, description="Collection id, e.g. sentinel-2-l2a")
        ],
        item_id: Annotated[str, Path(pattern=ID_PATTERN.pattern, description="Item (product) id")],
    ) -> Product:
        return catalog.open(collection_id, item_id)

    return item


def _with_scale(endpoint):
    """The tile endpoint with a ``scale`` path parameter instead of ``tilesize``.

    ``/tiles/{tms}/{z}/{x}/{y}@2x.png`` is a 512 px tile of a 256 px matrix.
    """
    signature = inspect.signature(endpoint)
    params = [p for p in signature.parameters.values() if p.name != "tilesize"]
    scale = inspect.Parameter(
        "scale",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[int, Path(ge=1, le=MAX_SCALE, description="Tile scale (1-4)")],
    )

    @functools.wraps(endpoint)
    def scaled(*args: Any, scale: int, **kwargs: Any):
        # 256 px is the matrix tile size of every TMS morecantile ships.
        return endpoint(*args, tilesize=256 * scale, **kwargs)

    scaled.__signature__ = signature.replace(parameters=params + [scale])  # type: ignore[attr-defined]
    return scaled


@define(kw_only=True)
class EOPFTilerFactory(TilerFactory):
    """TilerFactory for EOPF items, with `@{scale}x` tiles, `/info` and `/map`."""

    catalog: Catalog = field()
    reader: type[EOPFReader] = EOPFReader
    reader_dependency: type[DefaultDependency] = VariablesParams
    colormap_dependency: Any = field(factory=colormap_dependency)  # + EOPF colormaps (scl)
    # Every size-like parameter bounded (see titiler_eopf.tiler.params); TilerSettings is one.
    limits: LimitSettings = field(factory=LimitSettings.model_construct)
    path_dependency: Any = field(default=None)
    router_prefix: str = ITEM_PREFIX
    add_viewer: bool = False

    def __attrs_post_init__(self):
        self.path_dependency = item_dependency(self.catalog)
        for name, dependency in bounded_dependencies(self, self.limits).items():
            setattr(self, name, dependency)
        if type(self.router) is APIRouter:  # endpoints bounded as they are registered
            self.router = BoundedRouter(limits=self.limits)
        super().__attrs_post_init__()

    def register_routes(self):
        super().register_routes()
        self._add_scale_routes()
        self.map_viewer()

    def _add_scale_routes(self):
        """Register `{y}@{scale}x` forms *before* `{y}.{format}` so they match first."""
        routes = self.router.routes
        for route in list(routes):
            if not isinstance(route, APIRoute) or route.name != "tile":
                continue
            if not route.path.startswith("/tiles/"):
                continue
            base, _, suffix = route.path.partition("{y}")
            new_path = f"{base}{{y}}@{{scale}}x{suffix}"
            self.router.add_api_route(
                new_path,
                _with_scale(route.endpoint),
                methods=list(route.methods),
                response_class=route.response_class,
                responses=route.responses,
                operation_id=f"{route.operation_id}Scaled",
                name="tile_scaled",
            )
            new_route = routes.pop()
            routes.insert(routes.index(route), new_route)

    def info(self):
        """`/info`: the variables asked for, or the whole product without `variables`."""

        @self.router.get(
            "/info",
            response_class=JSONResponse,
            responses={200: {"description": "Product or variables info."}},
            operation_id=f"{self.operation_prefix}getInfo",
        )
        def info(
            product=Depends(self.path_dependency),
            reader_params=Depends(self.reader_dependency),
        ):
            """Bounds, CRS, levels and bands; lists every variable when none is asked."""
            if reader_params.variables:
                with self.reader(product, **reader_params.as_dict()) as src:
                    return src.info().model_dump(exclude_none=True)
            return product_summary(product)

        @self.router.get(
            "/info.geojson",
            response_class=JSONResponse,
            responses={
                200: {
                    "content": {"application/geo+json": {}},
                    "description": "The variables' info as a GeoJSON Feature.",
                }
            },
            operation_id=f"{self.operation_prefix}getInfoGeoJSON",
        )
        def info_geojson(
            product=Depends(self.path_dependency),
            reader_params=Depends(self.reader_dependency),
        ):
            """The info of the variables asked for, as a Feature whose geometry is their footprint."""
            from rio_tiler.constants import WGS84_CRS

            with self.reader(product, **reader_params.as_dict()) as src:
                minx, miny, maxx, maxy = src.get_geographic_bounds(WGS84_CRS)
                properties = src.info().model_dump(exclude_none=True)
            ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
            return JSONResponse(
                {
                    "type": "Feature",
                    "bbox": [minx, miny, maxx, maxy],
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": properties,
                },
                media_type="application/geo+json",
            )

    def map_viewer(self):
        @self.router.get(
            "/map",
            response_class=HTMLResponse,
            operation_id=f"{self.operation_prefix}getMapViewer",
        )
        def map_viewer(
            request: Request,
            product=Depends(self.path_dependency),
            reader_params=Depends(self.reader_dependency),
            preset: Annotated[
                str | None,
                Query(
                    description="Rendering to open with: true-colour, false-colour or ndvi (default true-colour)"
                ),
            ] = None,
            tileMatrixSetId: Annotated[
                str,
                Query(
                    max_length=64,
                    description="TileMatrixSet of the tiles shown (MapLibre: WebMercatorQuad)",
                ),
            ] = "WebMercatorQuad",
        ):
            """A map of the item (MapLibre GL served by the app): presets, rescale and colour
            formula controls, the footprint, and tiles counted by X-Cache. With `variables`,
            the query parameters are the rendering it opens with."""
            from titiler_eopf.tiler.viewer import viewer_context

            if tileMatrixSetId != "WebMercatorQuad":
                raise ParameterError(
                    f"Unknown tileMatrixSetId '{tileMatrixSetId}' for the map viewer: MapLibre draws "
                    "WebMercatorQuad tiles (other matrix sets: /tiles/{tileMatrixSetId}/... and TileJSON)"
                )
            tilejson = self.url_for(request, "tilejson", tileMatrixSetId="WebMercatorQuad")
            item_url = tilejson.rsplit("/WebMercatorQuad/tilejson.json", 1)[0]
            context = viewer_context(request, product, reader_params.variables, preset, item_url)
            return templates.TemplateResponse(request, "viewer.html", context)


def product_summary(product: Product) -> dict:
    """What a client needs to build its first request."""
    pyramids = []
    paths = product.pyramid_paths()
    for path, pyramid in zip(paths, product.pyramids(paths), strict=True):
        pyramids.append(
            {
                "group": f"/{path}",
                "crs": f"EPSG:{pyramid.crs.to_epsg()}"
                if pyramid.crs.to_epsg()
                else pyramid.crs.to_wkt(),
                "bounds": list(pyramid.bounds),
                "variables": [f"/{path}:{v}" for v in pyramid.variables],
                "levels": [
                    {
                        "name": level.name,
                        "resolution": level.resolution,
                        "shape": list(level.shape),
                        "variables": list(level.variables),
                    }
                    for level in pyramid.levels
                ],
            }
        )
    return {
        "collection": product.location.collection_id,
        "item": product.location.item_id,
        "variables": product.available_variables(),
        "pyramids": pyramids,
    }
