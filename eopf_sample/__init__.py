"""Small, predictable sample EOPF products for tests and local development.

``python -m eopf_sample [--out DIR] [--force]`` writes, under DIR (default ``data``):

- ``sentinel-2-l2a/<ITEM_ID>.zarr``: native ESA EOPF layout (zarr v2, consolidated ``.zmetadata``)
- ``sentinel-2-l2a-geozarr/<ITEM_ID>.zarr``: GeoZarr layout (zarr v3, consolidated metadata in the
  root ``zarr.json``), plus a ``(time, y, x)`` variable ``/measurements/time_series:ndvi``
- ``sentinel-2-l1c/<L1C_ITEM_ID>.zarr``: native L1C (zarr v2)
- ``sentinel-1-l1-grd/<S1_ITEM_ID>.zarr``: Sentinel-1 GRD (zarr v2, radar geometry)
- the EOPF Explorer's products (see :mod:`eopf_sample.explorer`):
  ``sentinel-1-l1-rtc/s1-rtc-31TCH.zarr`` (S1 GRD RTC cube),
  ``sentinel-2-l2a-production/<ITEM_ID>.zarr`` (GeoZarr as the production converter writes it) and
  ``sentinel-2-l2a-staging-codecs/<ITEM_ID>.zarr`` (the same with scale_offset + cast_value)

Every group of the real products is written (see :mod:`eopf_sample.groups`): classification,
masks, quicklooks, angles, meteorology, radar annotations.

Both hold the same synthetic scene (see :mod:`eopf_sample.scene`), so tests can predict every
pixel value with :func:`expected_dn` / :func:`expected_reflectance`.
"""

from .groups import expected_block_value
from .scene import (
    ADD_OFFSET,
    BAND_BASE,
    BLOCK_M,
    BOUNDS,
    BOUNDS_LONLAT,
    COLLECTION_GEOZARR,
    COLLECTION_L1C,
    COLLECTION_NATIVE,
    COLLECTION_S1,
    COLLECTION_S1_RTC,
    COLLECTION_S2_CODECS,
    COLLECTION_S2_PRODUCTION,
    EPSG,
    GEOZARR_BANDS,
    GRID,
    ITEM_ID,
    ITEM_IDS,
    L1C_ITEM_ID,
    LEVELS,
    NATIVE_BANDS,
    NATIVE_FILL,
    NODATA_BLOCK,
    S1_ITEM_ID,
    S1_RTC_ITEM_ID,
    SCALE_FACTOR,
    TIME_SERIES_DATES,
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
from .writer import product_path, time_series_value, write_geozarr, write_native, write_samples

__all__ = [
    "ADD_OFFSET",
    "BAND_BASE",
    "BLOCK_M",
    "BOUNDS",
    "BOUNDS_LONLAT",
    "COLLECTION_GEOZARR",
    "COLLECTION_L1C",
    "COLLECTION_NATIVE",
    "COLLECTION_S1",
    "COLLECTION_S1_RTC",
    "COLLECTION_S2_CODECS",
    "COLLECTION_S2_PRODUCTION",
    "EPSG",
    "GEOZARR_BANDS",
    "GRID",
    "ITEM_ID",
    "ITEM_IDS",
    "L1C_ITEM_ID",
    "S1_ITEM_ID",
    "S1_RTC_ITEM_ID",
    "TIME_SERIES_DATES",
    "expected_block_value",
    "time_series_value",
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
