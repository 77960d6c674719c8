"""The bands of a request: which variable, which of its dimensions, how its values are shown.

A requested variable gives one output band, except:

- multi-band arrays (``band, y, x``, e.g. the 8-bit quicklook ``tci``): one output band per value
  of ``band``, so ``bidx`` addresses each of them;
- arrays with other dimensions (``time, y, x``; the sun/view angles' ``angle``, ``detector``):
  ``sel`` picks one value of each, with titiler.xarray's syntax (``sel=time=2022-01-01``,
  ``sel=time=nearest::2022-01-03``). A dimension of one value is taken as it is; reading a
  variable whose dimension is left open is refused with the values to choose from.

Integer variables without CF scaling (classes, masks, quicklooks) keep their values and dtype;
their nodata is the array's own fill value (:func:`product.categorical_nodata`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attr
import numpy

from titiler_eopf.tiler import selection
from titiler_eopf.tiler.errors import ParameterError, VariableError
from titiler_eopf.tiler.product import (
    BAND_DIM,
    Product,
    Pyramid,
    categorical_nodata,
    is_categorical,
    parse_variable,
)
from titiler_eopf.tiler.selection import listing as _listing
from titiler_eopf.tiler.selection import text as _text

MAX_BANDS = 16
SEL_METHODS = ("nearest", "pad", "ffill", "backfill", "bfill")


@attr.s(frozen=True, auto_attribs=True)
class Band:
    """One requested variable, the pyramid that holds it and the slice of it that is read."""

    label: str  # as requested, e.g. /measurements/reflectance:b04
    name: str  # b04
    pyramid: Pyramid = attr.ib(eq=False)
    categorical: bool = False
    nodata: Any = math.nan  # categorical: the fill value or None; others NaN
    dtype: str = "float64"
    dims: tuple[str, ...] = ("y", "x")
    # dim -> (value, method) chosen by sel; dims of one value are taken with isel(0)
    selection: dict = attr.ib(factory=dict, eq=False)
    singletons: tuple[str, ...] = ()
    # dims still open (need sel): dim -> their values
    open_dims: dict = attr.ib(factory=dict, eq=False)
    band_values: tuple = ()  # values of the band dim (multi-band arrays)
    coordinates: dict = attr.ib(factory=dict, eq=False)  # extra dim -> its values (for /info)

    @property
    def count(self) -> int:
        return len(self.band_values) or 1

    @property
    def descriptions(self) -> list[str]:
        if not self.band_values:
            return [self.label]
        return [f"{self.label} band={_text(v)}" for v in self.band_values]

    def require_selection(self) -> None:
        """400 when a dimension of several values is left open."""
        if not self.open_dims:
            return
        parts = [
            f"'{dim}' ({len(values)} values: {_listing(values)})"
            for dim, values in self.open_dims.items()
        ]
        example = next(iter(self.open_dims))
        first = _text(self.open_dims[example][0])
        raise ParameterError(
            f"Variable '{self.label}' has the dimension(s) {', '.join(parts)} besides y/x: "
            f"choose one value of each with sel, e.g. sel={example}={first} "
            f"(or sel={example}=nearest::{first})"
        )

    def select(self, array):
        """The DataArray reduced to (y, x) or (band, y, x) by ``sel`` (lazy)."""
        for dim, (value, method) in self.selection.items():
            array = array.sel({dim: value}, method=method)
        for dim in self.singletons:
            array = array.isel({dim: 0})
        return array


def parse_sel(sel: Sequence[str] | None) -> dict[str, tuple[str, str | None]]:
    """``["time=nearest::2022-01-03"]`` -> ``{"time": ("2022-01-03", "nearest")}``."""
    parsed: dict[str, tuple[str, str | None]] = {}
    for item in sel or []:
        dim, sep, value = item.partition("=")
        dim, value = dim.strip(), value.strip()
        method = None
        if "::" in value:
            method, _, value = value.partition("::")
        if not sep or not dim or not value or (method is not None and method not in SEL_METHODS):
            raise ParameterError(
                f"Invalid sel '{item}': expected '{{dimension}}={{value}}' or "
                f"'{{dimension}}={{method}}::{{value}}' with method one of {', '.join(SEL_METHODS)}"
            )
        if dim in parsed:
            raise ParameterError(f"sel names the dimension '{dim}' twice: give one value")
        parsed[dim] = (value, method)
    return parsed


def _choose(dim: str, value: str, method: str | None, coordinate: numpy.ndarray):
    """The coordinate's own value that ``sel`` names, on sorted or unsorted axes (a miss is a
    clear 400): see :mod:`selection`."""
    return selection.choose(dim, value, method, coordinate)


def radar_error(product: Product, label: str, path: str, name: str) -> VariableError:
    array = product._arrays[path][name]
    dims = ", ".join(array.attrs.get("_ARRAY_DIMENSIONS", ()) or ())
    held = ", ".join(f"/{p}:{n}" for p, n in product.unmapped_measurements())
    return VariableError(
        f"'{label}' cannot be tiled: it is in radar geometry (dimensions {dims}), with no map "
        f"grid or CRS; it needs geocoding (terrain correction from its ground control points) "
        f"first. {product.location.label} holds no map-grid variables, only radar measurements: "
        f"{held}"
    )


def resolve_bands(
    product: Product, variables: Sequence[str] | None, sel: Sequence[str] | None = None
) -> list[Band]:
    """Map ``variables`` (and ``sel``) to bands; 400 listing what exists when one is unknown."""
    if not variables:
        raise VariableError(
            "The 'variables' query parameter is required (repeat it for several bands, "
            "in band order). Available variables: " + ", ".join(product.available_variables())
        )
    if len(variables) > MAX_BANDS:
        raise VariableError(f"At most {MAX_BANDS} variables per request (got {len(variables)})")
    selection = parse_sel(sel)
    unmapped = product.unmapped_measurements()
    bands, used = [], set()
    for label in variables:
        group, name = parse_variable(label)
        if (group, name) in unmapped:
            raise radar_error(product, label, group, name)
        pyramid = product.pyramid(group)
        if name not in pyramid.variables:
            raise VariableError(
                f"Unknown variable '{label}' in {product.location.label}. "
                f"Available variables: {', '.join(product.available_variables())}"
            )
        band = _band(product, label, name, pyramid, selection)
        used.update(band.selection)
        bands.append(band)
    unused = [dim for dim in selection if dim not in used]
    if unused:
        dims = sorted({d for b in bands for d in b.coordinates}) or ["none besides y/x"]
        raise ParameterError(
            f"sel names {', '.join(repr(d) for d in unused)}, not a dimension of the requested "
            f"variables (their other dimensions: {', '.join(dims)})"
        )
    return bands


def _band(product: Product, label: str, name: str, pyramid: Pyramid, selection) -> Band:
    level = pyramid.levels_with(name)[0]
    array = product.array(level, name)
    dims = product.dims(level, name)
    categorical = is_categorical(array)
    nodata = categorical_nodata(array, level.path) if categorical else math.nan
    extra = dims[:-2]
    coordinates: dict[str, numpy.ndarray] = {}
    if extra:
        data_array = product.dataset(level)[name]
        for dim in extra:
            coordinates[dim] = (
                numpy.asarray(data_array[dim].values)
                if dim in data_array.coords
                else numpy.arange(data_array.sizes[dim])
            )
    chosen, singletons, open_dims, band_values = {}, [], {}, ()
    for dim, values in coordinates.items():
        if dim in selection:
            value, method = selection[dim]
            chosen[dim] = (_choose(dim, value, method, values), None)  # exact value
        elif dim == BAND_DIM and not band_values:
            band_values = tuple(values)
        elif len(values) == 1:
            singletons.append(dim)
        else:
            open_dims[dim] = values
    return Band(
        label,
        name,
        pyramid,
        categorical=categorical,
        nodata=nodata,
        dtype=str(array.dtype) if categorical else "float64",
        dims=dims,
        selection=chosen,
        singletons=tuple(singletons),
        open_dims=open_dims,
        band_values=band_values,
        coordinates={dim: [_text(v) for v in values] for dim, values in coordinates.items()},
    )


def output_nodata(bands: Sequence[Band]):
    """Nodata of the stacked image: shared by all-categorical bands, else NaN (float)."""
    if all(b.categorical for b in bands):
        values = {b.nodata for b in bands}
        if len(values) == 1:
            return values.pop()
    return math.nan


def output_dtype(bands: Sequence[Band]) -> numpy.dtype:
    nodata = output_nodata(bands)
    if all(b.categorical for b in bands) and not (isinstance(nodata, float) and math.isnan(nodata)):
        return numpy.result_type(*[b.dtype for b in bands])
    return numpy.dtype("float64")
