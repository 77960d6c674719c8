"""Small, predictable sample EOPF products for tests and local development.

``python -m eopf_sample [--out DIR] [--force]`` writes, under DIR (default ``data``):

- ``sentinel-2-l2a/<ITEM_ID>.zarr``: native ESA EOPF layout (zarr v2, consolidated ``.zmetadata``)
- ``sentinel-2-l2a-geozarr/<ITEM_ID>.zarr``: GeoZarr layout (zarr v3, consolidated metadata in the
  root ``zarr.json``)

Both hold the same synthetic scene (see :mod:`eopf_sample.scene`), so tests can predict every
pixel value with :func:`expected_dn` / :func:`expected_reflectance`.
"""

from .scene import (
    ADD_OFFSET,
    BAND_BASE,
    BLOCK_M,
    BOUNDS,
    BOUNDS_LONLAT,
    COLLECTION_GEOZARR,
    COLLECTION_NATIVE,
    EPSG,
    GEOZARR_BANDS,
    GRID,
    ITEM_ID,
    LEVELS,
    NATIVE_BANDS,
    NATIVE_FILL,
    NODATA_BLOCK,
    SCALE_FACTOR,
    X0,
    Y0,
    block_dn,
    block_of,
    dn_to_reflectance,
    expected_dn,
    expected_reflectance,
    pixel_centers,
    transform,
)
from .writer import product_path, write_geozarr, write_native, write_samples

__all__ = [
    "ADD_OFFSET",
    "BAND_BASE",
    "BLOCK_M",
    "BOUNDS",
    "BOUNDS_LONLAT",
    "COLLECTION_GEOZARR",
    "COLLECTION_NATIVE",
    "EPSG",
    "GEOZARR_BANDS",
    "GRID",
    "ITEM_ID",
    "LEVELS",
    "NATIVE_BANDS",
    "NATIVE_FILL",
    "NODATA_BLOCK",
    "SCALE_FACTOR",
    "X0",
    "Y0",
    "block_dn",
    "block_of",
    "dn_to_reflectance",
    "expected_dn",
    "expected_reflectance",
    "pixel_centers",
    "product_path",
    "transform",
    "write_geozarr",
    "write_native",
    "write_samples",
]
