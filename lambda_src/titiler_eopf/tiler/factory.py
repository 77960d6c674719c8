"""Route factory: titiler's TilerFactory, fed by EOPF items and ``variables``.

Every route lives under ``/collections/{collection_id}/items/{item_id}``; the path dependency
opens the item (404 if it does not exist), the reader dependency carries the repeated
``variables``. The options are the dependency classes of :mod:`titiler_eopf.tiler.dependencies`
(bounded by the server's limits), the whole-request checks the route dependencies of
:mod:`titiler_eopf.tiler.checks`; the router's route class puts failures in their class
(:mod:`titiler_eopf.tiler.http_errors`). Besides titiler's routes: ``@{scale}x`` tiles, an
``/info`` that lists the product, and the ``/map`` viewer.
"""

import json
from typing import Annotated, Any, Literal

from attrs import define, field
from fastapi import Depends, Path, Query
from fastapi.routing import APIRouter
from rio_tiler.utils import CRS_to_uri
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from titiler.core.factory import TilerFactory, img_endpoint_params
from titiler.core.resources.enums import ImageType, OptionalHeader
from titiler.core.resources.responses import JSONResponse

from titiler_eopf.paths import ID_PATTERN, ITEM_PREFIX, MAX_ZOOM, PARAM_PATTERNS, RENDER, RENDERS
from titiler_eopf.tiler import budget, checks
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.colormaps import colormap_dependency
from titiler_eopf.tiler.dependencies import (
    algorithm_dependency,
    bounded_dependencies,
    safe_render,
)
from titiler_eopf.tiler.dependencies import colormap_dependency as bounded_colormap
from titiler_eopf.tiler.errors import ItemNotFoundError, ParameterError
from titiler_eopf.tiler.html import templates
from titiler_eopf.tiler.http_errors import ClassifiedRoute
from titiler_eopf.tiler.layers import LayerReader
from titiler_eopf.tiler.limits import LimitSettings
from titiler_eopf.tiler.matrix_sets import shared_tile_matrix_sets
from titiler_eopf.tiler.png import render_image
from titiler_eopf.tiler.product import Product
from titiler_eopf.tiler.reader import EOPFReader
from titiler_eopf.tiler.renders import get_render, item_renders, render_entry
from titiler_eopf.tiler.stac import StacClient, StacItemLocation, item_location, render_selection

SHARED_TILE_MATRIX_SETS = shared_tile_matrix_sets()
TILE = "/tiles/{tileMatrixSetId}/{z}/{x}/{y}"


def image_response(image, rendered: tuple[bytes, str], headers=None, projjson=False) -> Response:
    """A rendered image with the headers of titiler's tile endpoint (bounds and CRS)."""
    content, media_type = rendered
    headers = dict(headers or {})
    if image.bounds is not None:
        headers["Content-Bbox"] = ",".join(map(str, image.bounds))
    if uri := CRS_to_uri(image.crs):
        headers["Content-Crs"] = f"<{uri}>"
    if projjson:
        headers["Content-Crs-JSON"] = json.dumps(image.crs.to_dict(projjson=True))
    return Response(content, media_type=media_type, headers=headers)


def item_dependency(catalog: Catalog, stac: StacClient | None = None):
    """Path dependency returning the opened product: ``{store}/{collection}/{item}.zarr``, else
    (with a STAC API) where the STAC item's Zarr asset is, under the store root."""

    def item(
        collection_id: Annotated[
            str, Path(pattern=ID_PATTERN.pattern, description="Collection id, e.g. sentinel-2-l2a")
        ],
        item_id: Annotated[str, Path(pattern=ID_PATTERN.pattern, description="Item (product) id")],
    ) -> Product:
        try:
            return catalog.open(collection_id, item_id)
        except ItemNotFoundError:
            found = stac.item(collection_id, item_id) if stac is not None else None
            if found is None:
                raise
            sel = render_selection(stac.renders(collection_id, item_id))
            location = item_location(catalog.settings, collection_id, found, sel)
            if not isinstance(location, StacItemLocation):
                raise
            return catalog.open(collection_id, item_id, location)

    return item


def scope(path: str, method: str = "GET") -> dict:
    return {"path": path, "method": method}


def item_route_checks(factory, limits: LimitSettings) -> list:
    """``route_dependencies`` of an item factory: which check guards which of titiler's routes
    (scopes are sample requests, relative to the router)."""
    tile = Depends(checks.tile_check(factory, limits))
    preview = Depends(checks.image_output_check(factory, limits, factory.img_preview_dependency))
    part = Depends(checks.image_output_check(factory, limits, factory.img_part_dependency))
    geojson = Depends(checks.geojson_check(limits))
    zooms = Depends(checks.zoom_range_check)
    return [
        ([scope("/tiles/WebMercatorQuad/0/0/0.png")], [tile]),  # with and without a format
        ([scope("/WebMercatorQuad/tilejson.json")], [Depends(checks.tile_size_check(limits))]),
        ([scope("/WebMercatorQuad/tilejson.json"), scope("/tiles/WebMercatorQuad")], [zooms]),
        (
            [scope("/bbox/0,0,1,1.png"), scope("/bbox/0,0,1,1/1x1.png")],
            [Depends(checks.bbox_check), part],
        ),
        ([scope("/point/0,0")], [Depends(checks.point_check)]),
        ([scope("/preview"), scope("/preview.png"), scope("/preview/1x1.png")], [preview]),
        ([scope("/statistics")], [preview]),
        (
            [
                scope("/feature", "POST"),
                scope("/feature.png", "POST"),
                scope("/feature/1x1.png", "POST"),
            ],
            [geojson, part],
        ),
        ([scope("/statistics", "POST")], [geojson, part]),
    ]


def _options(factory, limits: LimitSettings) -> dict:
    return {
        **bounded_dependencies(limits),
        "colormap_dependency": bounded_colormap(colormap_dependency(), limits),  # + EOPF's (scl)
        "process_dependency": algorithm_dependency(factory.process_dependency),
        "render_func": safe_render(render_image),
        "supported_tms": SHARED_TILE_MATRIX_SETS,
    }


@define(kw_only=True)
class EOPFTilerFactory(TilerFactory):
    """TilerFactory for EOPF items, with `@{scale}x` tiles, `/info` and `/map`."""

    catalog: Catalog = field()
    reader: type[EOPFReader] = LayerReader  # TiTiler-EOPF's bidx and expression
    # Every size-like option bounded by these limits (TilerSettings is one).
    limits: LimitSettings = field(factory=LimitSettings.model_construct)
    path_dependency: Any = field(default=None)
    stac: StacClient | None = None  # STAC items (located by their Zarr asset) and renders
    router: APIRouter = field(factory=lambda: APIRouter(route_class=ClassifiedRoute))
    router_prefix: str = ITEM_PREFIX
    add_viewer: bool = False

    def __attrs_post_init__(self):
        self.path_dependency = item_dependency(self.catalog, self.stac)
        for name, value in _options(self, self.limits).items():
            setattr(self, name, value)
        self.route_dependencies = [*item_route_checks(self, self.limits), *self.route_dependencies]
        super().__attrs_post_init__()

    def register_routes(self):
        super().register_routes()
        self.map_viewer()
        self.renders()

    def tile(self):
        # `{y}@{scale}x` first: titiler's `{y}.{format}` would take `3@2x.png` for y="3@2x"
        self.scaled_tile()
        super().tile()

    def scaled_tile(self):
        """`/tiles/{tms}/{z}/{x}/{y}@{scale}x[.{format}]`: a 256 x scale px tile."""

        @self.router.get(
            f"{TILE}@{{scale}}x",
            operation_id=f"{self.operation_prefix}getTileScaled",
            dependencies=[Depends(checks.tile_check(self, self.limits))],
            **img_endpoint_params,
        )
        @self.router.get(
            f"{TILE}@{{scale}}x.{{format}}",
            operation_id=f"{self.operation_prefix}getTileWithFormatScaled",
            dependencies=[Depends(checks.tile_check(self, self.limits))],
            **img_endpoint_params,
        )
        def tile_scaled(
            z: Annotated[int, Path(ge=0, le=MAX_ZOOM, description="Zoom level of the matrix set.")],
            x: Annotated[int, Path(ge=0, le=2 ** (MAX_ZOOM + 1), description="Column (from 0).")],
            y: Annotated[int, Path(ge=0, le=2 ** (MAX_ZOOM + 1), description="Row (from 0).")],
            tileMatrixSetId: Annotated[
                Literal[tuple(self.supported_tms.list())],
                Path(description="Identifier selecting one of the TileMatrixSetId supported."),
            ],
            scale: Annotated[
                int, Path(ge=1, le=checks.MAX_SCALE, description="Tile scale (1-4): 256 px x scale")
            ],
            format: ImageType | None = None,
            src_path=Depends(self.path_dependency),
            reader_params=Depends(self.reader_dependency),
            tile_params=Depends(self.tile_dependency),
            layer_params=Depends(self.layer_dependency),
            dataset_params=Depends(self.dataset_dependency),
            post_process=Depends(self.process_dependency),
            colormap=Depends(self.colormap_dependency),
            render_params=Depends(self.render_dependency),
        ):
            """A tile of `256 x scale` pixels (titiler's tile with the `@{scale}x` suffix)."""
            tms = self.supported_tms.get(tileMatrixSetId)
            tilesize = checks.DEFAULT_TILE_SIZE * scale
            bands = checks.output_bands(reader_params, layer_params)
            budget.check_output(bands, tilesize, tilesize, self.limits.max_output_pixels)
            with self.reader(src_path, tms=tms, **reader_params.as_dict()) as src:
                image = src.tile(
                    x,
                    y,
                    z,
                    tilesize=tilesize,
                    **tile_params.as_dict(),
                    **layer_params.as_dict(),
                    **dataset_params.as_dict(),
                )
            if post_process:
                image = post_process(image)
            return image_response(
                image,
                self.render_func(
                    image, output_format=format, colormap=colormap, **render_params.as_dict()
                ),
                projjson=OptionalHeader.projjson_crs in self.optional_headers,
            )

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
            """The info of the variables asked for, as a Feature of their footprint."""
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
        """The map: `/map` (ours), `/viewer` and `/{tileMatrixSetId}/map.html` (the Explorer's
        links to TiTiler-EOPF), one page."""
        Preset = Annotated[
            str | None,
            Query(
                description="Rendering to open with: a name of `/renders` (the item's STAC "
                "renders, true-colour, ndvi, vv-vh-descending, ...)"
            ),
        ]

        def page(request, product, reader_params, preset, tms_id):
            from titiler_eopf.tiler.viewer import viewer_context  # only for the map

            if tms_id != "WebMercatorQuad":
                raise ParameterError(
                    f"Unknown tileMatrixSetId '{tms_id}' for the map viewer: MapLibre "
                    "draws WebMercatorQuad tiles (other matrix sets: /tiles/{tileMatrixSetId}/... "
                    "and TileJSON)"
                )
            renders = item_renders(product, self.stac)
            item_url = self.item_url(request)
            context = viewer_context(
                request, product, reader_params.variables, preset, item_url, renders
            )
            return templates.TemplateResponse(request, "viewer.html", context)

        @self.router.get(
            "/map", response_class=HTMLResponse, operation_id=f"{self.operation_prefix}getMapViewer"
        )
        @self.router.get(
            "/viewer", response_class=HTMLResponse, operation_id=f"{self.operation_prefix}getViewer"
        )
        def map_viewer(
            request: Request,
            product=Depends(self.path_dependency),
            reader_params=Depends(self.reader_dependency),
            preset: Preset = None,
            tileMatrixSetId: Annotated[
                str,
                Query(
                    max_length=64,
                    description="TileMatrixSet of the tiles shown (MapLibre: WebMercatorQuad)",
                ),
            ] = "WebMercatorQuad",
        ):
            """A map of the item (MapLibre GL served by the app): its renderings, rescale and
            colour formula controls, the footprint, and tiles counted by X-Cache. With
            `variables` or an `expression`, the query parameters are the rendering it opens with."""
            return page(request, product, reader_params, preset, tileMatrixSetId)

        @self.router.get(
            "/{tileMatrixSetId}/map.html",
            response_class=HTMLResponse,
            operation_id=f"{self.operation_prefix}getMapHtml",
        )
        def map_html(
            request: Request,
            tileMatrixSetId: Annotated[str, Path(max_length=64, description="WebMercatorQuad")],
            product=Depends(self.path_dependency),
            reader_params=Depends(self.reader_dependency),
            preset: Preset = None,
        ):
            """The map (titiler's `/{tileMatrixSetId}/map.html` form of the Explorer's links)."""
            return page(request, product, reader_params, preset, tileMatrixSetId)

    def item_url(self, request: Request) -> str:
        """The item's base URL (as the request reached it)."""
        tilejson = self.url_for(request, "tilejson", tileMatrixSetId="WebMercatorQuad")
        return tilejson.rsplit("/WebMercatorQuad/tilejson.json", 1)[0]

    def renders(self):
        """`/renders` and `/renders/{render_id}`: the item's named renderings and their URLs."""

        @self.router.get(
            RENDERS,
            response_class=JSONResponse,
            operation_id=f"{self.operation_prefix}getRenders",
            responses={200: {"description": "The item's renderings with their URLs."}},
        )
        def render_list(request: Request, product=Depends(self.path_dependency)):
            """The item's STAC `renders` (over its collection's), then the presets whose
            variables it has: each with its parameters and its xyz, TileJSON, map and preview
            URLs (the seeder's `--render NAME` requests the same tiles)."""
            item_url = self.item_url(request)
            return {
                "renders": {
                    name: render_entry(name, source, preset, item_url)
                    for name, (source, preset) in item_renders(product, self.stac).items()
                }
            }

        @self.router.get(
            RENDER,
            response_class=JSONResponse,
            operation_id=f"{self.operation_prefix}getRender",
            responses={200: {"description": "One rendering with its URLs."}},
        )
        def render_one(
            request: Request,
            render_id: Annotated[str, Path(pattern=PARAM_PATTERNS["render_id"])],
            product=Depends(self.path_dependency),
        ):
            """One rendering of `/renders`."""
            renders = item_renders(product, self.stac)
            source, preset = get_render(renders, render_id, product.location.label)
            return render_entry(render_id, source, preset, self.item_url(request))


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
