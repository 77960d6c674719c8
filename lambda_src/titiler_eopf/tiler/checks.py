"""Whole-request checks, added to titiler's routes as route dependencies (``route_dependencies``).

titiler's endpoints declare some parameters themselves (``z``/``x``/``y``, ``tilesize``,
``minzoom``/``maxzoom``, point and bbox coordinates, the GeoJSON body). The dependencies here
declare the same names with this server's bounds (validated by FastAPI: 422; hidden from the
schema, where titiler's declaration stands) and check the request as a whole: the zoom level
of the tile matrix set, bbox order, geographic ranges, GeoJSON geometries and the pixels of
the image answered. The factories' dependency classes are asked again through ``Depends``:
FastAPI computes each once per request, so the checks see the very objects the endpoint gets.

No ``from __future__ import annotations``: the checks close over the limits in annotations.
"""

import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from starlette.requests import Request
from titiler.core.dependencies import CoordCRSParams

from titiler_eopf.paths import MAX_ZOOM
from titiler_eopf.tiler import budget
from titiler_eopf.tiler.dependencies import expression_bands, over_limit
from titiler_eopf.tiler.errors import ParameterError
from titiler_eopf.tiler.limits import LimitSettings

DEFAULT_TILE_SIZE = 256
MAX_SCALE = 4  # `@{scale}x` tiles: 256 px to 1024 px


def _hidden(param, **bounds):
    return param(include_in_schema=False, **bounds)


Zoom = Annotated[int, _hidden(Path, ge=0, le=MAX_ZOOM)]
TileIndex = Annotated[int, _hidden(Path, ge=0, le=2 ** (MAX_ZOOM + 1))]


def _coordinate(place):
    return Annotated[float, _hidden(place, allow_inf_nan=False)]


def output_bands(reader_params, layer_params) -> int:
    """Bands of the image answered: the expression's, else one per variable (times the bidx,
    which select bands of each variable)."""
    if getattr(layer_params, "expression", None):
        return expression_bands(layer_params.expression)
    variables = max(1, len(getattr(reader_params, "variables", None) or ()))
    return variables * max(1, len(getattr(layer_params, "indexes", None) or ()))


def check_zoom(tms, z: int, x: int, y: int) -> None:
    """``z`` a level of the tile matrix set, ``x``/``y`` inside its matrix."""
    if not tms.minzoom <= z <= tms.maxzoom:
        raise ParameterError(
            f"z={z} is not a zoom level of {tms.id}: its levels are {tms.minzoom} to {tms.maxzoom}"
        )
    matrix = tms.matrix(z)
    if x >= matrix.matrixWidth or y >= matrix.matrixHeight:
        from rio_tiler.errors import TileOutsideBounds

        raise TileOutsideBounds(
            f"Tile {z}/{x}/{y} is outside the tile matrix of {tms.id} at zoom {z} "
            f"(columns 0-{matrix.matrixWidth - 1}, rows 0-{matrix.matrixHeight - 1})"
        )


def _geographic(coord_crs) -> bool:
    return coord_crs is None or bool(getattr(coord_crs, "is_geographic", False))


def _check_lonlat(lon: float, lat: float, what: str) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ParameterError(
            f"{what} ({lon}, {lat}) is not a longitude/latitude: longitudes are -180 to 180, "
            "latitudes -90 to 90 (pass coord_crs for other coordinates)"
        )


def tile_check(factory, limits: LimitSettings) -> Callable:
    """Tile routes: the tile exists in its matrix set, and its pixels fit the output limit."""

    def check_tile(
        tileMatrixSetId: Annotated[str, _hidden(Path)],
        z: Zoom,
        x: TileIndex,
        y: TileIndex,
        tilesize: Annotated[int | None, _hidden(Query, gt=0, le=limits.max_image_size)] = None,
        reader_params=Depends(factory.reader_dependency),
        layer_params=Depends(factory.layer_dependency),
    ) -> None:
        if tileMatrixSetId not in factory.supported_tms.list():
            return  # the route's own validation names the matrix sets (422)
        check_zoom(factory.supported_tms.get(tileMatrixSetId), z, x, y)
        side = tilesize or DEFAULT_TILE_SIZE
        bands = output_bands(reader_params, layer_params)
        budget.check_output(bands, side, side, limits.max_output_pixels)

    return check_tile


def tile_size_check(limits: LimitSettings) -> Callable:
    """TileJSON: the tile size it would advertise."""

    def check_tilesize(
        tilesize: Annotated[int | None, _hidden(Query, gt=0, le=limits.max_image_size)] = None,
    ) -> None:
        return None

    return check_tilesize


def zoom_range_check(
    minzoom: Annotated[int | None, _hidden(Query, ge=0, le=MAX_ZOOM)] = None,
    maxzoom: Annotated[int | None, _hidden(Query, ge=0, le=MAX_ZOOM)] = None,
) -> None:
    """TileJSON and tile sets: a zoom range within the levels any tile matrix set has."""


def bbox_check(
    minx: _coordinate(Path),
    miny: _coordinate(Path),
    maxx: _coordinate(Path),
    maxy: _coordinate(Path),
    coord_crs=Depends(CoordCRSParams),
) -> None:
    """bbox images: finite corners, in order, and a longitude/latitude box without coord_crs."""
    if not (minx < maxx and miny < maxy):
        raise ParameterError(
            f"Invalid bbox {minx},{miny},{maxx},{maxy}: it must be minx,miny,maxx,maxy with "
            "minx < maxx and miny < maxy"
        )
    if _geographic(coord_crs):
        _check_lonlat(minx, miny, "The bbox corner")
        _check_lonlat(maxx, maxy, "The bbox corner")


def point_check(
    lon: _coordinate(Path), lat: _coordinate(Path), coord_crs=Depends(CoordCRSParams)
) -> None:
    """Points: finite, and a longitude/latitude without coord_crs."""
    if _geographic(coord_crs):
        _check_lonlat(lon, lat, "The point")


def geojson_check(limits: LimitSettings) -> Callable:
    """POST bodies: at most ``max_features`` features, each with a finite geometry (longitudes
    and latitudes without coord_crs). What is not GeoJSON is left to the route's validation."""

    async def check_geojson(request: Request, coord_crs=Depends(CoordCRSParams)) -> None:
        try:
            body = await request.json()
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        features = body.get("features") if body.get("type") == "FeatureCollection" else [body]
        if not isinstance(features, list):
            return
        if len(features) > limits.max_features:
            raise over_limit(
                "The number of features", len(features), limits.max_features, "max_features"
            )
        if not features:
            raise ParameterError("The FeatureCollection has no feature")
        for number, feature in enumerate(features, 1):
            _check_feature(number, feature, _geographic(coord_crs))

    return check_geojson


def _check_feature(number: int, feature: Any, geographic: bool) -> None:
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    if geometry is None:
        raise ParameterError(
            f'GeoJSON feature {number} has no geometry ("geometry": null): a Polygon or '
            "MultiPolygon is needed to cut the image"
        )
    coordinates = list(_numbers(geometry))
    if not coordinates:
        raise ParameterError(f"GeoJSON feature {number} has an empty geometry (no position)")
    if not all(isinstance(c, (int, float)) and math.isfinite(c) for c in coordinates):
        raise ParameterError(
            f"GeoJSON feature {number} has coordinates that are not finite numbers"
        )
    if geographic:
        for lon, lat in zip(coordinates[::2], coordinates[1::2], strict=False):
            _check_lonlat(lon, lat, f"A position of GeoJSON feature {number}")


def _numbers(value):
    """Every number of a GeoJSON geometry's coordinates (positions flattened, 2-D)."""
    if isinstance(value, dict):
        for key in ("coordinates", "geometries"):
            if key in value and value[key] is not None:
                yield from _numbers(value[key])
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (int, float)) for v in value):
            yield from value[:2]
        else:
            for item in value:
                yield from _numbers(item)


def image_output_check(factory, limits: LimitSettings, image_dependency) -> Callable:
    """Images whose size the request fixes (preview, bbox, feature, statistics): bands x
    pixels within the output limit (the reader checks the sizes it derives from the data)."""

    def check_image(
        reader_params=Depends(factory.reader_dependency),
        layer_params=Depends(factory.layer_dependency),
        image_params=Depends(image_dependency),
    ) -> None:
        width, height, side = image_params.width, image_params.height, image_params.max_size
        if width and height:
            pass
        elif width or height or side:
            width = height = max(width or 0, height or 0, side or 0)
        else:
            return
        bands = output_bands(reader_params, layer_params)
        budget.check_output(bands, height, width, limits.max_output_pixels)

    return check_image


def colormap_image_check(limits: LimitSettings) -> Callable:
    """Colormap images (``/colorMaps/{id}?format=png``): at most ``max_image_size`` a side."""
    side = Annotated[int | None, _hidden(Query, gt=0, le=limits.max_image_size)]

    def check_colormap_image(width: side = None, height: side = None) -> None:
        return None

    return check_colormap_image
