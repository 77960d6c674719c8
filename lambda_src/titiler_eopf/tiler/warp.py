"""Reprojection of the in-memory samples of a chunk-wise read, without xarray.

A chunk-wise read (:mod:`titiler_eopf.tiler.windowed`) ends with a small numpy stack of
decoded samples on a regular grid. rio-tiler's ``XarrayReader.part`` would reproject it, but
through an xarray DataArray and rioxarray: ~100 xarray selections and copies to learn bounds and
resolutions it could compute, which cost a cached tile more CPU than the warp itself (profiled:
~70 % of the CPU of a native neighbour tile whose blocks were all in the chunk cache).

:class:`Samples` does what ``XarrayReader.part`` does, step by step and with the same float
arithmetic (rioxarray derives the grid from the coordinates: resolution = span / (n - 1),
origin = first centre - half a pixel; the clip keeps every pixel touching the box), then the
same ``rasterio.warp.reproject`` call: the output is the same array, mask, nodata and bounds
(tests compare both paths). The few cases it does not reproduce (a window of one row or
column, which rioxarray expands; geographic grids warped to Web Mercator, which rio-tiler
crops; dtypes without a default nodata) go through ``XarrayReader`` as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy
from affine import Affine
from rasterio import windows
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import WindowError
from rasterio.transform import from_bounds
from rasterio.warp import calculate_default_transform, reproject, transform_bounds
from rio_tiler.constants import MAX_ARRAY_SIZE, WGS84_CRS
from rio_tiler.errors import MaxArraySizeError
from rio_tiler.models import ImageData
from rio_tiler.utils import output_size

# rioxarray's default destination nodata per dtype when the source declares none
_DEFAULT_NODATA = {
    "uint8": 255,
    "uint16": 65535,
    "int16": -32768,
    "uint32": 4294967295,
    "int32": -2147483648,
    "float32": numpy.nan,
    "float64": numpy.nan,
}


def _typed(value, dtype: numpy.dtype):
    """A nodata as rioxarray stores it: a scalar of the data's dtype."""
    if not numpy.issubdtype(type(value), numpy.integer):
        value = float(value)
    return dtype.type(value)


@dataclass
class Samples:
    """Decoded samples of one level's bands, (band, y, x), on a regular grid.

    ``xs``/``ys``: the pixel centres (float64, as the DataArray's coordinates would hold them).
    """

    data: numpy.ndarray
    xs: numpy.ndarray
    ys: numpy.ndarray
    crs: CRS
    nodata: Any
    labels: list[str]

    def to_data_array(self):
        """The samples as the DataArray rio-tiler's XarrayReader reads (the fallback)."""
        import rioxarray  # noqa: F401 - .rio accessor
        import xarray

        array = xarray.DataArray(
            self.data,
            dims=("band", "y", "x"),
            coords={"band": list(self.labels), "y": self.ys, "x": self.xs},
        )
        return array.rio.write_crs(self.crs).rio.write_nodata(self.nodata)

    # -- the grid as rioxarray computes it from the coordinates --------------------------------
    @staticmethod
    def _transform(xs: numpy.ndarray, ys: numpy.ndarray) -> Affine:
        """rioxarray's ``transform(recalc=True)``: from the first and last centres."""
        left, right = float(xs[0]), float(xs[-1])
        top, bottom = float(ys[0]), float(ys[-1])
        res_x = (right - left) / (len(xs) - 1)
        res_y = (bottom - top) / (len(ys) - 1)
        return Affine.translation(left - res_x / 2.0, top - res_y / 2.0) * Affine.scale(
            res_x, res_y
        )

    def _supported(self, dst_crs: CRS) -> bool:
        dtype = self.data.dtype
        return (
            len(self.xs) > 1
            and len(self.ys) > 1
            and self.data.ndim == 3
            and not (self.crs == WGS84_CRS and dst_crs != self.crs)
            and (self.nodata is not None or dtype.name in _DEFAULT_NODATA)
        )

    def _clip(self, bbox, bounds_crs: CRS):
        """rioxarray's ``clip_box``: the pixels touching ``bbox``, or None when rioxarray would
        expand the box (a window of at most one row or column)."""
        minx, miny, maxx, maxy = bbox
        if bounds_crs is not None and bounds_crs != self.crs:  # None: the data's CRS
            minx, miny, maxx, maxy = transform_bounds(bounds_crs, self.crs, minx, miny, maxx, maxy)
        transform = self._transform(self.xs, self.ys)
        # bounds ordered as rioxarray orders them (y resolution negative: top = maxy)
        left, right = (minx, maxx) if transform.a >= 0 else (maxx, minx)
        top, bottom = (maxy, miny) if transform.e < 0 else (miny, maxy)
        try:
            window = windows.from_bounds(left, bottom, right, top, transform=transform)
        except WindowError:
            return None
        (row0, row1), (col0, col1) = window.toranges()
        row0 = 0 if row0 < 0 else math.floor(row0)
        row1 = 0 if row1 < 0 else math.ceil(row1)
        col0 = 0 if col0 < 0 else math.floor(col0)
        col1 = 0 if col1 < 0 else math.ceil(col1)
        rows, cols = slice(int(row0), int(row1)), slice(int(col0), int(col1))
        xs, ys = self.xs[cols], self.ys[rows]
        if len(xs) <= 1 or len(ys) <= 1:
            return None
        return self.data[:, rows, cols], xs, ys

    # -- XarrayReader.part, on numpy -----------------------------------------------------------
    def part(
        self,
        bbox,
        dst_crs: CRS | None = None,
        bounds_crs: CRS = WGS84_CRS,
        reproject_method: str = "nearest",
        auto_expand: bool = True,
        nodata=None,
        indexes=None,
        max_size: int | None = None,
        height: int | None = None,
        width: int | None = None,
        out_dtype=None,
        **kwargs: Any,
    ) -> ImageData:
        dst_crs = dst_crs or bounds_crs
        clipped = (
            self._clip(bbox, bounds_crs)
            if self._supported(dst_crs) and indexes is None and auto_expand
            else None
        )
        if clipped is None:
            return self._xarray_part(
                bbox,
                dst_crs=dst_crs,
                bounds_crs=bounds_crs,
                reproject_method=reproject_method,
                auto_expand=auto_expand,
                nodata=nodata,
                indexes=indexes,
                max_size=max_size,
                height=height,
                width=width,
                out_dtype=out_dtype,
                **kwargs,
            )
        data, xs, ys = clipped
        if data.nbytes > MAX_ARRAY_SIZE:
            raise MaxArraySizeError(
                f"Maximum array limit {MAX_ARRAY_SIZE} reached, trying to put DataArray of "
                f"{data.shape} in memory."
            )
        dtype = data.dtype
        declared = nodata if nodata is not None else self.nodata
        src_nodata = _typed(declared, dtype) if declared is not None else None
        dst_nodata = src_nodata if src_nodata is not None else _DEFAULT_NODATA[dtype.name]

        # the clipped array's bounds as rio-tiler reads them (rioxarray recomputes the grid of
        # the clipped coordinates)
        src_transform = self._transform(xs, ys)
        res_x, res_y = src_transform.a, src_transform.e
        src_height, src_width = data.shape[-2:]
        left, right = float(xs[0]) - res_x / 2.0, float(xs[-1]) + res_x / 2.0
        top, bottom = float(ys[0]) - res_y / 2.0, float(ys[-1]) + res_y / 2.0
        src_bounds = [left, bottom, right, top]
        if dst_crs != self.crs:
            dst_transform, _, _ = calculate_default_transform(
                self.crs, dst_crs, src_width, src_height, *src_bounds
            )
        else:
            dst_transform = from_bounds(*src_bounds, src_width, src_height)
        if bounds_crs and bounds_crs != dst_crs:
            bbox = transform_bounds(bounds_crs, dst_crs, *bbox, densify_pts=21)
        w, s, e, n = bbox
        height, width = output_size(
            dataset_height=max(1, round((s - n) / dst_transform.e)),
            dataset_width=max(1, round((e - w) / dst_transform.a)),
            output_height=height,
            output_width=width,
            max_size=max_size,
        )
        out = numpy.zeros((data.shape[0], height, width), dtype=dtype.type)
        reproject(
            source=data,
            destination=out,
            src_transform=src_transform,
            src_crs=self.crs,
            src_nodata=src_nodata,
            dst_transform=from_bounds(w, s, e, n, width, height),
            dst_crs=dst_crs,
            dst_nodata=dst_nodata,
            resampling=Resampling[reproject_method],
        )
        result_nodata = _typed(dst_nodata, dtype)
        mask = numpy.isnan(out) if dtype.kind == "f" else numpy.zeros(out.shape, dtype=bool)
        mask |= out == result_nodata
        array = numpy.ma.MaskedArray(out, mask=mask)
        if out_dtype:
            array = array.astype(out_dtype)
        return ImageData(
            array,
            bounds=bbox,
            crs=CRS.from_user_input(dst_crs),
            band_descriptions=[str(label) for label in self.labels],
            nodata=result_nodata,
        )

    def _xarray_part(self, bbox, **kwargs) -> ImageData:
        from rio_tiler.io.xarray import XarrayReader

        with XarrayReader(self.to_data_array()) as src:
            return src.part(bbox, **kwargs)
