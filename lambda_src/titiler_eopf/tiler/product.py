"""An opened EOPF product: its pyramids, their levels and variables.

Both layouts are read as *pyramids*: a group whose child groups hold the same
variables at several resolutions.

- Native ESA layout (zarr v2): ``measurements/reflectance`` has ``r10m``,
  ``r20m``, ``r60m`` children; not every band is in every level (b08 only at r10m).
- GeoZarr (zarr v3): ``measurements/reflectance`` carries a ``multiscales.layout``
  listing its levels ``r10m`` ... ``r720m``.

A variable is addressed as ``{group}:{name}``; ``group`` is either the pyramid
(``/measurements/reflectance:b04``, level chosen per request) or one level of it
(``/measurements/reflectance/r20m:b04``, a one-level pyramid).

Besides pyramids, every other group holding map-grid variables is listed as it is
(``/conditions/geometry:sun_angles``, ``/measurements/time_series:ndvi``). Products
without any map grid (Sentinel-1 GRD, in radar geometry) list their measurement
arrays, which the reader refuses with a message saying why.

Integer variables without CF scaling (classes, masks, quicklooks) are read as
they are (see :func:`is_categorical`), with the array's own fill value as nodata.

Only metadata is read when a product is opened (consolidated when the product
has it). A level's coordinates are read the first time its pyramid is used, and
its xarray dataset (lazy, no pixels) the first time it is read from.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy
from rasterio.crs import CRS

from titiler_eopf.tiler import chunkcache, grid
from titiler_eopf.tiler.budget import ReadLimits
from titiler_eopf.tiler.errors import StoreError, VariableError, reading

logger = logging.getLogger(__name__)

SPATIAL_DIMS = ("y", "x")
# Regular latitude/longitude grids (the CAMS and ECMWF meteorology of S2 products): EPSG:4326.
GEO_DIMS = ("latitude", "longitude")
# Arrays that are coordinates or grid mappings, never variables.
NON_VARIABLES = {"x", "y", "spatial_ref", "crs", "band", "time", *GEO_DIMS}
# Multiscale levels are named after their pixel size (r10m ... r720m).
LEVEL_NAME = re.compile(r"^r\d+m$")
# The dimension of multi-band arrays (quicklooks): each of its values is one band.
BAND_DIM = "band"


@dataclass
class Level:
    """One resolution of a pyramid (a zarr group with y/x arrays)."""

    path: str  # group path inside the product, no leading slash
    variables: tuple[str, ...]
    crs: CRS
    resolution: float  # pixel size in CRS units
    bounds: tuple[float, float, float, float]  # minx, miny, maxx, maxy (pixel edges)
    shape: tuple[int, int]  # height, width
    dims: tuple[str, str] = SPATIAL_DIMS  # names of the y and x dimensions
    square: bool = True  # pixels as wide as high (chunk-wise reads assume it)
    # x/y start on the spatial:transform's origin: corners, if the pyramid's finest level says so
    on_origin: bool = False
    shift: tuple[float, float] = (0.0, 0.0)  # added to the stored x/y to get pixel centres
    centres: tuple | None = field(default=None, repr=False)  # (xs, ys) of groups without x/y
    _dataset: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def with_corner_coordinates(self) -> Level:
        """This level with its x/y read as north-west pixel corners (S1 RTC cubes)."""
        minx, miny, maxx, maxy = self.bounds
        dx, dy = self._half
        return dataclasses.replace(
            self, bounds=(minx + dx, miny - dy, maxx + dx, maxy - dy), shift=(dx, -dy)
        )

    @property
    def _half(self) -> tuple[float, float]:
        minx, miny, maxx, maxy = self.bounds
        height, width = self.shape
        return (maxx - minx) / width / 2, (maxy - miny) / height / 2


@dataclass
class Pyramid:
    """Levels of one group, finest first."""

    path: str
    levels: list[Level]

    @property
    def variables(self) -> list[str]:
        seen: dict[str, None] = {}
        for level in self.levels:
            seen.update(dict.fromkeys(level.variables))
        return sorted(seen)

    @property
    def crs(self) -> CRS:
        return self.levels[0].crs

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.levels[0].bounds

    def levels_with(self, variable: str) -> list[Level]:
        return [level for level in self.levels if variable in level.variables]

    def level_for(self, variable: str, target_resolution: float | None) -> Level:
        """The coarsest level holding ``variable`` still fine enough for the target.

        ``target_resolution`` is the output pixel size in the pyramid's CRS; None
        asks for full resolution. When every level is coarser than the target
        (zoomed in past full resolution) the finest level that has it is used.
        """
        candidates = self.levels_with(variable)
        if target_resolution is None:
            return candidates[0]
        # A small tolerance so that a level of exactly the target size is chosen.
        fine_enough = [lv for lv in candidates if lv.resolution <= target_resolution * 1.0001]
        return fine_enough[-1] if fine_enough else candidates[0]


def _dims(array) -> tuple[str, ...]:
    names = getattr(array.metadata, "dimension_names", None)
    if names:
        return tuple(names)
    return tuple(array.attrs.get("_ARRAY_DIMENSIONS", ()))


def is_categorical(array) -> bool:
    """Integer data without CF scaling: class codes, masks, flags, 8-bit quicklooks.

    Their values are shown as they are (never scaled to float) and resampled by nearest.
    """
    attrs = array.attrs
    return (
        numpy.dtype(array.dtype).kind in "iub"
        and "scale_factor" not in attrs
        and "add_offset" not in attrs
    )


def is_mask_group(path: str) -> bool:
    """Groups of masks (``conditions/mask/...``, ``quality/mask``), where 0 means "not set"."""
    return "mask" in path.split("/")


def categorical_nodata(array, group_path: str) -> int | None:
    """The array's own fill value; in mask groups without one, 0 (nothing flagged)."""
    fill = array.metadata.fill_value
    if fill is not None and not (isinstance(fill, float) and math.isnan(fill)):
        return int(fill)
    return 0 if is_mask_group(group_path) else None


def _crs_from_attrs(*attr_sets: dict) -> CRS | None:
    for attrs in attr_sets:
        if code := attrs.get("proj:code"):
            return CRS.from_user_input(code)
        if epsg := attrs.get("proj:epsg"):
            return CRS.from_epsg(int(epsg))
        for key in ("proj:wkt2", "crs_wkt", "spatial_ref"):
            if isinstance(wkt := attrs.get(key), str) and wkt:
                return CRS.from_wkt(wkt)
    return None


@dataclass(eq=False)
class Product:
    """The structure of one item, shared by every request that reads it.

    Besides the zarr hierarchy it carries what the catalog decided when it opened the item:
    the source version it was opened at, the read budget of its requests and its place in
    the process's chunk cache.
    """

    location: Any  # ItemLocation
    store: Any  # the zarr store
    root: Any  # the root zarr group
    source_version: str | None = None  # see titiler_eopf.tiler.versions
    read_limits: ReadLimits = field(default_factory=ReadLimits)
    chunk_token: int = field(default_factory=chunkcache.new_token)  # its chunks' cache key
    chunk_cache: Any = None  # chunkcache.ChunkCache shared by the process, or None
    shared_headers: Any = None  # shared_headers.SharedHeaders of its version, or None

    def __post_init__(self):
        root_group = self.root
        self.attrs: dict = dict(root_group.attrs.asdict())
        self._groups: dict[str, Any] = {"": root_group}
        self._arrays: dict[str, dict[str, Any]] = {}  # group path -> {name: array}
        for path, node in root_group.members(max_depth=None):
            path = path.strip("/")
            parent, _, name = path.rpartition("/")
            if hasattr(node, "shape"):
                self._arrays.setdefault(parent, {})[name] = node
            else:
                self._groups[path] = node
        self._pyramids: dict[str, Pyramid] = {}
        self._lock = threading.RLock()  # pyramid() may be re-entered while listing variables

    # -- structure -----------------------------------------------------------------
    def _level_variables(self, group_path: str) -> tuple[str, ...]:
        """Variables on the group's map grid: y/x, else latitude/longitude."""
        arrays = self._arrays.get(group_path, {})
        for dims in (SPATIAL_DIMS, GEO_DIMS):
            names = sorted(
                name
                for name, arr in arrays.items()
                if name not in NON_VARIABLES and _dims(arr)[-2:] == dims
            )
            if names:
                return tuple(names)
        return ()

    def _child_level_groups(self, group_path: str) -> list[str]:
        prefix = f"{group_path}/" if group_path else ""
        return [
            path
            for path in self._groups
            if path.startswith(prefix)
            and path != group_path
            and "/" not in path[len(prefix) :]
            and self._level_variables(path)
        ]

    def level_children(self, group_path: str) -> list[str]:
        """The child groups that are a pyramid's levels: those its multiscales layout names (in
        its order; other children, e.g. S1 RTC ``conditions``, are groups of their own), else
        children all named after a pixel size (r10m, r20m, ...)."""
        children = self._child_level_groups(group_path)
        layout = grid.multiscales_layout(dict(self._groups[group_path].attrs.asdict()))
        if layout:
            prefix = f"{group_path}/" if group_path else ""
            named = [f"{prefix}{entry['asset']}" for entry in layout]
            return [path for path in named if path in children]
        if children and all(LEVEL_NAME.match(c.rsplit("/", 1)[-1]) for c in children):
            return children
        return []

    @functools.cached_property
    def _pyramid_paths(self) -> list[str]:
        return sorted(path for path in self._groups if self.level_children(path))

    def pyramid_paths(self) -> list[str]:
        """Groups whose children are resolution levels (r10m, r20m, ...)."""
        return list(self._pyramid_paths)

    def available_variables(self) -> list[str]:
        """Every variable on a map grid: by pyramid, then the other groups holding some;
        without any (radar products), the measurement arrays (which cannot be tiled)."""
        pyramids = self.pyramid_paths()
        names, levels = [], set()
        for path in pyramids:
            variables = set()
            for child in self.level_children(path):
                levels.add(child)
                variables.update(self._level_variables(child))
            names += [f"/{path}:{var}" for var in sorted(variables)]
        for path in sorted(self._groups):
            if path in levels or path in pyramids:
                continue
            names += [f"/{path}:{var}" for var in self._level_variables(path)]
        return names or [f"/{path}:{name}" for path, name in self.unmapped_measurements()]

    @functools.cached_property
    def _unmapped(self) -> list[tuple[str, str]]:
        return self._find_unmapped()

    def unmapped_measurements(self) -> list[tuple[str, str]]:
        """2-D measurement arrays that are not on a map grid (e.g. S1 GRD: azimuth_time,
        ground_range)."""
        return list(self._unmapped)

    def _find_unmapped(self) -> list[tuple[str, str]]:
        found = []
        for path, arrays in sorted(self._arrays.items()):
            if "measurements" not in path.split("/"):
                continue
            for name, array in sorted(arrays.items()):
                dims = _dims(array)
                if len(dims) == 2 and dims != SPATIAL_DIMS and min(array.shape) > 1:
                    found.append((path, name))
        return found

    def array(self, level: Level, name: str):
        """The zarr array of a variable of a level (None if absent)."""
        return self._arrays.get(level.path, {}).get(name)

    def dims(self, level: Level, name: str) -> tuple[str, ...]:
        return _dims(self._arrays[level.path][name])

    def default_crs(self) -> CRS | None:
        """The product's CRS (STAC proj:epsg, or the first array that declares one), for
        groups that declare none (the sun/view angle grid)."""
        properties = self.attrs.get("stac_discovery", {}).get("properties", {})
        crs = _crs_from_attrs(properties)
        if crs is not None:
            return crs
        for arrays in self._arrays.values():
            for array in arrays.values():
                if crs := _crs_from_attrs(dict(array.attrs.asdict())):
                    return crs
        return None

    def pyramid(self, group_path: str) -> Pyramid:
        group_path = group_path.strip("/")
        with self._lock:
            if group_path not in self._pyramids:
                self._pyramids[group_path] = self._build_pyramid(group_path)
            return self._pyramids[group_path]

    def pyramids(self, paths: list[str]) -> list[Pyramid]:
        """Several pyramids, the missing ones built side by side (each reads its levels'
        coordinates: the product summary lists ~8 pyramids, ~40 small reads)."""
        with self._lock:
            missing = [p for p in paths if p.strip("/") not in self._pyramids]
        if len(missing) > 1:
            with ThreadPoolExecutor(max_workers=min(4, len(missing))) as pool:
                built = list(pool.map(lambda p: self._build_pyramid(p.strip("/")), missing))
            with self._lock:
                for path, pyramid in zip(missing, built, strict=True):
                    self._pyramids.setdefault(path.strip("/"), pyramid)
        return [self.pyramid(p) for p in paths]

    def _build_pyramid(self, group_path: str) -> Pyramid:
        if group_path not in self._groups:
            raise VariableError(
                f"Group '/{group_path}' does not exist in {self.location.label}. "
                f"Available variables: {', '.join(self.available_variables())}"
            )
        parent = group_path.rpartition("/")[0]
        if parent in self._groups and group_path in self.level_children(parent):
            # one level of a pyramid: as the pyramid reads it (its finest level decides
            # whether x/y are corners, see grid)
            level = next(lv for lv in self.pyramid(parent).levels if lv.path == group_path)
            return Pyramid(group_path, [level])
        if self._level_variables(group_path):
            level_paths = [group_path]
        else:  # GeoZarr: the layout names the levels
            level_paths = self.level_children(group_path) or self._child_level_groups(group_path)
        if not level_paths:
            raise VariableError(
                f"Group '/{group_path}' of {self.location.label} holds no raster variables. "
                f"Available variables: {', '.join(self.available_variables())}"
            )
        parent_attrs = dict(self._groups[group_path].attrs.asdict())
        # each level reads its x/y coordinates: side by side (6 levels, 12 requests in GeoZarr)
        with ThreadPoolExecutor(max_workers=min(8, len(level_paths))) as pool:
            levels = list(pool.map(lambda path: self._read_level(path, parent_attrs), level_paths))
        levels.sort(key=lambda lv: lv.resolution)
        if levels[0].on_origin:  # x/y are corners (see grid)
            levels = [lv.with_corner_coordinates() if lv.on_origin else lv for lv in levels]
        return Pyramid(group_path, levels)

    def _read_level(self, path: str, parent_attrs: dict) -> Level:
        with reading(self.location, path):  # reads the level's x/y coordinates
            return self._build_level(path, parent_attrs)

    def _build_level(self, path: str, parent_attrs: dict) -> Level:
        arrays = self._arrays[path]
        variables = self._level_variables(path)
        first = arrays[variables[0]]
        height, width = first.shape[-2:]
        ydim, xdim = _dims(first)[-2:]
        grid_mapping = arrays.get("spatial_ref")
        crs = (
            CRS.from_epsg(4326)
            if (ydim, xdim) == GEO_DIMS
            else _crs_from_attrs(
                dict(self._groups[path].attrs.asdict()),
                dict(first.attrs.asdict()),
                dict(grid_mapping.attrs.asdict()) if grid_mapping is not None else {},
                parent_attrs,
            )
        )
        if crs is None:
            crs = self.default_crs()
        if crs is None:
            raise VariableError(
                f"Group /{path} of {self.location.label} declares no CRS (and the product none): "
                "its variables cannot be placed on a map"
            )
        # Coordinates are the truth for the grid (derived GeoZarr levels carry proj:transform
        # attributes copied from another level); whether they are centres or corners, the
        # spatial:transform tells (see grid).
        transform = grid.spatial_transform(
            dict(self._groups[path].attrs.asdict()), parent_attrs, path.rsplit("/", 1)[-1]
        )
        centres = None
        try:
            xs = numpy.asarray(arrays[xdim][:], dtype="float64")
            ys = numpy.asarray(arrays[ydim][:], dtype="float64")
        except KeyError:
            if transform is not None:
                xs, ys = centres = grid.centres_from_transform(transform, width, height)
            else:
                xs, ys = centres = self._coords_from_transform(first, width, height)
        xres, yres, bounds = grid.edges(xs, ys)
        square = not (xres > 0 and yres > 0) or math.isclose(xres, yres, rel_tol=1e-6)
        return Level(
            path,
            variables,
            crs,
            float(max(xres, yres)),
            bounds,
            (height, width),
            dims=(ydim, xdim),
            square=square,
            on_origin=centres is None and grid.on_origin(xs, ys, transform),
            centres=centres,
        )

    @staticmethod
    def _coords_from_transform(array, width: int, height: int):
        transform = array.attrs.get("proj:transform")
        if not transform:
            raise StoreError(f"array {array.path} has neither x/y coordinates nor proj:transform")
        a, _, c, _, e, f = transform[:6]
        xs = c + (numpy.arange(width) + 0.5) * a
        ys = f + (numpy.arange(height) + 0.5) * e
        return xs, ys

    # -- data ----------------------------------------------------------------------
    def dataset(self, level: Level):
        """The level as a lazy xarray Dataset (CF scale/offset and fill decoded)."""
        if level._dataset is None:
            with self._lock:
                if level._dataset is None:
                    with reading(self.location, level.path):
                        level._dataset = self._open_dataset(level)
        return level._dataset

    def _open_dataset(self, level: Level):
        import rioxarray  # noqa: F401 - registers the .rio accessor
        import xarray
        from xarray.backends.zarr import ZarrStore

        group = self._groups[level.path]
        # zarr v2 products (the native layout) declare their fill value in the
        # array metadata, not as a _FillValue attribute: use it as the mask.
        store = ZarrStore(
            group,
            cache_members=True,
            use_zarr_fill_value_as_mask=group.metadata.zarr_format == 2,
        )
        # cache=False: a product stays open across requests, and xarray's default
        # in-memory cache would keep every array that was ever fully read.
        arrays = self._arrays.get(level.path, {})
        # Integer classes, masks and quicklooks are read as they are (no float, no NaN):
        # their nodata is the array's fill value, applied by the reader.
        ds = xarray.open_dataset(
            store,
            engine="store",
            cache=False,
            mask_and_scale={name: not is_categorical(arrays[name]) for name in level.variables},
            decode_times=True,  # time dimensions are selected by date (sel=time=...)
            decode_coords="all",
        )
        keep = [v for v in level.variables if v in ds.data_vars]
        ds = ds[keep]
        if "spatial_ref" in ds.coords:
            ds = ds.drop_vars("spatial_ref")
        if level.dims != SPATIAL_DIMS:  # latitude/longitude grids read as y/x
            ds = ds.rename({level.dims[0]: "y", level.dims[1]: "x"})
        if level.centres is not None and "x" not in ds.coords:  # placed by their transform
            ds = ds.assign_coords(x=level.centres[0], y=level.centres[1])
        elif level.shift != (0.0, 0.0):  # corner coordinates -> pixel centres
            ds = ds.assign_coords(x=ds.x + level.shift[0], y=ds.y + level.shift[1])
        ds = ds.rio.write_crs(level.crs).rio.set_spatial_dims(x_dim="x", y_dim="y")
        return ds


def parse_variable(value: str) -> tuple[str, str]:
    """``/measurements/reflectance:b04`` -> (``measurements/reflectance``, ``b04``)."""
    group, sep, name = value.rpartition(":")
    group = group.strip().strip("/")
    name = name.strip()
    if not sep or not name or "/" in name:
        raise VariableError(
            f"Invalid variable '{value}': expected '{{group}}:{{variable}}', "
            "e.g. '/measurements/reflectance:b04'"
        )
    return group, name
