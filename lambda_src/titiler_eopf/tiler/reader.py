"""rio-tiler reader for EOPF products: bands from ``variables``, level per request.

The reader resolves each requested variable to a pyramid, picks for every
request the coarsest level that is still fine enough for the output (per
variable, since a band can be missing from a level), reads the bands of one
level together through rio-tiler's ``XarrayReader`` and stacks them back in the
requested order. ``indexes`` (bidx) and ``expression`` then apply to that stack
(bands named b1..bN in ``variables`` order; a multi-band array such as the quicklook
``tci`` gives one band per value of its ``band`` dimension, see :mod:`bands`).

Class and mask data (integer, unscaled) keep their values and are always resampled by
nearest: class codes are never averaged.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import attr
import numpy
import xarray
from morecantile import Tile, TileMatrixSet
from rasterio.crs import CRS
from rasterio.warp import transform as transform_coords
from rasterio.warp import transform_bounds
from rio_tiler.constants import WEB_MERCATOR_TMS, WGS84_CRS
from rio_tiler.errors import PointOutsideBounds, TileOutsideBounds
from rio_tiler.io.base import BaseReader
from rio_tiler.io.xarray import XarrayReader
from rio_tiler.models import BandStatistics, ImageData, Info, PointData
from rio_tiler.types import BBox, Indexes

from titiler_eopf.tiler import budget, windowed
from titiler_eopf.tiler.bands import MAX_BANDS, Band, output_dtype, output_nodata, resolve_bands
from titiler_eopf.tiler.errors import ParameterError, reading
from titiler_eopf.tiler.product import BAND_DIM, Level, Product, Pyramid

logger = logging.getLogger(__name__)

__all__ = ["MAX_BANDS", "Band", "EOPFReader", "resolve_bands"]


@attr.s
class EOPFReader(BaseReader):
    """Read tiles, parts, previews and points of the bands of an EOPF product."""

    input: Product = attr.ib()
    variables: list[str] | None = attr.ib(default=None)
    sel: list[str] | None = attr.ib(default=None)
    tms: TileMatrixSet = attr.ib(default=WEB_MERCATOR_TMS)

    bands: list[Band] = attr.ib(init=False)

    def __attrs_post_init__(self):
        self.bands = resolve_bands(self.input, self.variables, self.sel)
        self.nodata = output_nodata(self.bands)
        # output band position of the first band of each variable
        self._offsets = [sum(b.count for b in self.bands[:i]) for i in range(len(self.bands))]
        self.count = sum(b.count for b in self.bands)
        finest = self.reference.levels[0]
        self.crs = finest.crs
        self.bounds = finest.bounds
        height, width = finest.shape
        minx, miny, maxx, maxy = finest.bounds
        from affine import Affine

        self.transform = Affine((maxx - minx) / width, 0, minx, 0, -(maxy - miny) / height, maxy)
        self.height, self.width = height, width

    @property
    def reference(self) -> Pyramid:
        return self.bands[0].pyramid

    @property
    def minzoom(self) -> int:
        """The dataset's minzoom, raised to the first zoom whose tiles fit the read budget."""
        return self._budget_minzoom

    @functools.cached_property
    def _budget_minzoom(self) -> int:
        for z in range(self._minzoom, self._maxzoom + 1):
            if self._tile_cost(z, worst_case=True).fits(self._limits):
                return z
        return self._maxzoom

    @property
    def _limits(self) -> budget.ReadLimits:
        return self.input.read_limits

    def _tile_cost(
        self, z: int, lonlat: tuple[float, float] | None = None, worst_case: bool = False
    ) -> budget.Cost:
        """What a tile at zoom ``z`` (over the product's centre by default) would read; with
        ``worst_case``, a tile of that zoom anywhere on the product."""
        if lonlat is None:
            minx, miny, maxx, maxy = self.bounds
            (lon,), (lat,) = transform_coords(
                self.crs, self.tms.geographic_crs, [(minx + maxx) / 2], [(miny + maxy) / 2]
            )
            lonlat = (lon, lat)
        tile = self.tms.tile(*lonlat, z)
        bounds, width, height, target = self._tile_geometry(tile.x, tile.y, tile.z, None)
        plan = self._plan(target)
        window = (bounds, self.tms.rasterio_crs)
        reads = self._plan_reads(plan, window, target)
        return self._cost(plan, reads, window, target, worst_case)

    def _plan_reads(self, plan, window, target) -> dict[int, list | None]:
        """Chunk plans of every level of a request (metadata only: nothing is read)."""
        return {
            key: windowed.plan_level(
                self.input, level, [self.bands[i].name for i in band_indexes], *window, target
            )
            for key, (level, band_indexes) in plan.items()
        }

    def _cost(self, plan, reads, window, target, worst_case: bool = False) -> budget.Cost:
        """What the request decodes: chunk-wise reads as planned, and for the levels read
        lazily (multi-band, extra dimensions, lat/lon grids) the whole chunks they touch."""
        plans = [p for level_plans in reads.values() if level_plans for p in level_plans]
        for key, (level, band_indexes) in plan.items():
            if reads[key] is None:
                plans += windowed.plan_level(
                    self.input,
                    level,
                    [self.bands[i].name for i in band_indexes],
                    *window,
                    target,
                    cost_only=True,
                    selected=[
                        (*self.bands[i].selection, *self.bands[i].singletons) for i in band_indexes
                    ],
                )
        return budget.cost_of(plans, worst_case)

    @property
    def maxzoom(self) -> int:
        return self._maxzoom

    # -- level choice -----------------------------------------------------------
    def _plan(self, target_resolution: float | None) -> dict[int, tuple[Level, list[int]]]:
        """Group band indexes by the level each one is read from."""
        plan: dict[int, tuple[Level, list[int]]] = {}
        for index, band in enumerate(self.bands):
            level = band.pyramid.level_for(band.name, target_resolution)
            plan.setdefault(id(level), (level, []))[1].append(index)
        return plan

    def chosen_levels(self, target_resolution: float | None) -> list[str]:
        """Level name of every band for a target resolution (for headers and tests)."""
        return [b.pyramid.level_for(b.name, target_resolution).name for b in self.bands]

    def _tile_geometry(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None):
        matrix = self.tms.matrix(tile_z)
        width = tilesize or matrix.tileWidth
        height = tilesize or matrix.tileHeight
        bounds = self.tms.xy_bounds(Tile(x=tile_x, y=tile_y, z=tile_z))
        target = self._target_resolution(bounds, self.tms.rasterio_crs, width, height)
        return bounds, width, height, target

    def tile_levels(
        self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None
    ) -> list[str]:
        """The level each band of this tile is read from."""
        return self.chosen_levels(self._tile_geometry(tile_x, tile_y, tile_z, tilesize)[3])

    def _target_resolution(self, bounds: BBox, bounds_crs: CRS, width: int, height: int) -> float:
        """Output pixel size expressed in the dataset CRS."""
        if bounds_crs != self.crs:
            bounds = transform_bounds(bounds_crs, self.crs, *bounds, densify_pts=21)
        minx, miny, maxx, maxy = bounds
        return min(abs(maxx - minx) / width, abs(maxy - miny) / height)

    def _positions(self, band_indexes: list[int]) -> list[int]:
        """Output band positions of some of the requested variables."""
        return [self._offsets[i] + k for i in band_indexes for k in range(self.bands[i].count)]

    def _descriptions(self, band_indexes: list[int]) -> list[str]:
        return [d for i in band_indexes for d in self.bands[i].descriptions]

    @property
    def _float_output(self) -> bool:
        return isinstance(self.nodata, float) and math.isnan(self.nodata)

    def _data_array(
        self, level: Level, band_indexes: list[int], bbox: BBox, bbox_crs: CRS
    ) -> xarray.DataArray:
        """The bands of one level, cut to ``bbox`` *before* they are stacked.

        Stacking (xarray.concat) reads whole arrays; cutting first (lazy
        slicing) keeps a read to the window the output needs.
        """
        dataset = self.input.dataset(level)
        pieces = []
        for i in band_indexes:
            band = self.bands[i]
            piece = band.select(dataset[band.name])
            piece = piece.rio.clip_box(*bbox, crs=bbox_crs, auto_expand=True)
            if piece.ndim == 2:
                piece = piece.expand_dims(BAND_DIM)
            elif piece.dims[0] != BAND_DIM:
                piece = piece.rename({piece.dims[0]: BAND_DIM})
            piece = piece.drop_vars([c for c in piece.coords if c not in ("x", "y")])
            if band.categorical and self._float_output:  # mixed with float bands
                piece = piece.astype("float64")
                if band.nodata is not None:
                    piece = piece.where(piece != band.nodata)
            pieces.append(piece)
        array = (
            pieces[0] if len(pieces) == 1 else xarray.concat(pieces, dim=BAND_DIM, join="override")
        )
        array = array.assign_coords({BAND_DIM: self._descriptions(band_indexes)})
        array.attrs = {}
        array = array.rio.write_crs(level.crs).rio.write_nodata(self.nodata)
        return array

    def _options(self, kwargs: dict) -> dict:
        options = _reader_options(kwargs)
        if options.get("nodata") is not None:
            self._check_nodata(options["nodata"])
        if any(b.categorical for b in self.bands):
            # class codes are never averaged, whatever was asked for
            options["reproject_method"] = "nearest"
            options["resampling_method"] = "nearest"
        return options

    def _check_nodata(self, nodata) -> None:
        """A client's nodata must be a value of the data it masks (400 before reading): an
        integer in range for integer data; nan, inf or a number in range for float data (the
        warp refuses a nodata its output dtype cannot hold)."""
        dtype = output_dtype(self.bands)
        value = float(nodata)
        if dtype.kind == "f":
            # the stacked data keep their float32 (GeoZarr, decoded native, codecs), which the
            # warp writes the nodata into: bound by float32 whatever the nominal output dtype
            dtype = numpy.dtype("float32")
            fits = not math.isfinite(value) or abs(value) <= float(numpy.finfo(dtype).max)
        elif dtype.kind in "iub":
            info = numpy.iinfo(dtype) if dtype.kind != "b" else numpy.iinfo(numpy.uint8)
            fits = math.isfinite(value) and value.is_integer() and info.min <= value <= info.max
        else:
            return
        if not fits:
            raise ParameterError(
                f"The nodata value does not fit the data of {self.input.location.label}: "
                f"{nodata} is not a {dtype} value"
            )

    def _read(
        self,
        target_resolution: float | None,
        window: tuple[BBox, CRS],
        read: Any,
        indexes: Indexes | None,
        expression: str | None,
    ) -> ImageData:
        for band in self.bands:
            band.require_selection()
        images: list[tuple[list[int], ImageData]] = []
        plan = self._plan(target_resolution)
        reads = self._plan_reads(plan, window, target_resolution)
        cost = self._cost(plan, reads, window, target_resolution)
        budget.check(cost, self._limits, "This request")
        for key, (level, band_indexes) in plan.items():
            with reading(self.input.location, level.path):
                if reads[key] is not None:  # chunk by chunk, reduced as it goes
                    samples = windowed.read_level(
                        self.input,
                        level,
                        [self.bands[i].name for i in band_indexes],
                        [self.bands[i].label for i in band_indexes],
                        reads[key],
                        raw=[self.bands[i].categorical for i in band_indexes],
                        nodatas=[self.bands[i].nodata for i in band_indexes],
                        nodata=self.nodata,
                    )
                    # reprojected as XarrayReader.part would, without xarray (see warp)
                    images.append((self._positions(band_indexes), read(samples)))
                    continue
                array = self._data_array(level, band_indexes, *window)
                with XarrayReader(array, tms=self.tms) as src:
                    images.append((self._positions(band_indexes), read(src)))
        image = _stack(images, self.count)
        image.band_descriptions = self._descriptions(list(range(len(self.bands))))
        return _select(image, indexes, expression)

    # -- BaseReader API ------------------------------------------------------------
    def tile(
        self,
        tile_x: int,
        tile_y: int,
        tile_z: int,
        tilesize: int | None = None,
        indexes: Indexes | None = None,
        expression: str | None = None,
        **kwargs: Any,
    ) -> ImageData:
        if not self.tile_exists(tile_x, tile_y, tile_z):
            raise TileOutsideBounds(
                f"Tile {tile_z}/{tile_x}/{tile_y} is outside the bounds of "
                f"{self.input.location.label}"
            )
        bounds, width, height, target = self._tile_geometry(tile_x, tile_y, tile_z, tilesize)
        kwargs = self._options(kwargs)
        try:
            return self._tile_read(bounds, width, height, target, indexes, expression, kwargs)
        except budget.ReadBudgetError as error:
            advice = self._zoom_advice(tile_x, tile_y, tile_z)
            raise budget.ReadBudgetError(f"{error}. {advice}") from None

    def _zoom_advice(self, tile_x: int, tile_y: int, tile_z: int) -> str:
        """Name the smallest zoom at which tiles here (and over the product's centre) fit."""
        centre = self.tms.ul(2 * tile_x + 1, 2 * tile_y + 1, tile_z + 1)  # the tile's centre
        for z in range(max(tile_z + 1, self.minzoom), self._maxzoom + 1):
            if self._tile_cost(z, (centre.x, centre.y), worst_case=True).fits(self._limits):
                return f"Tiles of these variables fit from zoom {z}"
        return "No zoom fits: request fewer variables"

    def _tile_read(self, bounds, width, height, target, indexes, expression, kwargs):
        return self._read(
            target,
            (bounds, self.tms.rasterio_crs),
            lambda src: src.part(
                bounds,
                dst_crs=self.tms.rasterio_crs,
                bounds_crs=self.tms.rasterio_crs,
                height=height,
                width=width,
                **kwargs,
            ),
            indexes,
            expression,
        )

    def part(
        self,
        bbox: BBox,
        dst_crs: CRS | None = None,
        bounds_crs: CRS = WGS84_CRS,
        max_size: int | None = None,
        height: int | None = None,
        width: int | None = None,
        indexes: Indexes | None = None,
        expression: str | None = None,
        **kwargs: Any,
    ) -> ImageData:
        dst_crs = dst_crs or bounds_crs
        native = self._native_size(bbox, bounds_crs)
        height, width = _output_size(native, height, width, max_size)
        budget.check_output(self.count, height, width, self._limits.max_output_pixels)
        target = self._target_resolution(bbox, bounds_crs, width, height)
        kwargs = self._options(kwargs)
        return self._read(
            target,
            (bbox, bounds_crs),
            lambda src: src.part(
                bbox,
                dst_crs=dst_crs,
                bounds_crs=bounds_crs,
                height=height,
                width=width,
                **kwargs,
            ),
            indexes,
            expression,
        )

    def preview(
        self,
        max_size: int | None = 1024,
        height: int | None = None,
        width: int | None = None,
        dst_crs: CRS | None = None,
        indexes: Indexes | None = None,
        expression: str | None = None,
        **kwargs: Any,
    ) -> ImageData:
        return self.part(
            self.bounds,
            dst_crs=dst_crs or self.crs,
            bounds_crs=self.crs,
            max_size=max_size,
            height=height,
            width=width,
            indexes=indexes,
            expression=expression,
            **kwargs,
        )

    def point(
        self,
        lon: float,
        lat: float,
        coord_crs: CRS = WGS84_CRS,
        indexes: Indexes | None = None,
        expression: str | None = None,
        **kwargs: Any,
    ) -> PointData:
        (x,), (y,) = transform_coords(coord_crs, self.crs, [lon], [lat])
        minx, miny, maxx, maxy = self.bounds
        if not (minx < x < maxx and miny < y < maxy):
            raise PointOutsideBounds(
                f"Point ({lon}, {lat}) is outside the bounds of {self.input.location.label}"
            )
        for band in self.bands:
            band.require_selection()
        kwargs = self._options(kwargs)
        ordered: list[numpy.ma.MaskedArray | None] = [None] * self.count
        point = None
        for level, band_indexes in self._plan(None).values():
            # a window of a few pixels around the point: only that is read
            pad = 2 * level.resolution
            window = ((x - pad, y - pad, x + pad, y + pad), self.crs)
            with reading(self.input.location, level.path):
                array = self._data_array(level, band_indexes, *window)
                with XarrayReader(array, tms=self.tms) as src:
                    point = src.point(lon, lat, coord_crs=coord_crs, **kwargs)
            for k, position in enumerate(self._positions(band_indexes)):
                ordered[position] = point.array[k : k + 1]
        values = numpy.ma.concatenate(ordered)
        names = [f"b{i + 1}" for i in range(self.count)]
        descriptions = self._descriptions(list(range(len(self.bands))))
        result = PointData(
            values,
            coordinates=point.coordinates,
            crs=point.crs,
            band_names=names,
            band_descriptions=descriptions,
        )
        if expression:
            return result.apply_expression(expression)
        if indexes:
            idx = _check_indexes(indexes, self.count)
            return PointData(
                values[[i - 1 for i in idx]],
                coordinates=point.coordinates,
                crs=point.crs,
                band_names=[f"b{i}" for i in idx],
                band_descriptions=[descriptions[i - 1] for i in idx],
            )
        return result

    def statistics(self, max_size: int = 1024, **kwargs: Any) -> dict[str, BandStatistics]:
        image = self.preview(max_size=max_size, **kwargs)
        return image.statistics()

    def feature(
        self,
        shape: dict,
        dst_crs: CRS | None = None,
        shape_crs: CRS = WGS84_CRS,
        **kwargs: Any,
    ) -> ImageData:
        """The bbox of a GeoJSON geometry, masked outside the geometry."""
        from rasterio.features import bounds as feature_bounds
        from rasterio.features import rasterize
        from rasterio.warp import transform_geom

        geometry = shape.get("geometry", shape) if shape.get("type") == "Feature" else shape
        dst_crs = dst_crs or shape_crs
        image = self.part(feature_bounds(geometry), dst_crs=dst_crs, bounds_crs=shape_crs, **kwargs)
        if dst_crs != shape_crs:
            geometry = transform_geom(shape_crs, dst_crs, geometry)
        outside = rasterize(
            [geometry],
            out_shape=(image.height, image.width),
            transform=image.transform,
            all_touched=True,
            default_value=0,
            fill=1,
            dtype="uint8",
        ).astype(bool)
        image.cutline_mask = outside
        image.array.mask = numpy.where(~outside, numpy.ma.getmaskarray(image.array), True)
        return image

    def info(self) -> Info:
        first = self.bands[0]
        descriptions = self._descriptions(list(range(len(self.bands))))
        nodata = None if self._float_output else self.nodata
        extra = {}
        dimensions = {
            b.label: {"dims": list(b.dims), **b.coordinates} for b in self.bands if b.coordinates
        }
        if dimensions:  # names and values of every dimension besides y/x (sel picks one)
            extra["dimensions"] = dimensions
        return Info(
            bounds=self.bounds,
            crs=f"http://www.opengis.net/def/crs/EPSG/0/{self.crs.to_epsg()}"
            if self.crs.to_epsg()
            else self.crs.to_wkt(),
            band_metadata=[(f"b{i + 1}", {}) for i in range(self.count)],
            band_descriptions=[(f"b{i + 1}", d) for i, d in enumerate(descriptions)],
            dtype=str(output_dtype(self.bands))
            if not self._float_output
            else str(
                self.input.dataset(first.pyramid.levels_with(first.name)[0])[first.name].dtype
            ),
            nodata_type="Nodata" if (self._float_output or nodata is not None) else "None",
            nodata_value=nodata,  # NaN (float data) is left out, as before
            count=self.count,
            width=self.width,
            height=self.height,
            minzoom=self.minzoom,
            maxzoom=self.maxzoom,
            variables=[b.label for b in self.bands],
            categorical=[b.label for b in self.bands if b.categorical],
            **extra,
            levels=[
                {
                    "name": level.name,
                    "resolution": level.resolution,
                    "shape": list(level.shape),
                    "variables": [b.label for b in self.bands if b.name in level.variables],
                }
                for level in first.pyramid.levels
            ],
        )

    def _native_size(self, bbox: BBox, bounds_crs: CRS) -> tuple[int, int]:
        """Pixel size of ``bbox`` at the finest resolution of the first band."""
        bounds = bbox
        if bounds_crs != self.crs:
            bounds = transform_bounds(bounds_crs, self.crs, *bbox, densify_pts=21)
        resolution = self.reference.levels_with(self.bands[0].name)[0].resolution
        width = max(1, math.ceil(abs(bounds[2] - bounds[0]) / resolution))
        height = max(1, math.ceil(abs(bounds[3] - bounds[1]) / resolution))
        return height, width


def _reader_options(kwargs: dict) -> dict:
    """Options forwarded to XarrayReader.part/point (nodata, reprojection method)."""
    options: dict[str, Any] = {}
    if kwargs.get("nodata") is not None:
        options["nodata"] = kwargs["nodata"]
    method = kwargs.get("reproject_method") or kwargs.get("resampling_method")
    if method:
        options["reproject_method"] = method
    return options


def _output_size(
    native: tuple[int, int], height: int | None, width: int | None, max_size: int | None
) -> tuple[int, int]:
    native_h, native_w = native
    if height and width:
        return height, width
    if height:
        return height, max(1, round(native_w * height / native_h))
    if width:
        return max(1, round(native_h * width / native_w)), width
    if max_size and max(native) > max_size:
        ratio = max_size / max(native)
        return max(1, round(native_h * ratio)), max(1, round(native_w * ratio))
    return native_h, native_w


def _stack(images: list[tuple[list[int], ImageData]], count: int) -> ImageData:
    """Images of several levels back in output band order (positions per image)."""
    if len(images) == 1 and images[0][0] == list(range(count)):
        return images[0][1]
    first = images[0][1]
    dtype = numpy.result_type(*[image.array.dtype for _, image in images])
    data = numpy.ma.masked_all((count, first.height, first.width), dtype=dtype)
    for band_indexes, image in images:
        data[band_indexes] = image.array  # values and mask
    return ImageData(data, bounds=first.bounds, crs=first.crs, nodata=first.nodata)


def _check_indexes(indexes: Indexes, count: int) -> list[int]:
    idx = [indexes] if isinstance(indexes, int) else list(indexes)
    bad = [i for i in idx if not 1 <= i <= count]
    if bad:
        raise ParameterError(
            f"Invalid bidx {bad}: this request has {count} band(s) (one per 'variables', "
            "one per band of a multi-band variable), "
            f"so bidx must be between 1 and {count}"
        )
    return idx


def _select(image: ImageData, indexes: Indexes | None, expression: str | None) -> ImageData:
    if expression:
        return image.apply_expression(expression)
    if indexes:
        idx = _check_indexes(indexes, image.count)
        descriptions = image.band_descriptions
        selected = ImageData(
            image.array[[i - 1 for i in idx]],
            bounds=image.bounds,
            crs=image.crs,
            nodata=image.nodata,
        )
        selected.band_descriptions = [descriptions[i - 1] for i in idx]
        return selected
    return image
