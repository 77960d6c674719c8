"""The numpy reprojection of chunk-wise reads gives what rio-tiler's XarrayReader.part gives.

Same samples, same request, both paths: values (NaN where NaN), mask, nodata, bounds, CRS and
band descriptions must be identical, for the requests the reader makes (tiles, parts in
another CRS, previews in the data's CRS where pixel edges line up), float and integer data,
nodata overrides, nearest and bilinear.
"""

from __future__ import annotations

import morecantile
import numpy
import pytest
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rio_tiler.io.xarray import XarrayReader

from titiler_eopf.tiler.warp import Samples

UTM = CRS.from_epsg(32632)
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
WGS84 = CRS.from_epsg(4326)
# a window of a 10 m level read with decimation factor 3, as windowed.to_samples lays it out
X0, Y0, RES, FACTOR = 600000.0, 5100000.0, 10.0, 3
START = (1234, 567)


def samples(dtype: str, nodata, shape=(3, 380, 420), seed=0) -> Samples:
    rng = numpy.random.default_rng(seed)
    if numpy.dtype(dtype).kind == "f":
        data = rng.random(shape, dtype="float32").astype(dtype)
        data[:, 40:60, 100:180] = numpy.nan  # a masked patch
    else:
        data = rng.integers(1, 200, shape).astype(dtype)
        if nodata is not None:
            data[:, 40:60, 100:180] = nodata
    n_bands, rows, cols = shape
    xs = X0 + (START[1] + numpy.arange(cols) * FACTOR + FACTOR / 2) * RES
    ys = Y0 - (START[0] + numpy.arange(rows) * FACTOR + FACTOR / 2) * RES
    labels = [f"band{i}" for i in range(n_bands)]
    return Samples(data, xs, ys, UTM, nodata, labels)


def tiles_over(s: Samples, z: int) -> list[morecantile.Tile]:
    bounds = transform_bounds(UTM, WGS84, s.xs[0], s.ys[-1], s.xs[-1], s.ys[0])
    return list(WEB_MERCATOR.tiles(*bounds, zooms=[z]))[:6]


def assert_same(fast, slow) -> None:
    assert fast.array.shape == slow.array.shape
    assert fast.array.dtype == slow.array.dtype
    numpy.testing.assert_array_equal(fast.array.data, slow.array.data)  # NaN == NaN here
    numpy.testing.assert_array_equal(numpy.ma.getmaskarray(fast.array), slow.array.mask)
    assert tuple(fast.bounds) == tuple(slow.bounds)
    assert fast.crs == slow.crs
    nodata = (fast.nodata, slow.nodata)
    assert nodata[0] == nodata[1] or all(numpy.isnan(v) for v in nodata)
    assert type(fast.nodata) is type(slow.nodata)
    assert fast.band_descriptions == slow.band_descriptions


def both(s: Samples, bbox, handed_over: bool = False, **kwargs):
    """(numpy path, XarrayReader) for one request; the numpy path must not hand the request
    over to XarrayReader unless ``handed_over``."""
    with XarrayReader(s.to_data_array()) as src:
        slow = src.part(bbox, **kwargs)
    calls = []
    fallback = s._xarray_part
    s._xarray_part = lambda *a, **k: calls.append(1) or fallback(*a, **k)
    fast = s.part(bbox, **kwargs)
    assert bool(calls) == handed_over
    return fast, slow


CASES = [
    ("float32", numpy.nan, {}),
    ("float32", numpy.nan, {"reproject_method": "bilinear"}),
    ("float32", numpy.nan, {"nodata": 0}),
    ("uint16", 0, {}),
    ("uint16", 0, {"reproject_method": "cubic"}),
    ("uint8", None, {}),  # no nodata: rioxarray's default for the dtype (255)
    ("int16", -1, {"nodata": 7}),
]


@pytest.mark.parametrize("dtype,nodata,options", CASES)
@pytest.mark.parametrize("z", [11, 12, 14])
def test_tiles_match_xarray_reader(dtype, nodata, options, z):
    s = samples(dtype, nodata)
    tiles = tiles_over(s, z)
    assert tiles
    for tile in tiles:
        bbox = WEB_MERCATOR.xy_bounds(tile)
        fast, slow = both(
            s,
            bbox,
            dst_crs=WEB_MERCATOR.rasterio_crs,
            bounds_crs=WEB_MERCATOR.rasterio_crs,
            height=256,
            width=256,
            **options,
        )
        assert_same(fast, slow)


@pytest.mark.parametrize("dtype,nodata,options", CASES[:4])
def test_parts_and_previews_match_xarray_reader(dtype, nodata, options):
    s = samples(dtype, nodata)
    inner = (s.xs[30], s.ys[300], s.xs[333], s.ys[17])  # minx, miny, maxx, maxy (UTM)
    lonlat = transform_bounds(UTM, WGS84, *inner)
    requests = [
        (lonlat, {"dst_crs": WEB_MERCATOR.rasterio_crs, "bounds_crs": WGS84, "max_size": 300}),
        (lonlat, {"dst_crs": WGS84, "bounds_crs": WGS84, "height": 120, "width": 200}),
        # previews: the data's own CRS, output pixels a whole number of sample pixels
        (inner, {"dst_crs": UTM, "bounds_crs": UTM, "max_size": 101}),
        (inner, {"dst_crs": UTM, "bounds_crs": UTM}),
    ]
    for bbox, kwargs in requests:
        fast, slow = both(s, bbox, **kwargs, **options)
        assert_same(fast, slow)


def test_one_row_window_goes_through_xarray_reader():
    # a box one sample high: rioxarray widens it (auto_expand); the numpy path hands it over
    s = samples("float32", numpy.nan)
    y = s.ys[100]
    bbox = (s.xs[10], y - 1, s.xs[200], y + 1)
    fast, slow = both(s, bbox, True, dst_crs=UTM, bounds_crs=UTM, height=4, width=64)
    assert_same(fast, slow)


def test_tile_matrix_sets_are_shared_not_copied():
    """The routes' registry answers one object per identifier (morecantile's deep-copies it
    on every request, and the copy recomputes its CRS): equal to morecantile's, and an
    unknown identifier is refused as morecantile refuses it."""
    import morecantile
    from morecantile.errors import InvalidIdentifier

    from titiler_eopf.tiler.matrix_sets import shared_tile_matrix_sets

    shared = shared_tile_matrix_sets()
    assert shared.list() == morecantile.tms.list()
    first = shared.get("WebMercatorQuad")
    assert shared.get("WebMercatorQuad") is first
    assert first == morecantile.tms.get("WebMercatorQuad")
    assert first.rasterio_crs == morecantile.tms.get("WebMercatorQuad").rasterio_crs
    with pytest.raises(InvalidIdentifier):
        shared.get("NoSuchMatrixSet")
