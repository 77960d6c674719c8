"""The options of the tiler's routes, as FastAPI dependencies (titiler's dataclasses).

Every option is declared once, with the bounds FastAPI validates (422, shown in
``/openapi.json``), and checked as a whole in ``__post_init__`` where one field is not enough
(NaN, inverted ranges, too many bands): every value the libraries would choke on is a 4xx
here, before the product is opened. Only options the reader honours are declared: tiles take
no ``buffer``/``padding`` and datasets no ``unscale`` (titiler.xarray's choices).

:func:`bounded_dependencies` builds the classes for one server's :class:`LimitSettings`
(a bound such as ``max_image_size`` is part of the schema); :mod:`titiler_eopf.tiler.checks`
holds the whole-request checks the factories add as route dependencies.

No ``from __future__ import annotations`` here: the classes are declared inside a function and
FastAPI must read their annotations (with the limits they close over) as objects.
"""

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import HTTPException, Query
from pydantic import Field
from rio_tiler.types import RIOResampling
from titiler.core import dependencies as core
from titiler.xarray import dependencies as xarray_dependencies

from titiler_eopf.paths import expression_variables
from titiler_eopf.tiler.errors import EOPFError, LimitError, ParameterError
from titiler_eopf.tiler.limits import LimitSettings, env_name

# titiler.xarray's syntax of one ``sel`` value: ``{dimension}={value}`` or
# ``{dimension}={method}::{value}`` (the pattern its SelDimStr validates).
SEL_PATTERN = re.compile(xarray_dependencies.SelDimStr.__metadata__[0].pattern)
SEL_FORMS = (
    "expected '{dimension}={value}' or '{dimension}={method}::{value}' with method one of "
    "nearest, pad, ffill, backfill, bfill"
)
COLORMAP_FORMS = (
    'A colormap is a JSON object of value: [r, g, b, a] (e.g. {"1": [255, 0, 0, 255]}) or a list '
    "of [[min, max], [r, g, b, a]] intervals"
)


def over_limit(what: str, value: Any, limit: int, field: str, unit: str = "") -> LimitError:
    unit = f" {unit}" if unit else ""
    return LimitError(
        f"{what} is {value}{unit}, over this server's limit of {limit}{unit} ({env_name(field)})"
    )


def _finite(label: str, values) -> list[float]:
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ParameterError(f"Invalid {label}: {list(values)!r} are not numbers") from None
    if not all(math.isfinite(v) for v in numbers):
        raise ParameterError(f"Invalid {label}: {numbers} (values must be finite numbers)")
    return numbers


@dataclass
class VariablesParams(core.DefaultDependency):
    """The bands of the request, in order, and the value of their other dimensions."""

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

    # TiTiler-EOPF's links carry `assets` (a STAC asset name): an item here is one product, its
    # bands are the variables, so it is accepted and ignored.
    assets: Annotated[
        list[str] | None,
        Query(
            description="Accepted for TiTiler-EOPF links and ignored: the bands are chosen by "
            "`variables` or by the variables an `expression` names.",
        ),
    ] = None
    # Read here too (the layer options declare it in the schema): the variables an expression
    # names as `{group}:{variable}` are read without `variables`.
    expression: Annotated[str | None, Query(include_in_schema=False)] = None

    def __post_init__(self):
        named = [
            v for v in expression_variables(self.expression) if v not in (self.variables or ())
        ]
        if named:
            self.variables = [*(self.variables or ()), *named]
        dims = []
        for item in self.sel or ():
            if not SEL_PATTERN.match(item):
                raise ParameterError(f"Invalid sel '{item}': {SEL_FORMS}")
            dims.append(item.partition("=")[0].strip())
        twice = sorted({d for d in dims if dims.count(d) > 1})
        if twice:
            raise ParameterError(f"sel names the dimension '{twice[0]}' twice: give one value")

    def as_dict(self, exclude_none: bool = True) -> dict:
        """The reader's options: the variables (with those of the expression) and ``sel``."""
        options = {"variables": self.variables, "sel": self.sel}
        return {k: v for k, v in options.items() if v is not None or not exclude_none}


@dataclass
class DatasetParams(xarray_dependencies.DatasetParams):
    """titiler.xarray's ``nodata`` and ``reproject``, and ``resampling``, which the reader uses
    for reprojection when ``reproject`` is not given."""

    resampling_method: Annotated[
        RIOResampling | None,
        Query(
            alias="resampling",
            description="Resampling (used for reprojection when `reproject` is not given).",
        ),
    ] = None

    def __post_init__(self):
        try:
            super().__post_init__()
        except (ValueError, OverflowError):
            raise ParameterError(f"Invalid nodata {self.nodata!r}: a number, or nan") from None


def bounded_dependencies(limits: LimitSettings) -> dict[str, Any]:
    """The dependency classes of an item factory whose requests stay within ``limits``
    (keyword arguments of :class:`titiler.core.factory.TilerFactory`)."""
    side = f"at most {limits.max_image_size} (TITILER_EOPF_MAX_IMAGE_SIZE)"

    @dataclass
    class BoundedVariablesParams(VariablesParams):
        def __post_init__(self):
            super().__post_init__()
            count = len(self.variables or ())
            if count > limits.max_variables:
                raise over_limit(
                    "The number of 'variables'", count, limits.max_variables, "max_variables"
                )

    @dataclass
    class LayerParams(core.BidxExprParams):
        indexes: Annotated[
            list[int] | None,
            Query(
                title="Band indexes",
                alias="bidx",
                description="Band(s) of each variable, from 1 (TiTiler-EOPF's semantics): "
                "`variables=/g:a&variables=/g:b&bidx=1` is an image of a and b. A multi-band "
                "variable (the quicklook `tci`) has one band per value of its `band` dimension.",
            ),
        ] = None
        expression: Annotated[
            str | None,
            Query(
                title="Band math expression",
                description="rio-tiler band math, `;` between output bands. Bands are named "
                "`{group}:{variable}` (read without `variables`, e.g. "
                "`(/measurements/reflectance:b08-/measurements/reflectance:b04)/(...)`) or "
                "b1..bN, the requested variables in order.",
            ),
        ] = None

        def __post_init__(self):
            indexes = self.indexes or []
            if len(indexes) > limits.max_variables:
                raise over_limit(
                    "The number of 'bidx'", len(indexes), limits.max_variables, "max_variables"
                )
            if any(i < 1 for i in indexes):
                raise ParameterError(
                    f"Invalid bidx {[i for i in indexes if i < 1]}: band indexes start at 1"
                )
            if not self.expression:
                return
            if len(self.expression) > limits.max_expression_length:
                raise over_limit(
                    "expression",
                    f"{len(self.expression)} characters long",
                    limits.max_expression_length,
                    "max_expression_length",
                )
            if expression_bands(self.expression) > limits.max_variables:
                raise over_limit(
                    "The number of bands of 'expression'",
                    expression_bands(self.expression),
                    limits.max_variables,
                    "max_variables",
                )

    @dataclass
    class RenderingParams(core.ImageRenderingParams):
        def __post_init__(self):
            raw = list(self.rescale or ())
            if len(raw) > limits.max_variables:
                raise over_limit(
                    "The number of 'rescale' ranges",
                    len(raw),
                    limits.max_variables,
                    "max_variables",
                )
            try:
                super().__post_init__()
            except (ValueError, AssertionError) as exc:
                raise ParameterError(
                    f"Invalid rescale (expected 'min,max' per band): {exc}"
                ) from None
            for text, pair in zip(raw, self.rescale or (), strict=True):
                _finite(f"rescale '{text}'", pair)
            if self.color_formula and len(self.color_formula) > limits.max_expression_length:
                raise over_limit(
                    "color_formula",
                    f"{len(self.color_formula)} characters long",
                    limits.max_expression_length,
                    "max_expression_length",
                )

    @dataclass
    class StatisticsParams(core.StatisticsParams):
        categories: Annotated[
            list[float | int] | None,
            Query(
                alias="c",
                title="Pixels values for categories.",
                max_length=limits.max_categories,
                description=f"Values to count, at most {limits.max_categories}.",
            ),
        ] = None
        percentiles: Annotated[
            list[Annotated[int, Field(ge=0, le=100)]] | None,
            Query(
                alias="p",
                title="Percentile values",
                max_length=limits.max_percentiles,
                description=(
                    f"Percentiles, each 0-100 (default 2 and 98), at most {limits.max_percentiles}."
                ),
            ),
        ] = None

    @dataclass
    class HistogramParams(core.HistogramParams):
        def __post_init__(self):
            raw_bins, raw_range = self.bins, self.range
            try:
                super().__post_init__()
            except (ValueError, AssertionError, TypeError, OverflowError) as exc:
                raise ParameterError(f"Invalid histogram_bins: {exc}") from None
            _check_histogram(self.bins, self.range, raw_bins, raw_range, limits)

    size = Annotated[
        int | None, Field(gt=0, le=limits.max_image_size, description=f"Pixels, {side}.")
    ]

    @dataclass
    class PreviewParams(core.PreviewParams):
        max_size: Annotated[
            int, Field(gt=0, le=limits.max_image_size, description=f"Longest side, {side}.")
        ] = 1024
        height: size = None
        width: size = None

    @dataclass
    class PartParams(core.PartFeatureParams):
        max_size: Annotated[
            int | None,
            Field(gt=0, le=limits.max_image_size, description=f"Longest side, {side}."),
        ] = None
        height: size = None
        width: size = None

    return {
        "reader_dependency": BoundedVariablesParams,
        "layer_dependency": LayerParams,
        "dataset_dependency": DatasetParams,
        "tile_dependency": core.DefaultDependency,  # the reader has no buffer, no padding
        "stats_dependency": StatisticsParams,
        "histogram_dependency": HistogramParams,
        "img_preview_dependency": PreviewParams,
        "img_part_dependency": PartParams,
        "render_dependency": RenderingParams,
    }


def expression_bands(expression: str) -> int:
    return len([part for part in expression.split(";") if part.strip()])


def _check_histogram(bins, histogram_range, raw_bins, raw_range, limits: LimitSettings) -> None:
    if isinstance(bins, int):
        if bins < 1:
            raise ParameterError(f"histogram_bins must be at least 1 (got {raw_bins})")
        count = bins
    else:
        edges = _finite("histogram_bins", bins)
        count = len(edges) - 1
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise ParameterError(f"histogram_bins edges must increase ({raw_bins})")
    if count > limits.max_histogram_bins:
        raise over_limit(
            "histogram_bins", count, limits.max_histogram_bins, "max_histogram_bins", "bins"
        )
    if histogram_range is not None:
        low, high = _finite("histogram_range", histogram_range)
        if low > high:
            raise ParameterError(f"histogram_range must be 'min,max' with min <= max ({raw_range})")


# -- wrapped callables (factory fields that are functions, not classes) ------------------------
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
        from rasterio.errors import RasterioError
        from rio_tiler.errors import RioTilerError

        try:
            return render(image, *args, **kwargs)
        except EOPFError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, RasterioError, RioTilerError) as exc:
            output = kwargs.get("output_format")
            name = getattr(output, "value", output) or "the default format"
            raise ParameterError(
                f"Cannot encode a {image.count}-band {image.width} x {image.height} "
                f"{image.data.dtype} image as {name}: {type(exc).__name__}: {exc}"
            ) from None

    return rendered
