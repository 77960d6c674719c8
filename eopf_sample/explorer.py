"""Samples of the products the EOPF Explorer serves (../shared/eopf-structures, issue 15).

- ``sentinel-1-l1-rtc/s1-rtc-31TCH.zarr``: a Sentinel-1 GRD RTC cube as the production writer
  lays it out: ``{ascending,descending}/r10m..r720m`` multiscales per orbit group, ``vv``/``vh``
  float32 ``(time, y, x)`` linear gamma0 with NaN fill, ``border_mask``, ``conditions``,
  ``platform`` (``<U4``) and orbit numbers on r10m. Traps kept: x/y hold pixel *corners*
  (``x[0]`` is the transform origin), the time axis is *not sorted*, times carry sub-seconds.
- ``sentinel-2-l2a-production/<ITEM_ID>.zarr``: the L2A GeoZarr as converter 0.10.2 writes it
  (root ``proj:code EPSG:4326`` + lon/lat ``spatial:bbox``; derived levels' ``spatial:transform``
  off by half a pixel; stale ``spatial_ref``/``proj:*`` on r120m+; r360m shards (8) that only
  partly cover the array (10); b08 in r20m/r60m; unsharded aot/wvp and masks).
- ``sentinel-2-l2a-staging-codecs/<ITEM_ID>.zarr``: the same with ``scale_offset`` + ``cast_value``
  inside the shards (uint16 stored, float32 with NaN presented). Written without cast-value-rs:
  the shards are written as uint16, then the metadata is given the codec chain (same bytes).

Every level has its own pixel values (no averaging), distinct from one pixel to the next so that a
half-pixel error is seen: :func:`s1_value`, :func:`s2_dn` / :func:`s2_reflectance`.
"""

from __future__ import annotations

from .production import (
    COLLECTION_S2_CODECS,
    COLLECTION_S2_PRODUCTION,
    S2_BANDS,
    s2_aot,
    s2_codecs_reflectance,
    s2_dn,
    s2_mask,
    s2_pixel_centre,
    s2_reflectance,
    write_s2_codecs,
    write_s2_production,
)
from .rtc import (
    COLLECTION_S1_RTC,
    S1_EPSG,
    S1_PLATFORMS,
    S1_RELATIVE_ORBITS,
    S1_RTC_ITEM_ID,
    S1_TIMES,
    S1_X0,
    S1_Y0,
    s1_gamma_area,
    s1_pixel_centre,
    s1_second,
    s1_value,
    write_s1_rtc,
)
from .zarr3 import LEVELS, SIZE_M, later_convention

__all__ = [
    "COLLECTION_S1_RTC",
    "COLLECTION_S2_CODECS",
    "COLLECTION_S2_PRODUCTION",
    "LEVELS",
    "S1_EPSG",
    "S1_PLATFORMS",
    "S1_RELATIVE_ORBITS",
    "S1_RTC_ITEM_ID",
    "S1_TIMES",
    "S1_X0",
    "S1_Y0",
    "S2_BANDS",
    "SIZE_M",
    "later_convention",
    "s1_gamma_area",
    "s1_pixel_centre",
    "s1_second",
    "s1_value",
    "s2_aot",
    "s2_codecs_reflectance",
    "s2_dn",
    "s2_mask",
    "s2_pixel_centre",
    "s2_reflectance",
    "write_s1_rtc",
    "write_s2_codecs",
    "write_s2_production",
]
