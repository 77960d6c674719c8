"""Bounded parameters of the tiler's routes: every size-like parameter has a limit, and every
value the libraries would choke on (NaN, inverted boxes, unparseable colormaps) is a 4xx here,
before the product is opened.

Two mechanisms, so that titiler's own routes are kept as they are:

- the factory's dependencies (histogram, statistics, rendering, colormap, bidx/expression,
  preview and part sizes, variables) are subclassed with checks against :class:`LimitSettings`;
- :class:`BoundedRouter` rewrites the signature of each endpoint it registers: path and query
  parameters declared by titiler's endpoints themselves (``z``/``x``/``y``, ``tilesize``,
  ``minzoom``/``maxzoom``, point and bbox coordinates, colormap image sizes) get bounds that
  FastAPI validates (422, shown in ``/openapi.json``), and the call is checked as a whole (zoom
  level of the tile matrix set, bbox order, geographic ranges, GeoJSON geometries, output
  pixels) and its failures put in their class (:mod:`titiler_eopf.tiler.errors`).
"""

import dataclasses
import functools
import inspect
import logging
import math
import typing
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query
from fastapi.routing import APIRouter
from pydantic import Field

from titiler_eopf.paths import MAX_ZOOM
from titiler_eopf.tiler import budget
from titiler_eopf.tiler.errors import (
    EOPFError,
    InternalError,
    LimitError,
    ParameterError,
    classify_read_error,
    status_of,
)
from titiler_eopf.tiler.limits import LimitSettings, env_name

logger = logging.getLogger(__name__)

DEFAULT_TILE_SIZE = 256


def over_limit(what: str, value: Any, limit: int, field: str, unit: str = "") -> LimitError:
    unit = f" {unit}" if unit else ""
    return LimitError(
        f"{what} is {value}{unit}, over this server's limit of {limit}{unit} ({env_name(field)})"
    )


# -- dependencies ----------------------------------------------------------------------------
def _subclass(base: type, name: str, post_init: Callable, **overrides: Any) -> type:
    """A dataclass subclass of ``base`` with some fields re-annotated and a ``__post_init__``.

    Every field is re-declared with its resolved annotation, so FastAPI reads real types
    whatever the base's module does with annotations.
    """
    hints = typing.get_type_hints(base, include_extras=True)
    fields = []
    for f in dataclasses.fields(base):
        annotation = overrides.get(f.name, hints[f.name])
        if f.default is not dataclasses.MISSING:
            fields.append((f.name, annotation, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            fields.append(
                (f.name, annotation, dataclasses.field(default_factory=f.default_factory))
            )
        else:
            fields.append((f.name, annotation))
    return dataclasses.make_dataclass(
        name, fields, bases=(base,), namespace={"__post_init__": post_init}, module=__name__
    )


def _parsed(label: str, parse: Callable[[], Any]) -> Any:
    """Run titiler's own parsing; its ValueErrors and asserts become a 400 naming the value."""
    try:
        return parse()
    except (ValueError, AssertionError, TypeError, OverflowError) as exc:
        raise ParameterError(f"Invalid {label}: {exc}") from None


def _finite(label: str, values) -> list[float]:
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ParameterError(f"Invalid {label}: {list(values)!r} are not numbers") from None
    if not all(math.isfinite(v) for v in numbers):
        raise ParameterError(f"Invalid {label}: {numbers} (values must be finite numbers)")
    return numbers


def variables_params(base: type, limits: LimitSettings) -> type:
    def __post_init__(self):
        getattr(base, "__post_init__", lambda _: None)(self)
        count = len(self.variables or ())
        if count > limits.max_variables:
            raise over_limit(
                "The number of 'variables'", count, limits.max_variables, "max_variables"
            )

    return _subclass(base, "BoundedVariablesParams", __post_init__)


def size_params(base: type, limits: LimitSettings, name: str, default_max_size: int | None):
    """Preview and bbox/feature sizes, at most ``max_image_size`` pixels a side."""
    side = f"at most TITILER_EOPF_MAX_IMAGE_SIZE ({limits.max_image_size})"
    size = Annotated[
        int | None, Field(gt=0, le=limits.max_image_size, description=f"Pixels, {side}.")
    ]
    max_size = Annotated[
        int | None if default_max_size is None else int,
        Field(gt=0, le=limits.max_image_size, description=f"Longest side, {side}."),
    ]

    def __post_init__(self):
        base.__post_init__(self)

    cls = _subclass(base, name, __post_init__, max_size=max_size, height=size, width=size)
    return cls


def histogram_params(base: type, limits: LimitSettings) -> type:
    def __post_init__(self):
        raw_bins, raw_range = self.bins, self.range
        _parsed("histogram_bins", lambda: base.__post_init__(self))
        if isinstance(self.bins, int):
            if self.bins < 1:
                raise ParameterError(f"histogram_bins must be at least 1 (got {raw_bins})")
            if self.bins > limits.max_histogram_bins:
                raise over_limit(
                    "histogram_bins",
                    self.bins,
                    limits.max_histogram_bins,
                    "max_histogram_bins",
                    "bins",
                )
        else:
            edges = _finite("histogram_bins", self.bins)
            if len(edges) - 1 > limits.max_histogram_bins:
                raise over_limit(
                    "histogram_bins",
                    len(edges) - 1,
                    limits.max_histogram_bins,
                    "max_histogram_bins",
                    "bins",
                )
            if any(b <= a for a, b in zip(edges, edges[1:])):
                raise ParameterError(f"histogram_bins edges must increase ({raw_bins})")
        if self.range is not None:
            low, high = _finite("histogram_range", self.range)
            if low > high:
                raise ParameterError(
                    f"histogram_range must be 'min,max' with min <= max ({raw_range})"
                )

    return _subclass(base, "BoundedHistogramParams", __post_init__)


def statistics_params(base: type, limits: LimitSettings) -> type:
    percentiles = Annotated[
        list[Annotated[int, Field(ge=0, le=100)]] | None,
        Query(
            alias="p",
            title="Percentile values",
            max_length=limits.max_percentiles,
            description=f"Percentiles, each 0-100 (default 2 and 98), at most {limits.max_percentiles}.",
        ),
    ]
    categories = Annotated[
        list[float | int] | None,
        Query(
            alias="c",
            title="Pixels values for categories.",
            max_length=limits.max_categories,
            description=f"Values for which to report counts, at most {limits.max_categories}.",
        ),
    ]

    def __post_init__(self):
        base.__post_init__(self)

    return _subclass(
        base,
        "BoundedStatisticsParams",
        __post_init__,
        percentiles=percentiles,
        categories=categories,
    )


def rendering_params(base: type, limits: LimitSettings) -> type:
    def __post_init__(self):
        raw = list(self.rescale or ())
        if len(raw) > limits.max_variables:
            raise over_limit(
                "The number of 'rescale' ranges", len(raw), limits.max_variables, "max_variables"
            )
        _parsed("rescale (expected 'min,max' per band)", lambda: base.__post_init__(self))
        for text, pair in zip(raw, self.rescale or ()):
            low, high = _finite(f"rescale '{text}'", pair)
        if self.color_formula and len(self.color_formula) > limits.max_expression_length:
            raise over_limit(
                "color_formula",
                f"{len(self.color_formula)} characters long",
                limits.max_expression_length,
                "max_expression_length",
            )

    return _subclass(base, "BoundedRenderingParams", __post_init__)


def layer_params(base: type, limits: LimitSettings) -> type:
    def __post_init__(self):
        getattr(base, "__post_init__", lambda _: None)(self)
        indexes = self.indexes or []
        if len(indexes) > limits.max_variables:
            raise over_limit(
                "The number of 'bidx'", len(indexes), limits.max_variables, "max_variables"
            )
        if any(i < 1 for i in indexes):
            raise ParameterError(
                f"Invalid bidx {[i for i in indexes if i < 1]}: band indexes start at 1"
            )
        if self.expression:
            if len(self.expression) > limits.max_expression_length:
                raise over_limit(
                    "expression",
                    f"{len(self.expression)} characters long",
                    limits.max_expression_length,
                    "max_expression_length",
                )
            bands = len([part for part in self.expression.split(";") if part.strip()])
            if bands > limits.max_variables:
                raise over_limit(
                    "The number of bands of 'expression'",
                    bands,
                    limits.max_variables,
                    "max_variables",
                )

    return _subclass(base, "BoundedLayerParams", __post_init__)


def tile_params(base: type, limits: LimitSettings) -> type:
    """buffer/padding: a few pixels (the reader ignores them, the schema still bounds them)."""
    bounded = {
        name: Annotated[float | None if name == "buffer" else int | None, Query(gt=0, le=64)]
        for name in ("buffer", "padding")
    }

    def __post_init__(self):
        getattr(base, "__post_init__", lambda _: None)(self)

    return _subclass(base, "BoundedTileParams", __post_init__, **bounded)


def colormap_dependency(dependency: Callable, limits: LimitSettings) -> Callable:
    """``colormap``: at most ``max_colormap_bytes`` of JSON and ``max_colormap_entries``; what
    titiler cannot parse is a 400 that says what a colormap looks like."""

    @functools.wraps(dependency)
    def bounded(*args, **kwargs):
        text = kwargs.get("colormap")
        if text is not None and len(text.encode()) > limits.max_colormap_bytes:
            raise over_limit(
                "colormap",
                len(text.encode()),
                limits.max_colormap_bytes,
                "max_colormap_bytes",
                "bytes",
            )
        try:
            colormap = dependency(*args, **kwargs)
        except HTTPException as exc:
            raise ParameterError(f"Invalid colormap: {exc.detail}. {COLORMAP_FORMS}") from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ParameterError(
                f"Invalid colormap ({type(exc).__name__}: {exc}). {COLORMAP_FORMS}"
            ) from None
        if text is not None:
            if not isinstance(colormap, (dict, list)) or not colormap:
                raise ParameterError(
                    f"Invalid colormap: empty or not a JSON object or list. {COLORMAP_FORMS}"
                )
            if len(colormap) > limits.max_colormap_entries:
                raise over_limit(
                    "colormap",
                    len(colormap),
                    limits.max_colormap_entries,
                    "max_colormap_entries",
                    "entries",
                )
        return colormap

    return bounded


COLORMAP_FORMS = (
    'A colormap is a JSON object of value: [r, g, b, a] (e.g. {"1": [255, 0, 0, 255]}) or a list '
    "of [[min, max], [r, g, b, a]] intervals"
)


def algorithm_dependency(dependency: Callable) -> Callable:
    """``algorithm``: failures of the chosen algorithm on this image are the request's (400)."""

    @functools.wraps(dependency)
    def bounded(*args, **kwargs):
        try:
            algorithm = dependency(*args, **kwargs)
        except HTTPException as exc:
            raise ParameterError(f"Invalid algorithm_params: {exc.detail}") from None
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"Invalid algorithm_params: {exc}") from None
        return None if algorithm is None else _SafeAlgorithm(algorithm, kwargs.get("algorithm"))

    return bounded


class _SafeAlgorithm:
    def __init__(self, algorithm, name):
        self.algorithm, self.name = algorithm, name

    def __call__(self, image):
        try:
            return self.algorithm(image)
        except EOPFError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure here comes from the choice of algorithm
            raise ParameterError(
                f"The algorithm '{self.name}' cannot be applied to this image "
                f"({image.count} band(s), {image.data.dtype}): {type(exc).__name__}: {exc}"
            ) from None

    def __getattr__(self, name):
        return getattr(self.algorithm, name)


def safe_render(render: Callable) -> Callable:
    """Encoding failures (a format that cannot hold this image, e.g. a 1 x 1 JPEG 2000, or a
    colormap that does not fit it) are the request's: 400 naming the format."""

    @functools.wraps(render)
    def rendered(image, *args, **kwargs):
        try:
            return render(image, *args, **kwargs)
        except EOPFError:
            raise
        except Exception as exc:  # noqa: BLE001
            from rasterio.errors import RasterioError
            from rio_tiler.errors import RioTilerError

            if not isinstance(
                exc, (ValueError, TypeError, KeyError, IndexError, RasterioError, RioTilerError)
            ):
                raise
            output = kwargs.get("output_format")
            raise ParameterError(
                f"Cannot encode a {image.count}-band {image.width} x {image.height} "
                f"{image.data.dtype} image as {getattr(output, 'value', output) or 'the default format'}: "
                f"{type(exc).__name__}: {exc}"
            ) from None

    return rendered


def bounded_dependencies(factory, limits: LimitSettings) -> dict[str, Any]:
    """Bounded versions of a TilerFactory's dependencies (whatever classes it was given)."""
    return {
        "reader_dependency": variables_params(factory.reader_dependency, limits),
        "layer_dependency": layer_params(factory.layer_dependency, limits),
        "tile_dependency": tile_params(factory.tile_dependency, limits),
        "stats_dependency": statistics_params(factory.stats_dependency, limits),
        "histogram_dependency": histogram_params(factory.histogram_dependency, limits),
        "img_preview_dependency": size_params(
            factory.img_preview_dependency, limits, "BoundedPreviewParams", 1024
        ),
        "img_part_dependency": size_params(
            factory.img_part_dependency, limits, "BoundedPartParams", None
        ),
        "render_dependency": rendering_params(factory.render_dependency, limits),
        "colormap_dependency": colormap_dependency(factory.colormap_dependency, limits),
        "process_dependency": algorithm_dependency(factory.process_dependency),
        "render_func": safe_render(factory.render_func),
    }


# -- routes ----------------------------------------------------------------------------------
def route_parameters(limits: LimitSettings) -> dict[str, Any]:
    """Bounded annotations of the parameters titiler's endpoints declare themselves."""
    side = f"at most {limits.max_image_size} (TITILER_EOPF_MAX_IMAGE_SIZE)"
    index = Annotated[
        int, Path(ge=0, le=2 ** (MAX_ZOOM + 1), description="Tile column/row (from 0).")
    ]
    zoom = Annotated[int | None, Query(ge=0, le=MAX_ZOOM, description=f"Zoom level, 0-{MAX_ZOOM}.")]
    image_side = Annotated[
        int | None, Query(gt=0, le=limits.max_image_size, description=f"Pixels, {side}.")
    ]

    def coordinate(text: str):
        return Annotated[float, Path(allow_inf_nan=False, description=f"{text} (a finite number).")]

    return {
        "z": Annotated[
            int, Path(ge=0, le=MAX_ZOOM, description="Zoom level of the tile matrix set.")
        ],
        "x": index,
        "y": index,
        "tilesize": Annotated[
            int | None,
            Query(gt=0, le=limits.max_image_size, description=f"Tile size in pixels, {side}."),
        ],
        "minzoom": zoom,
        "maxzoom": zoom,
        "lon": coordinate("Longitude (x in coord_crs)"),
        "lat": coordinate("Latitude (y in coord_crs)"),
        "minx": coordinate("Bounding box min X"),
        "miny": coordinate("Bounding box min Y"),
        "maxx": coordinate("Bounding box max X"),
        "maxy": coordinate("Bounding box max Y"),
        "width": image_side,  # colormap images (preview/bbox sizes come from dependencies)
        "height": image_side,
    }


def _check_zoom(kwargs: dict, limits: LimitSettings) -> None:
    import morecantile

    tms_id, z = kwargs["tileMatrixSetId"], kwargs["z"]
    tms = morecantile.tms.get(tms_id)
    if not tms.minzoom <= z <= tms.maxzoom:
        raise ParameterError(
            f"z={z} is not a zoom level of {tms_id}: its levels are {tms.minzoom} to {tms.maxzoom}"
        )
    matrix = tms.matrix(z)
    x, y = kwargs.get("x", 0), kwargs.get("y", 0)
    if x >= matrix.matrixWidth or y >= matrix.matrixHeight:
        from rio_tiler.errors import TileOutsideBounds

        raise TileOutsideBounds(
            f"Tile {z}/{x}/{y} is outside the tile matrix of {tms_id} at zoom {z} "
            f"(columns 0-{matrix.matrixWidth - 1}, rows 0-{matrix.matrixHeight - 1})"
        )


def _geographic(kwargs: dict) -> bool:
    crs = kwargs.get("coord_crs")
    return crs is None or bool(getattr(crs, "is_geographic", False))


def _check_lonlat(lon: float, lat: float, what: str) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ParameterError(
            f"{what} ({lon}, {lat}) is not a longitude/latitude: longitudes are -180 to 180, "
            "latitudes -90 to 90 (pass coord_crs for other coordinates)"
        )


def _check_bbox(kwargs: dict, limits: LimitSettings) -> None:
    minx, miny, maxx, maxy = (kwargs[k] for k in ("minx", "miny", "maxx", "maxy"))
    if not (minx < maxx and miny < maxy):
        raise ParameterError(
            f"Invalid bbox {minx},{miny},{maxx},{maxy}: it must be minx,miny,maxx,maxy with "
            "minx < maxx and miny < maxy"
        )
    if _geographic(kwargs):
        _check_lonlat(minx, miny, "The bbox corner")
        _check_lonlat(maxx, maxy, "The bbox corner")


def _check_point(kwargs: dict, limits: LimitSettings) -> None:
    if _geographic(kwargs):
        _check_lonlat(kwargs["lon"], kwargs["lat"], "The point")


def _check_geojson(kwargs: dict, limits: LimitSettings) -> None:
    body = kwargs["geojson"]
    features = getattr(body, "features", None)
    features = [body] if features is None else features
    if len(features) > limits.max_features:
        raise over_limit(
            "The number of features", len(features), limits.max_features, "max_features"
        )
    if not features:
        raise ParameterError("The FeatureCollection has no feature")
    for number, feature in enumerate(features, 1):
        geometry = getattr(feature, "geometry", None)
        if geometry is None:
            raise ParameterError(
                f'GeoJSON feature {number} has no geometry ("geometry": null): a Polygon or '
                "MultiPolygon is needed to cut the image"
            )
        coordinates = list(_numbers(geometry.model_dump()))
        if not coordinates:
            raise ParameterError(f"GeoJSON feature {number} has an empty geometry (no position)")
        if not all(math.isfinite(c) for c in coordinates):
            raise ParameterError(
                f"GeoJSON feature {number} has coordinates that are not finite numbers"
            )
        if _geographic(kwargs):
            for lon, lat in zip(coordinates[::2], coordinates[1::2]):
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


def output_bands(kwargs: dict) -> int:
    layer, reader = kwargs.get("layer_params"), kwargs.get("reader_params")
    if layer is not None and getattr(layer, "expression", None):
        return len([p for p in layer.expression.split(";") if p.strip()])
    if layer is not None and getattr(layer, "indexes", None):
        return len(layer.indexes)
    return max(1, len(getattr(reader, "variables", None) or ()))


def _check_output(kwargs: dict, limits: LimitSettings) -> None:
    """Output pixels of tiles and of images whose size the request fixes (the reader checks
    the sizes it derives from the data, with the same limit)."""
    width = height = None
    if "tilesize" in kwargs:
        width = height = kwargs["tilesize"] or DEFAULT_TILE_SIZE
    elif "image_params" in kwargs:
        params = kwargs["image_params"]
        w, h, side = (
            getattr(params, "width", None),
            getattr(params, "height", None),
            getattr(params, "max_size", None),
        )
        if w and h:
            width, height = w, h
        elif w or h or side:
            width = height = max(w or 0, h or 0, side or 0)
    if width is None:
        return
    budget.check_output(output_bands(kwargs), height, width, limits.max_output_pixels)


# (parameters an endpoint must declare, check)
CHECKS: list[tuple[set[str], Callable[[dict, LimitSettings], None]]] = [
    ({"tileMatrixSetId", "z"}, _check_zoom),
    ({"minx", "miny", "maxx", "maxy"}, _check_bbox),
    ({"lon", "lat"}, _check_point),
    ({"geojson"}, _check_geojson),
    ({"reader_params"}, _check_output),
]


def bound_endpoint(endpoint: Callable, limits: LimitSettings) -> Callable:
    """The endpoint with bounded parameters, whole-call checks and its errors in their class."""
    if inspect.iscoroutinefunction(endpoint):  # titiler's async routes list static resources
        return endpoint
    signature = inspect.signature(endpoint)
    table = route_parameters(limits)
    parameters = [
        p.replace(annotation=table[p.name]) if p.name in table else p
        for p in signature.parameters.values()
    ]
    names = set(signature.parameters)
    checks = [check for needed, check in CHECKS if needed <= names]

    @functools.wraps(endpoint)
    def bounded(*args: Any, **kwargs: Any):
        for check in checks:
            check(kwargs, limits)
        try:
            return endpoint(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - put in its class, then raised
            raise _in_class(exc, endpoint, kwargs) from exc

    bounded.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return bounded


def _in_class(exc: Exception, endpoint: Callable, kwargs: dict) -> Exception:
    """The error to answer with; 5xx are logged with the item and the variables."""
    from rio_tiler.errors import RioTilerError

    product = kwargs.get("src_path")
    location = getattr(product, "location", None)
    where = location.label if location is not None else endpoint.__name__
    variables = getattr(kwargs.get("reader_params"), "variables", None)
    if isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, RioTilerError) and not isinstance(exc, EOPFError):
        codes = rio_tiler_status_codes()
        code = next((codes[c] for c in type(exc).__mro__ if c in codes), 500)
        error: Exception = (
            exc
            if code < 500
            else InternalError(f"Internal error for {where}: {type(exc).__name__}: {exc}")
        )
    else:
        error = classify_read_error(exc, where)
        if error is None:  # a store failure outside the reader's pixel reads (e.g. /info)
            from titiler_eopf.tiler.catalog import translate_store_error

            error = (
                translate_store_error(exc, location)
                if location
                else InternalError(f"Internal error for {where}")
            )
    if isinstance(error, EOPFError) and status_of(error) >= 500:
        logger.error(
            "%s failed for %s, variables %s: %s: %s",
            endpoint.__name__,
            where,
            variables,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
    return error


def rio_tiler_status_codes() -> dict[type[Exception], int]:
    """titiler's status of each rio-tiler error, with the two it leaves at 500 that are the
    request's: a point outside the product (404) and an array over rio-tiler's size (400)."""
    from rio_tiler.errors import MaxArraySizeError, PointOutsideBounds
    from titiler.core.errors import DEFAULT_STATUS_CODES

    return {**DEFAULT_STATUS_CODES, PointOutsideBounds: 404, MaxArraySizeError: 400}


class BoundedRouter(APIRouter):
    """An APIRouter whose endpoints are bounded by :func:`bound_endpoint` as they are added."""

    def __init__(self, *args: Any, limits: LimitSettings, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.limits = limits

    def add_api_route(self, path: str, endpoint: Callable, **kwargs: Any) -> None:
        super().add_api_route(path, bound_endpoint(endpoint, self.limits), **kwargs)
