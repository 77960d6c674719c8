"""Collection mosaics: the items a STAC search returns for a tile, drawn together.

Routes under ``/collections/{collection_id}`` (only with ``TITILER_EOPF_STAC_API_URL``):
``/tiles/{tms}/{z}/{x}/{y}[@{scale}x][.{format}]``, ``/{tms}/tilejson.json``, ``/map``,
``/info`` and ``/point/{lon},{lat}``. They take the item routes' ``variables``/``sel`` and
rendering parameters (the same dependencies, taken from the item factory), the search
parameters (``datetime``, ``ids``, ``filter`` + ``filter-lang``, ``sortby``, ``max_items``) and
``pixel_selection``.

Pixels are merged by rio-tiler's ``mosaic_reader`` and its pixel-selection methods (titiler.mosaic
is built for MosaicJSON backends; the search and per-item readers here are EOPF's). ``latest``
is "first valid pixel, newest first": the search is sorted by ``-datetime``.

Each item is read by the item reader, so under the same read budget; a tile reads at most
``mosaic_max_items`` items. An item's product is its STAC Zarr asset when that lies under the
store root (hrefs elsewhere are not followed: the server reads only its own store), else
``{store}/{collection}/{item}.zarr``.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from morecantile import Tile
from rio_tiler.errors import EmptyMosaicError, PointOutsideBounds, TileOutsideBounds
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.mosaic.methods import PixelSelectionMethod
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from titiler.core.resources.enums import ImageType

from titiler_eopf.paths import COLLECTION_PREFIX, ID_PATTERN, MAX_ZOOM
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.errors import ItemNotFoundError, ParameterError, StoreError, VariableError
from titiler_eopf.tiler.reader import EOPFReader
from titiler_eopf.tiler.stac import SearchParams, StacClient, item_href
from titiler_eopf.tiler.store import ItemLocation, locate

logger = logging.getLogger(__name__)

SELECTIONS = ("first", "highest", "lowest", "mean", "median", "latest")
TILE_SIZE = 256


def item_location(settings, collection_id: str, item: dict) -> ItemLocation:
    """Where an item's product is: its Zarr asset under the store root, else the convention."""
    item_id = item["id"]
    href = item_href(item)
    root = settings.store_url
    if href:
        if "://" not in root:
            root = str(Path(root).resolve())
            href = href.removeprefix("file://")
        if href == root or href.startswith(root.rstrip("/") + "/"):
            return ItemLocation(collection_id, item_id, href)
        logger.info(
            "item %s/%s: asset %s is outside the store %s; using the store's layout",
            collection_id,
            item_id,
            href,
            root,
        )
    return locate(settings, collection_id, item_id)


@dataclass
class MosaicQuery:
    """Search and pixel-selection parameters of a mosaic request."""

    params: SearchParams
    selection: str


def mosaic_query_dependency(settings):
    def query(
        datetime: Annotated[
            str | None,
            Query(description="RFC 3339 instant or interval (`2025-06-01T00:00:00Z/..`)"),
        ] = None,
        ids: Annotated[str | None, Query(description="Item ids, comma-separated")] = None,
        filter: Annotated[str | None, Query(description="CQL2 filter (text, or JSON)")] = None,
        filter_lang: Annotated[
            Literal["cql2-text", "cql2-json"] | None, Query(alias="filter-lang")
        ] = None,
        sortby: Annotated[
            str | None,
            Query(description="STAC sortby, e.g. `-datetime` or `+properties.eo:cloud_cover`"),
        ] = None,
        max_items: Annotated[
            int | None,
            Query(
                ge=1,
                le=settings.mosaic_max_items,
                description=f"Items per tile (<= {settings.mosaic_max_items})",
            ),
        ] = None,
        pixel_selection: Annotated[
            Literal[SELECTIONS], Query(description="How overlapping items are merged")
        ] = "first",
    ) -> MosaicQuery:
        if pixel_selection == "latest":
            if sortby and sortby.strip() not in ("-datetime", "-properties.datetime"):
                raise ParameterError(
                    "pixel_selection=latest sorts by -datetime: leave sortby out, "
                    "or use pixel_selection=first with your sortby"
                )
            sortby = "-datetime"
        id_list = tuple(i.strip() for i in ids.split(",") if i.strip()) if ids else ()
        bad = [i for i in id_list if not ID_PATTERN.match(i)]
        if bad:
            raise ParameterError(f"Invalid item ids {bad}: letters, digits, '.', '_', '-'")
        return MosaicQuery(
            SearchParams(
                datetime,
                id_list,
                filter,
                filter_lang,
                sortby,
                max_items or settings.mosaic_max_items,
            ),
            pixel_selection,
        )

    return query


def _method(selection: str):
    name = "first" if selection == "latest" else selection
    return PixelSelectionMethod[name].value()


class MosaicRoutes:
    """The collection-mosaic router, sharing the item factory's dependencies."""

    def __init__(self, catalog: Catalog, item_factory, stac: StacClient | None = None):
        self.catalog = catalog
        self.settings = catalog.settings
        self.items = item_factory
        self.stac = stac or StacClient(self.settings)
        self.router = APIRouter(prefix=COLLECTION_PREFIX)
        self.query = mosaic_query_dependency(self.settings)
        self._register()

    # -- reading --------------------------------------------------------------------------
    def _search(self, collection_id: str, tms, tile: Tile, query: MosaicQuery) -> list[dict]:
        return self.stac.items_for_tile(
            collection_id, tms, tile, query.params, self.settings.mosaic_search_zoom_up
        )

    def _open(self, collection_id: str, item: dict):
        location = item_location(self.settings, collection_id, item)
        try:
            return self.catalog.open(collection_id, item["id"], location)
        except ItemNotFoundError as exc:  # the STAC API lists a product the store lacks
            raise StoreError(
                f"STAC item {collection_id}/{item['id']} has no product in the store: {exc}"
            ) from exc

    def _tile(self, collection_id, tms, z, x, y, tilesize, query, reader_params, options):
        items = self._search(collection_id, tms, Tile(x, y, z), query)
        if not items:
            raise TileOutsideBounds(
                f"No item of '{collection_id}' matches tile {z}/{x}/{y} with this search"
            )

        def read(item: dict, *args, **kwargs):
            product = self._open(collection_id, item)
            with EOPFReader(product, tms=tms, **reader_params.as_dict()) as src:
                return src.tile(*args, **kwargs)

        try:
            image, used = mosaic_reader(
                items,
                read,
                x,
                y,
                z,
                tilesize=tilesize,
                pixel_selection=_method(query.selection),
                threads=min(len(items), 4),
                **options,
            )
        except EmptyMosaicError as exc:
            raise TileOutsideBounds(
                f"No item of '{collection_id}' has data in tile {z}/{x}/{y}"
            ) from exc
        return image, [item["id"] for item in used], len(items)

    # -- routes ---------------------------------------------------------------------------
    def _register(self) -> None:
        f = self.items
        router = self.router
        tile_paths = [
            "/tiles/{tileMatrixSetId}/{z}/{x}/{y}@{scale}x.{format}",
            "/tiles/{tileMatrixSetId}/{z}/{x}/{y}@{scale}x",
            "/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}",
            "/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
        ]
        tms_ids = tuple(f.supported_tms.list())

        def tile(
            collection_id: Annotated[str, PathParam(pattern=ID_PATTERN.pattern)],
            tileMatrixSetId: Annotated[Literal[tms_ids], PathParam()],
            z: Annotated[int, PathParam(ge=0, le=MAX_ZOOM)],
            x: Annotated[int, PathParam(ge=0)],
            y: Annotated[int, PathParam(ge=0)],
            scale: int = 1,
            format: ImageType | None = None,
            query=Depends(self.query),
            reader_params=Depends(f.reader_dependency),
            layer_params=Depends(f.layer_dependency),
            dataset_params=Depends(f.dataset_dependency),
            post_process=Depends(f.process_dependency),
            colormap=Depends(f.colormap_dependency),
            render_params=Depends(f.render_dependency),
        ):
            """A mosaic tile of the items the search returns for it."""
            _require_variables(reader_params)
            if not 1 <= scale <= 4:
                raise ParameterError(f"Tile scale must be 1 to 4 (@1x..@4x); got {scale}")
            tms = f.supported_tms.get(tileMatrixSetId)
            options = {**layer_params.as_dict(), **dataset_params.as_dict()}
            image, used, found = self._tile(
                collection_id, tms, z, x, y, TILE_SIZE * scale, query, reader_params, options
            )
            if post_process:
                image = post_process(image)
            content, media_type = f.render_func(
                image, output_format=format, colormap=colormap, **render_params.as_dict()
            )
            headers = {"X-Mosaic-Items": ",".join(used), "X-Mosaic-Searched": str(found)}
            return Response(content, media_type=media_type, headers=headers)

        for path in tile_paths:
            router.add_api_route(
                path,
                tile,
                methods=["GET"],
                name="mosaic_tile",
                response_class=Response,
                tags=["Collection mosaics"],
                operation_id="getMosaicTile" + str(tile_paths.index(path)),
            )

        @router.get(
            "/{tileMatrixSetId}/tilejson.json",
            tags=["Collection mosaics"],
            operation_id="getMosaicTileJSON",
        )
        def tilejson(
            request: Request,
            collection_id: Annotated[str, PathParam(pattern=ID_PATTERN.pattern)],
            tileMatrixSetId: Annotated[Literal[tms_ids], PathParam()],
            tile_format: Annotated[ImageType | None, Query()] = None,
            tile_scale: Annotated[int, Query(ge=1, le=4)] = 1,
            minzoom: Annotated[int | None, Query(ge=0, le=MAX_ZOOM)] = None,
            maxzoom: Annotated[int | None, Query(ge=0, le=MAX_ZOOM)] = None,
            query=Depends(self.query),
            reader_params=Depends(f.reader_dependency),
        ):
            """TileJSON of the mosaic (bounds: the collection's spatial extent)."""
            _require_variables(reader_params)
            collection = self.stac.collection(collection_id)
            bbox = ((collection.get("extent") or {}).get("spatial") or {}).get("bbox") or [
                [-180, -90, 180, 90]
            ]
            path = f"/collections/{collection_id}/tiles/{tileMatrixSetId}/{{z}}/{{x}}/{{y}}"
            if tile_scale > 1:
                path += f"@{tile_scale}x"
            if tile_format:
                path += f".{tile_format.value}"
            base = str(request.base_url).rstrip("/")
            skip = {"tile_format", "tile_scale", "minzoom", "maxzoom", "tilematrixsetid"}
            qs = [(k, v) for k, v in request.query_params.multi_items() if k.lower() not in skip]
            url = base + path + (f"?{urlencode(qs)}" if qs else "")
            return {
                "tilejson": "3.0.0",
                "name": collection_id,
                "tiles": [url],
                "bounds": list(bbox[0]),
                "minzoom": minzoom if minzoom is not None else self.settings.mosaic_minzoom,
                "maxzoom": maxzoom if maxzoom is not None else self.settings.mosaic_maxzoom,
            }

        @router.get(
            "/WMTSCapabilities.xml",
            tags=["Collection mosaics"],
            operation_id="getMosaicWMTS",
            response_class=Response,
            responses={
                200: {"content": {"application/xml": {}}, "description": "WMTS capabilities"}
            },
        )
        def wmts(
            request: Request,
            collection_id: Annotated[str, PathParam(pattern=ID_PATTERN.pattern)],
            tile_format: Annotated[
                ImageType, Query(description="Tile format (png by default)")
            ] = ImageType.png,
            query=Depends(self.query),
            reader_params=Depends(f.reader_dependency),
        ):
            """RESTful WMTS capabilities of the mosaic, in titiler's WMTS extension's form: one
            layer per tile matrix set, bounds from the collection's extent."""
            from titiler.core.utils import tms_limits
            from titiler.extensions.wmts import DEFAULT_TEMPLATES

            _require_variables(reader_params)
            collection = self.stac.collection(collection_id)
            bbox = ((collection.get("extent") or {}).get("spatial") or {}).get("bbox") or [
                [-180, -90, 180, 90]
            ]
            bounds = (
                list(bbox[0])[:4]
                if len(bbox[0]) == 4
                else [bbox[0][0], bbox[0][1], bbox[0][3], bbox[0][4]]
            )
            skip = {
                "tile_format",
                "service",
                "request",
                "acceptversions",
                "sections",
                "updatesequence",
                "acceptformats",
                "tilesize",
            }
            qs = urlencode(
                [(k, v) for k, v in request.query_params.multi_items() if k.lower() not in skip]
            )
            base = str(request.base_url).rstrip("/")
            zooms = (self.settings.mosaic_minzoom, self.settings.mosaic_maxzoom)
            layers, matrix_sets = [], []
            for tms_id in f.supported_tms.list():
                tms = f.supported_tms.get(tms_id)
                try:
                    tms_zooms = (max(zooms[0], tms.minzoom), min(zooms[1], tms.maxzoom))
                    limits = tms_limits(tms, bounds, zooms=tms_zooms)
                except Exception:  # noqa: BLE001 - a matrix set that cannot hold the extent
                    continue
                layers.append(
                    {
                        "title": f"{collection_id}_{tms_id}_default",
                        "identifier": f"{collection_id}_{tms_id}_default",
                        "tms_identifier": tms_id,
                        "tms_limits": limits,
                        "tiles_url": f"{base}/collections/{collection_id}/tiles/{tms_id}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.{tile_format.value}",
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

        @router.get(
            "/map",
            response_class=HTMLResponse,
            tags=["Collection mosaics"],
            operation_id="getMosaicMap",
        )
        def map_viewer(
            request: Request,
            collection_id: Annotated[str, PathParam(pattern=ID_PATTERN.pattern)],
            tileMatrixSetId: Annotated[str, Query()] = "WebMercatorQuad",
            query=Depends(self.query),
            reader_params=Depends(f.reader_dependency),
        ):
            """A map of the mosaic (query parameters go to the tiles)."""
            from titiler_eopf.tiler.html import templates

            _require_variables(reader_params)
            self.stac.collection(collection_id)  # 404 for an unknown collection
            base = str(request.base_url).rstrip("/")
            url = f"{base}/collections/{collection_id}/{tileMatrixSetId}/tilejson.json"
            qs = [(k, v) for k, v in request.query_params.multi_items() if k != "tileMatrixSetId"]
            if qs:
                url += "?" + urlencode(qs)
            return templates.TemplateResponse(
                request, "map.html", {"tilejson_url": url, "title": f"{collection_id} (mosaic)"}
            )

        @router.get("/info", tags=["Collection mosaics"], operation_id="getMosaicInfo")
        def info(
            collection_id: Annotated[str, PathParam(pattern=ID_PATTERN.pattern)],
            bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
            query=Depends(self.query),
        ):
            """The collection's extent and the items the search returns (at most max_items)."""
            collection = self.stac.collection(collection_id)
            box = _parse_bbox(bbox) if bbox else None
            search = self.stac.search(collection_id, box, query.params, query.params.max_items)
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
                    "truncated": search.truncated,
                    "items": [
                        {
                            "id": item["id"],
                            "datetime": (item.get("properties") or {}).get("datetime"),
                            "bbox": item.get("bbox"),
                            "product": item_location(self.settings, collection_id, item).url,
                        }
                        for item in search.items
                    ],
                }
            )

        @router.get(
            "/point/{lon},{lat}", tags=["Collection mosaics"], operation_id="getMosaicPoint"
        )
        def point(
            collection_id: Annotated[str, PathParam(pattern=ID_PATTERN.pattern)],
            lon: Annotated[float, PathParam(ge=-180, le=180)],
            lat: Annotated[float, PathParam(ge=-90, le=90)],
            query=Depends(self.query),
            reader_params=Depends(f.reader_dependency),
            layer_params=Depends(f.layer_dependency),
            dataset_params=Depends(f.dataset_dependency),
        ):
            """Values of every item with data at the point, in the search order."""
            _require_variables(reader_params)
            eps = 1e-7
            search = self.stac.search(
                collection_id,
                (lon - eps, lat - eps, lon + eps, lat + eps),
                query.params,
                query.params.max_items,
            )
            values = []
            for item in search.items:
                product = self._open(collection_id, item)
                try:
                    with EOPFReader(product, **reader_params.as_dict()) as src:
                        pt = src.point(
                            lon, lat, **layer_params.as_dict(), **dataset_params.as_dict()
                        )
                except PointOutsideBounds:
                    continue
                data = pt.array
                values.append(
                    {
                        "item": item["id"],
                        "values": [None if m else float(v) for v, m in zip(data.data, _mask(data))],
                        "band_names": pt.band_names,
                    }
                )
            return {"coordinates": [lon, lat], "items": values}


def _mask(array):
    import numpy

    return numpy.ma.getmaskarray(array)


def _require_variables(reader_params) -> None:
    if not getattr(reader_params, "variables", None):
        raise VariableError(
            "A mosaic needs 'variables' (e.g. ?variables=/measurements/reflectance:b04"
            "&variables=/measurements/reflectance:b03&variables=/measurements/reflectance:b02"
            "&rescale=0,1)"
        )


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        raise ParameterError(f"bbox must be minlon,minlat,maxlon,maxlat; got {text!r}")
    return values  # type: ignore[return-value]


def add_mosaic_routes(app, catalog: Catalog, item_factory) -> MosaicRoutes | None:
    """Register the mosaic routes when a STAC API is configured; returns them (or None)."""
    if not catalog.settings.stac_api_url:
        return None
    routes = MosaicRoutes(catalog, item_factory)
    app.include_router(routes.router)
    app.state.mosaic = routes
    return routes
