"""What the Explorer's zarr v3 samples share: conventions, level sizes, grid mappings."""

from __future__ import annotations

import warnings
from functools import cache

import zarr
from zarr.codecs import ZstdCodec

FILL_NAN_B64 = "AAAAAAAA+H8="  # float64 NaN, as xarray writes _FillValue for zarr v3

CONVENTION_MULTISCALES = {
    "description": "Multiscale layout of zarr datasets",
    "name": "multiscales",
    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/multiscales/refs/tags/v0.1/schema.json",
    "spec_url": "https://github.com/zarr-conventions/multiscales/blob/v0.1/README.md",
    "uuid": "d35379db-88df-4056-af3a-620245f8e347",
}
CONVENTION_PROJ = {
    "description": "Coordinate reference system information for geospatial data",
    "name": "proj:",
    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/proj/5ca5b2f92e5c7245f957d9128b289ee535f0720d/schema.json",
    "spec_url": "https://github.com/zarr-conventions/proj/blob/5ca5b2f92e5c7245f957d9128b289ee535f0720d/README.md",
    "uuid": "f17cb550-5864-4468-aeb7-f3180cfb622f",
}
CONVENTION_SPATIAL = {
    "description": "Spatial coordinate information",
    "name": "spatial:",
    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/spatial/54d81b7ced0376e63ee10f34db31db7d08dcc28d/schema.json",
    "spec_url": "https://github.com/zarr-conventions/spatial/blob/54d81b7ced0376e63ee10f34db31db7d08dcc28d/README.md",
    "uuid": "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4",
}


def later_convention(convention: dict) -> dict:
    """The same convention as a later writer declares it: other name and URLs, same uuid."""
    name = convention["name"].rstrip(":")
    return {
        "name": f"zarr-conventions/{name}",
        "schema_url": f"https://zarr-conventions.org/{name}/v1.0/schema.json",
        "spec_url": f"https://zarr-conventions.org/{name}/v1.0/",
        "uuid": convention["uuid"],
    }


# level -> (pixel size m, size px); the real ratios (10980/5490/1830/915/305/153), 3600 m wide
LEVELS: dict[str, tuple[int, int]] = {
    "r10m": (10, 360),
    "r20m": (20, 180),
    "r60m": (60, 60),
    "r120m": (120, 30),
    "r360m": (360, 10),
    "r720m": (720, 5),
}
SIZE_M = 3600.0
DERIVED_FROM = {"r20m": "r10m", "r60m": "r20m", "r120m": "r60m", "r360m": "r120m", "r720m": "r360m"}


@cache
def _cf_grid_mapping(epsg: int) -> dict:
    from pyproj import CRS

    attrs = CRS.from_epsg(epsg).to_cf()
    attrs["spatial_ref"] = attrs["crs_wkt"]
    attrs["_ARRAY_DIMENSIONS"] = []
    return attrs


def spatial_ref(group, epsg: int, extra: dict | None = None) -> None:
    array = group.create_array(
        "spatial_ref",
        shape=(),
        dtype="int64",
        fill_value=0,
        compressors=ZstdCodec(level=0, checksum=False),
        attributes={**_cf_grid_mapping(epsg), **(extra or {})},
    )
    array[...] = 0


def consolidate(store) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated metadata is not in the v3 spec
        zarr.consolidate_metadata(store, zarr_format=3)
