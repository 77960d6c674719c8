"""Collection mosaics: the items a STAC search returns for a tile, drawn together.

Routes under ``/collections/{collection_id}`` (only with ``TITILER_EOPF_STAC_API_URL``):
``/tiles/{tms}/{z}/{x}/{y}[@{scale}x][.{format}]``, ``/{tms}/tilejson.json``,
``/WMTSCapabilities.xml``, ``/map``, ``/info`` and ``/point/{lon},{lat}``. They take the item
routes' dependency classes (``variables``/``sel``, layer, dataset, rendering: the factory is
given the item factory's), the search parameters (``datetime``, ``ids``, ``filter`` +
``filter-lang``, ``sortby``, ``max_items``) and ``pixel_selection``.

Pixels are read by :class:`~titiler_eopf.tiler.mosaic_backend.StacMosaicBackend`, a rio-tiler
mosaic backend. titiler.mosaic's factory is not used: its routes and answers are MosaicJSON's
(``/bounds``, ``/assets``, MosaicInfo, ``X-Assets``), while these keep the item routes' forms
(``@{scale}x`` tiles, the STAC search listed by ``/info``, ``X-Mosaic-Items``). ``latest`` is
"first valid pixel, newest first": the search is sorted by ``-datetime``.
"""

import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from attrs import define, field
from fastapi import Depends, Path, Query
from fastapi.routing import APIRouter
from rio_tiler.mosaic.methods import PixelSelectionMethod
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from titiler.core.factory import BaseFactory, img_endpoint_params
from titiler.core.resources.enums import ImageType

from titiler_eopf.paths import COLLECTION_PREFIX, ID_PATTERN, MAX_ZOOM
from titiler_eopf.tiler import budget, checks
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.errors import ParameterError, VariableError
from titiler_eopf.tiler.factory import image_response
from titiler_eopf.tiler.html import templates
from titiler_eopf.tiler.http_errors import ClassifiedRoute
from titiler_eopf.tiler.mosaic_backend import StacMosaicBackend
from titiler_eopf.tiler.stac import SearchParams, StacClient, item_location

logger = logging.getLogger(__name__)

SELECTIONS = ("first", "highest", "lowest", "mean", "median", "latest")
TILE = "/tiles/{tileMatrixSetId}/{z}/{x}/{y}"
TAGS = ["Collection mosaics"]
# The item factory's options the mosaic routes share (same classes, same bounds).
SHARED = (
    "reader_dependency",
    "layer_dependency",
    "dataset_dependency",
    "process_dependency",
    "colormap_dependency",
    "render_dependency",
    "render_func",
    "supported_tms",
    "limits",
)

CollectionId = Annotated[str, Path(pattern=ID_PATTERN.pattern, description="Collection id")]


@dataclass
class MosaicSearch:
    """Search and pixel-selection parameters of a mosaic request."""

    params: SearchParams
    selection: str

    @property
    def method(self):
        return PixelSelectionMethod["first" if self.selection == "latest" else self.selection]


def search_dependency(settings) -> type:
    """The search options, ``max_items`` bounded by ``mosaic_max_items``."""
    most = settings.mosaic_max_items

    @dataclass
    class MosaicSearchParams:
        datetime: Annotated[
            str | None,
            Query(description="RFC 3339 instant or interval (`2025-06-01T00:00:00Z/..`)"),
        ] = None
        ids: Annotated[str | None, Query(description="Item ids, comma-separated")] = None
        filter: Annotated[str | None, Query(description="CQL2 filter (text, or JSON)")] = None
        filter_lang: Annotated[
            Literal["cql2-text", "cql2-json"] | None, Query(alias="filter-lang")
        ] = None
        sortby: Annotated[
            str | None,
            Query(description="STAC sortby, e.g. `-datetime` or `+properties.eo:cloud_cover`"),
        ] = None
        max_items: Annotated[
            int | None, Query(ge=1, le=most, description=f"Items per tile (<= {most})")
        ] = None
        pixel_selection: Annotated[
            Literal[SELECTIONS], Query(description="How overlapping items are merged")
        ] = "first"

        def __post_init__(self):
            sortby = self.sortby
            if self.pixel_selection == "latest":
                if sortby and sortby.strip() not in ("-datetime", "-properties.datetime"):
                    raise ParameterError(
                        "pixel_selection=latest sorts by -datetime: leave sortby out, "
                        "or use pixel_selection=first with your sortby"
                    )
                sortby = "-datetime"
            ids = tuple(i.strip() for i in self.ids.split(",") if i.strip()) if self.ids else ()
            bad = [i for i in ids if not ID_PATTERN.match(i)]
            if bad:
                raise ParameterError(f"Invalid item ids {bad}: letters, digits, '.', '_', '-'")
            params = SearchParams(
                self.datetime, ids, self.filter, self.filter_lang, sortby, self.max_items or most
            )
            self.mosaic = MosaicSearch(params, self.pixel_selection)

    return MosaicSearchParams


def require_variables(reader_params) -> None:
    if not getattr(reader_params, "variables", None):
        raise VariableError(
            "A mosaic needs 'variables' (e.g. ?variables=/measurements/reflectance:b04"
            "&variables=/measurements/reflectance:b03&variables=/measurements/reflectance:b02"
            "&rescale=0,1)"
        )


def _extent(collection: dict) -> list[float]:
    bbox = ((collection.get("extent") or {}).get("spatial") or {}).get("bbox")
    return list((bbox or [[-180, -90, 180, 90]])[0])


def _query(request: Request, skip: set[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k.lower() not in skip]


@define(kw_only=True)
class MosaicTilerFactory(BaseFactory):
    """Collection mosaics on titiler's BaseFactory, with the item routes' dependencies."""

    catalog: Catalog
    stac: StacClient = field(default=None)
    reader_dependency: Any = field()
    layer_dependency: Any = field()
    dataset_dependency: Any = field()
    process_dependency: Any = field()
    colormap_dependency: Any = field()
    render_dependency: Any = field()
    render_func: Any = field()
    supported_tms: Any = field()
    limits: Any = field()
    search_dependency: Any = field(default=None)
    router: APIRouter = field(factory=lambda: APIRouter(route_class=ClassifiedRoute))
    router_prefix: str = COLLECTION_PREFIX

    def __attrs_post_init__(self):
        self.stac = self.stac or StacClient(self.catalog.settings)
        self.search_dependency = self.search_dependency or search_dependency(self.settings)
        super().__attrs_post_init__()

    @property
    def settings(self):
        return self.catalog.settings

    def backend(self, collection_id: str, search, reader_params, tms=None) -> StacMosaicBackend:
        """The mosaic backend of one request (its search, and the options of its readers)."""
        options = {"tms": tms} if tms is not None else {}
        return StacMosaicBackend(
            collection_id,
            catalog=self.catalog,
            stac=self.stac,
            search=search.mosaic.params,
            reader_options=reader_params.as_dict(),
            **options,
        )

    def register_routes(self):
        self.tile()
        self.tilejson()
        self.wmts()
        self.map_viewer()
        self.info()
        self.point()

    def tile(self):
        """Mosaic tiles, `@{scale}x` forms first (as the item routes)."""
        tms_ids = tuple(self.supported_tms.list())

        def mosaic_tile(
            collection_id: CollectionId,
            tileMatrixSetId: Annotated[Literal[tms_ids], Path()],
            z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
            x: Annotated[int, Path(ge=0)],
            y: Annotated[int, Path(ge=0)],
            scale: int = 1,  # in the path of `@{scale}x` tiles, else a query parameter
            format: ImageType | None = None,
            search=Depends(self.search_dependency),
            reader_params=Depends(self.reader_dependency),
            layer_params=Depends(self.layer_dependency),
            dataset_params=Depends(self.dataset_dependency),
            post_process=Depends(self.process_dependency),
            colormap=Depends(self.colormap_dependency),
            render_params=Depends(self.render_dependency),
        ):
            """A mosaic tile of the items the search returns for it."""
            require_variables(reader_params)
            if not 1 <= scale <= checks.MAX_SCALE:
                raise ParameterError(f"Tile scale must be 1 to 4 (@1x..@4x); got {scale}")
            tilesize = checks.DEFAULT_TILE_SIZE * scale
            bands = checks.output_bands(reader_params, layer_params)
            budget.check_output(bands, tilesize, tilesize, self.limits.max_output_pixels)
            tms = self.supported_tms.get(tileMatrixSetId)
            with self.backend(collection_id, search, reader_params, tms) as src:
                image, used = src.tile(
                    x,
                    y,
                    z,
                    tilesize=tilesize,
                    pixel_selection=search.mosaic.method.value(),
                    **layer_params.as_dict(),
                    **dataset_params.as_dict(),
                )
                searched = src.searched
            if post_process:
                image = post_process(image)
            rendered = self.render_func(
                image, output_format=format, colormap=colormap, **render_params.as_dict()
            )
            headers = {"X-Mosaic-Items": ",".join(used), "X-Mosaic-Searched": str(searched)}
            return image_response(image, rendered, headers)

        paths = [f"{TILE}@{{scale}}x.{{format}}", f"{TILE}@{{scale}}x", f"{TILE}.{{format}}", TILE]
        for number, path in enumerate(paths):
            self.router.add_api_route(
                path,
                mosaic_tile,
                methods=["GET"],
                name="mosaic_tile",
                tags=TAGS,
                operation_id=f"getMosaicTile{number}",
                **img_endpoint_params,
            )

    def tilejson(self):
        tms_ids = tuple(self.supported_tms.list())

        @self.router.get(
            "/{tileMatrixSetId}/tilejson.json", tags=TAGS, operation_id="getMosaicTileJSON"
        )
        def tilejson(
            request: Request,
            collection_id: CollectionId,
            tileMatrixSetId: Annotated[Literal[tms_ids], Path()],
            tile_format: Annotated[ImageType | None, Query()] = None,
            tile_scale: Annotated[int, Query(ge=1, le=checks.MAX_SCALE)] = 1,
            minzoom: Annotated[int | None, Query(ge=0, le=MAX_ZOOM)] = None,
            maxzoom: Annotated[int | None, Query(ge=0, le=MAX_ZOOM)] = None,
            search=Depends(self.search_dependency),
            reader_params=Depends(self.reader_dependency),
        ):
            """TileJSON of the mosaic (bounds: the collection's spatial extent)."""
            require_variables(reader_params)
            collection = self.stac.collection(collection_id)
            path = f"/collections/{collection_id}/tiles/{tileMatrixSetId}/{{z}}/{{x}}/{{y}}"
            if tile_scale > 1:
                path += f"@{tile_scale}x"
            if tile_format:
                path += f".{tile_format.value}"
            skip = {"tile_format", "tile_scale", "minzoom", "maxzoom", "tilematrixsetid"}
            qs = _query(request, skip)
            url = str(request.base_url).rstrip("/") + path + (f"?{urlencode(qs)}" if qs else "")
            return {
                "tilejson": "3.0.0",
                "name": collection_id,
                "tiles": [url],
                "bounds": _extent(collection),
                "minzoom": minzoom if minzoom is not None else self.settings.mosaic_minzoom,
                "maxzoom": maxzoom if maxzoom is not None else self.settings.mosaic_maxzoom,
            }

    def wmts(self):
        @self.router.get(
            "/WMTSCapabilities.xml",
            tags=TAGS,
            operation_id="getMosaicWMTS",
            response_class=Response,
            responses={200: {"content": {"application/xml": {}}, "description": "WMTS"}},
        )
        def wmts(
            request: Request,
            collection_id: CollectionId,
            tile_format: Annotated[
                ImageType, Query(description="Tile format (png by default)")
            ] = ImageType.png,
            search=Depends(self.search_dependency),
            reader_params=Depends(self.reader_dependency),
        ):
            """RESTful WMTS capabilities of the mosaic, in titiler's WMTS extension's form: one
            layer per tile matrix set, bounds from the collection's extent."""
            from titiler.extensions.wmts import DEFAULT_TEMPLATES

            require_variables(reader_params)
            box = _extent(self.stac.collection(collection_id))
            bounds = box[:4] if len(box) == 4 else [box[0], box[1], box[3], box[4]]
            skip = {"tile_format", "service", "request", "acceptversions", "sections"}
            skip |= {"updatesequence", "acceptformats", "tilesize"}
            qs = urlencode(_query(request, skip))
            base = f"{str(request.base_url).rstrip('/')}/collections/{collection_id}/tiles"
            layers, matrix_sets = [], []
            for tms_id in self.supported_tms.list():
                tms = self.supported_tms.get(tms_id)
                limits = self._tms_limits(tms, bounds)
                if limits is None:
                    continue
                name = f"{collection_id}_{tms_id}_default"
                layers.append(
                    {
                        "title": name,
                        "identifier": name,
                        "tms_identifier": tms_id,
                        "tms_limits": limits,
                        "tiles_url": f"{base}/{tms_id}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}"
                        f".{tile_format.value}",
                        "query_string": qs,
                        "bbox_crs_type": "WGS84BoundingBox",
                        "bbox_crs_uri": "urn:ogc:def:crs:OGC:2:84",
                        "bbox": bounds,
                    }
                )
                matrix_sets.append({"id": tms_id, "crs": tms.crs.srs, "matrices": tms.tileMatrices})
            return DEFAULT_TEMPLATES.TemplateResponse(
                request,
                name="wmts.xml",
                media_type="application/xml",
                context={
                    "layers": layers,
                    "tileMatrixSets": matrix_sets,
                    "media_type": tile_format.mediatype,
                },
            )

    def _tms_limits(self, tms, bounds):
        """The matrix limits of the mosaic's zooms in ``tms``; None if it cannot hold them."""
        from titiler.core.utils import tms_limits

        low, high = self.settings.mosaic_minzoom, self.settings.mosaic_maxzoom
        try:
            return tms_limits(tms, bounds, zooms=(max(low, tms.minzoom), min(high, tms.maxzoom)))
        except Exception:  # noqa: BLE001 - a matrix set that cannot hold the extent is left out
            return None

    def map_viewer(self):
        @self.router.get(
            "/map", response_class=HTMLResponse, tags=TAGS, operation_id="getMosaicMap"
        )
        def map_viewer(
            request: Request,
            collection_id: CollectionId,
            tileMatrixSetId: Annotated[str, Query()] = "WebMercatorQuad",
            search=Depends(self.search_dependency),
            reader_params=Depends(self.reader_dependency),
        ):
            """A map of the mosaic (query parameters go to the tiles)."""
            require_variables(reader_params)
            self.stac.collection(collection_id)  # 404 for an unknown collection
            base = str(request.base_url).rstrip("/")
            url = f"{base}/collections/{collection_id}/{tileMatrixSetId}/tilejson.json"
            qs = [(k, v) for k, v in request.query_params.multi_items() if k != "tileMatrixSetId"]
            if qs:
                url += "?" + urlencode(qs)
            return templates.TemplateResponse(
                request, "map.html", {"tilejson_url": url, "title": f"{collection_id} (mosaic)"}
            )

    def info(self):
        @self.router.get("/info", tags=TAGS, operation_id="getMosaicInfo")
        def info(
            collection_id: CollectionId,
            bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
            search=Depends(self.search_dependency),
        ):
            """The collection's extent and the items the search returns (at most max_items)."""
            query = search.mosaic
            collection = self.stac.collection(collection_id)
            box = _parse_bbox(bbox) if bbox else None
            found = self.stac.search(collection_id, box, query.params, query.params.max_items)
            items = [
                {
                    "id": item["id"],
                    "datetime": (item.get("properties") or {}).get("datetime"),
                    "bbox": item.get("bbox"),
                    "product": item_location(self.settings, collection_id, item).url,
                }
                for item in found.items
            ]
            return JSONResponse(
                {
                    "collection": collection_id,
                    "stac_api": self.stac.url,
                    "extent": collection.get("extent"),
                    "search": {
                        **query.params.query(),
                        "max_items": query.params.max_items,
                        "pixel_selection": query.selection,
                        **({"bbox": bbox} if bbox else {}),
                    },
                    "truncated": found.truncated,
                    "items": items,
                }
            )

    def point(self):
        @self.router.get("/point/{lon},{lat}", tags=TAGS, operation_id="getMosaicPoint")
        def point(
            collection_id: CollectionId,
            lon: Annotated[float, Path(ge=-180, le=180)],
            lat: Annotated[float, Path(ge=-90, le=90)],
            search=Depends(self.search_dependency),
            reader_params=Depends(self.reader_dependency),
            layer_params=Depends(self.layer_dependency),
            dataset_params=Depends(self.dataset_dependency),
        ):
            """Values of every item with data at the point, in the search order."""
            import numpy

            require_variables(reader_params)
            with self.backend(collection_id, search, reader_params) as src:
                found = src.point(lon, lat, **layer_params.as_dict(), **dataset_params.as_dict())
            values = [
                {
                    "item": name,
                    "values": [
                        None if masked else float(value)
                        for value, masked in zip(
                            pt.array.data, numpy.ma.getmaskarray(pt.array), strict=True
                        )
                    ],
                    "band_names": pt.band_names,
                }
                for name, pt in found
            ]
            return {"coordinates": [lon, lat], "items": values}


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        raise ParameterError(f"bbox must be minlon,minlat,maxlon,maxlat; got {text!r}")
    return values  # type: ignore[return-value]


def add_mosaic_routes(
    app, catalog: Catalog, item_factory, stac: StacClient | None = None
) -> MosaicTilerFactory | None:
    """Register the mosaic routes when a STAC API is configured; returns their factory.
    ``stac``: the client the item routes use (one search cache per process)."""
    if not catalog.settings.stac_api_url:
        return None
    shared = {name: getattr(item_factory, name) for name in SHARED}
    factory = MosaicTilerFactory(catalog=catalog, stac=stac, **shared)
    app.include_router(factory.router, prefix=factory.router_prefix)
    app.state.mosaic = factory
    return factory
