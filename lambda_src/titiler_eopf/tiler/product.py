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

Only metadata is read when a product is opened (consolidated when the product
has it). A level's coordinates are read the first time its pyramid is used, and
its xarray dataset (lazy, no pixels) the first time it is read from.
"""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy
from rasterio.crs import CRS

from titiler_eopf.tiler.errors import StoreError, VariableError

logger = logging.getLogger(__name__)

SPATIAL_DIMS = ("y", "x")
# Arrays that are coordinates or grid mappings, never variables.
NON_VARIABLES = {"x", "y", "spatial_ref", "crs", "band", "time"}


@dataclass
class Level:
    """One resolution of a pyramid (a zarr group with y/x arrays)."""

    path: str  # group path inside the product, no leading slash
    variables: tuple[str, ...]
    crs: CRS
    resolution: float  # pixel size in CRS units
    bounds: tuple[float, float, float, float]  # minx, miny, maxx, maxy (pixel edges)
    shape: tuple[int, int]  # height, width
    _dataset: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


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


class Product:
    """The structure of one item, shared by every request that reads it."""

    def __init__(self, location, zarr_store, root_group):
        self.location = location
        self.store = zarr_store
        self.root = root_group
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
        arrays = self._arrays.get(group_path, {})
        return tuple(
            sorted(
                name
                for name, arr in arrays.items()
                if name not in NON_VARIABLES and _dims(arr)[-2:] == SPATIAL_DIMS
            )
        )

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

    def pyramid_paths(self) -> list[str]:
        """Groups that hold several levels (the usual way to address variables)."""
        return sorted(p for p in self._groups if len(self._child_level_groups(p)) > 1)

    def available_variables(self) -> list[str]:
        names = []
        for path in self.pyramid_paths():
            names += [f"/{path}:{var}" for var in self.pyramid(path).variables]
        if not names:  # products without pyramids: list the plain groups
            for path in sorted(self._groups):
                names += [f"/{path}:{var}" for var in self._level_variables(path)]
        return names

    def pyramid(self, group_path: str) -> Pyramid:
        group_path = group_path.strip("/")
        with self._lock:
            if group_path not in self._pyramids:
                self._pyramids[group_path] = self._build_pyramid(group_path)
            return self._pyramids[group_path]

    def _build_pyramid(self, group_path: str) -> Pyramid:
        if group_path not in self._groups:
            raise VariableError(
                f"Group '/{group_path}' does not exist in {self.location.label}. "
                f"Available variables: {', '.join(self.available_variables())}"
            )
        if self._level_variables(group_path):
            level_paths = [group_path]
        else:
            level_paths = self._child_level_groups(group_path)
            layout = self._groups[group_path].attrs.get("multiscales", {}) or {}
            order = [
                f"{group_path}/{entry['asset']}"
                for entry in layout.get("layout", [])
                if isinstance(entry, dict) and "asset" in entry
            ]
            if order:  # GeoZarr: the layout names the levels
                level_paths = [p for p in order if p in level_paths] or level_paths
        if not level_paths:
            raise VariableError(
                f"Group '/{group_path}' of {self.location.label} holds no raster variables. "
                f"Available variables: {', '.join(self.available_variables())}"
            )
        parent_attrs = dict(self._groups[group_path].attrs.asdict())
        # each level reads its x/y coordinates: side by side (6 levels, 12 requests in GeoZarr)
        with ThreadPoolExecutor(max_workers=min(8, len(level_paths))) as pool:
            levels = list(pool.map(lambda path: self._build_level(path, parent_attrs), level_paths))
        levels.sort(key=lambda lv: lv.resolution)
        return Pyramid(group_path, levels)

    def _build_level(self, path: str, parent_attrs: dict) -> Level:
        arrays = self._arrays[path]
        variables = self._level_variables(path)
        first = arrays[variables[0]]
        height, width = first.shape[-2:]
        grid_mapping = arrays.get("spatial_ref")
        crs = _crs_from_attrs(
            dict(self._groups[path].attrs.asdict()),
            dict(first.attrs.asdict()),
            dict(grid_mapping.attrs.asdict()) if grid_mapping is not None else {},
            parent_attrs,
        )
        if crs is None:
            raise StoreError(f"{self.location.label}: no CRS found for group /{path}")
        # Coordinates are the truth for the grid: derived GeoZarr levels carry
        # proj:transform attributes copied from another level.
        try:
            xs = numpy.asarray(arrays["x"][:], dtype="float64")
            ys = numpy.asarray(arrays["y"][:], dtype="float64")
        except KeyError:
            xs, ys = self._coords_from_transform(first, width, height)
        xres = abs(xs[1] - xs[0]) if xs.size > 1 else math.nan
        yres = abs(ys[1] - ys[0]) if ys.size > 1 else math.nan
        bounds = (
            float(xs.min() - xres / 2),
            float(ys.min() - yres / 2),
            float(xs.max() + xres / 2),
            float(ys.max() + yres / 2),
        )
        return Level(path, variables, crs, float(max(xres, yres)), bounds, (height, width))

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
        ds = xarray.open_dataset(
            store,
            engine="store",
            cache=False,
            mask_and_scale=True,
            decode_times=False,
            decode_coords="all",
        )
        keep = [v for v in level.variables if v in ds.data_vars]
        ds = ds[keep]
        if "spatial_ref" in ds.coords:
            ds = ds.drop_vars("spatial_ref")
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
