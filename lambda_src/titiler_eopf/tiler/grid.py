"""Where a level's pixels are: zarr conventions, ``spatial:transform`` and x/y coordinates.

Writers disagree on what the coordinates and the transform mean, so neither is trusted alone:

- ESA's native layout and the GeoZarr converter write x/y at pixel *centres*; the converter's
  derived levels (r20m and coarser, eopf-geozarr 0.10.2) write a ``spatial:transform`` whose origin
  is the centre of the first pixel (half a pixel off), and r120m+ keep a stale ``spatial_ref``
  and ``proj:*`` from r60m. There the centres are the truth.
- The Sentinel-1 RTC writer puts x/y at pixel *corners* (``x[0]`` is the transform's origin) at
  every level. Read as centres they shift the map by half a pixel (360 m at r720m).

The finest level of a pyramid decides: its coordinates either sit half a pixel inside its
transform's origin (centres; coarser levels whose transform then looks "at the origin" are the
converter's half-pixel error) or on the origin (corners, and then so are the coarser levels'
when they sit on theirs). Groups without x/y arrays (S1 ``conditions``) are placed by their
transform. Conventions are recognised by their uuid (their names and URLs change between
versions); products that declare none are read by the attribute names alone.
"""

from __future__ import annotations

import math

import numpy

MULTISCALES_UUID = "d35379db-88df-4056-af3a-620245f8e347"
SPATIAL_UUID = "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4"
PROJ_UUID = "f17cb550-5864-4468-aeb7-f3180cfb622f"


def _declared_uuids(attrs: dict) -> set[str] | None:
    """uuids of the conventions a group declares; None when it declares none."""
    conventions = attrs.get("zarr_conventions")
    if isinstance(conventions, dict):  # keyed by name, or by uuid
        conventions = [
            {"uuid": key, **value} if isinstance(value, dict) else {"uuid": key}
            for key, value in conventions.items()
        ]
    if not isinstance(conventions, list):
        return None
    return {c.get("uuid") for c in conventions if isinstance(c, dict)}


def declares(uuid: str, *attr_sets: dict) -> bool:
    """The convention is declared by one of the groups (the level, its pyramid), or none of them
    declares any (older products, read by attribute names)."""
    found = [_declared_uuids(attrs) for attrs in attr_sets]
    declared = [uuids for uuids in found if uuids is not None]
    return not declared or any(uuid in uuids for uuids in declared)


def multiscales_layout(attrs: dict) -> list[dict]:
    """The ``multiscales.layout`` entries of a group (empty when it declares no multiscales)."""
    multiscales = attrs.get("multiscales")
    if not isinstance(multiscales, dict) or not declares(MULTISCALES_UUID, attrs):
        return []
    return [e for e in multiscales.get("layout") or [] if isinstance(e, dict) and "asset" in e]


def spatial_transform(level_attrs: dict, parent_attrs: dict, name: str) -> tuple | None:
    """The level's ``spatial:transform`` (a, b, c, d, e, f), from its own attributes or its
    entry in the pyramid's layout; None without one (or with a rotation)."""
    if not declares(SPATIAL_UUID, level_attrs, parent_attrs):
        return None
    transform = level_attrs.get("spatial:transform")
    if transform is None:
        entry = next((e for e in multiscales_layout(parent_attrs) if e["asset"] == name), {})
        transform = entry.get("spatial:transform")
    if not isinstance(transform, list | tuple) or len(transform) < 6:
        return None
    a, b, c, d, e, f = (float(v) for v in transform[:6])
    if b or d or not a or not e:
        return None
    return a, b, c, d, e, f


def centres_from_transform(transform: tuple, width: int, height: int):
    a, _, c, _, e, f = transform
    return c + (numpy.arange(width) + 0.5) * a, f + (numpy.arange(height) + 0.5) * e


def on_origin(xs: numpy.ndarray, ys: numpy.ndarray, transform: tuple | None) -> bool:
    """The first coordinates are the transform's origin (not half a pixel inside it)."""
    if transform is None or not xs.size or not ys.size:
        return False
    a, _, c, _, e, f = transform
    return math.isclose(xs[0], c, abs_tol=abs(a) / 4) and math.isclose(ys[0], f, abs_tol=abs(e) / 4)


def edges(xs: numpy.ndarray, ys: numpy.ndarray):
    """Resolutions and bounds of a grid from the coordinates of its pixel centres."""
    xres = abs(xs[1] - xs[0]) if xs.size > 1 else math.nan
    yres = abs(ys[1] - ys[0]) if ys.size > 1 else math.nan
    bounds = (
        float(xs.min() - xres / 2),
        float(ys.min() - yres / 2),
        float(xs.max() + xres / 2),
        float(ys.max() + yres / 2),
    )
    return xres, yres, bounds
