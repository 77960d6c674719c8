"""The synthetic scene shared by both sample products, and pure functions that predict its values.

The scene keeps the real CRS, upper-left corner and pixel sizes of the Sentinel-2 L2A tile
``T32TQM`` but covers only 14,400 m x 14,400 m (1440 x 1440 pixels at 10 m).  It is a 5 x 5 grid of
square blocks of 2880 m; block ``(row, col)`` (row 0 north, col 0 west) of band ``b`` holds the
digital number ``BAND_BASE[b] + 200 * (5 * row + col)``.  Block ``(4, 4)`` (south-east) is nodata in
every band and level.  Block edges fall on pixel edges at every level (2880 m is a multiple of
10, 20, 60, 120, 360 and 720 m), so every pixel of every level lies in exactly one block and every
averaged (derived) level holds exactly the block values.
"""

from __future__ import annotations

import math

COLLECTION_NATIVE = "sentinel-2-l2a"
COLLECTION_GEOZARR = "sentinel-2-l2a-geozarr"
ITEM_ID = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
# Written whole from the structure dumps (see eopf_sample.groups): L1C native and S1 GRD.
COLLECTION_L1C = "sentinel-2-l1c"
L1C_ITEM_ID = "S2B_MSIL1C_20250113T103309_N0511_R108_T32TLQ_20250113T122458"
# The L1C sample's extent (its own tile's upper-left corner, 14.4 km) in lon/lat.
L1C_BOUNDS_LONLAT = (6.456860517008107, 44.996014791226, 6.645131118765448, 45.129443129357036)
COLLECTION_S1 = "sentinel-1-l1-grd"
S1_ITEM_ID = "S1A_IW_GRDH_1SDV_20241124T180254_20241124T180319_056700_06F516_BA27"
# The EOPF Explorer's products (see eopf_sample.explorer): S1 GRD RTC cube, the S2 GeoZarr as
# the production converter writes it, and its experimental-codecs variant.
COLLECTION_S1_RTC = "sentinel-1-l1-rtc"
S1_RTC_ITEM_ID = "s1-rtc-31TCH"
COLLECTION_S2_PRODUCTION = "sentinel-2-l2a-production"
COLLECTION_S2_CODECS = "sentinel-2-l2a-staging-codecs"
ITEM_IDS = {
    COLLECTION_NATIVE: ITEM_ID,
    COLLECTION_GEOZARR: ITEM_ID,
    COLLECTION_L1C: L1C_ITEM_ID,
    COLLECTION_S1: S1_ITEM_ID,
    COLLECTION_S1_RTC: S1_RTC_ITEM_ID,
    COLLECTION_S2_PRODUCTION: ITEM_ID,
    COLLECTION_S2_CODECS: ITEM_ID,
}
# Dates of the GeoZarr sample's (time, y, x) variable /measurements/time_series:ndvi.
TIME_SERIES_DATES = ("2022-01-01", "2022-01-05", "2022-01-09")
EPSG = 32632

X0 = 699960.0  # west edge (real upper-left corner of the tile)
Y0 = 4700040.0  # north edge
SIZE_M = 14400.0  # 1440 px at 10 m
BOUNDS = (X0, Y0 - SIZE_M, X0 + SIZE_M, Y0)  # (minx, miny, maxx, maxy) in EPSG:32632
# BOUNDS in lon/lat (EPSG:4326), computed once with rasterio.warp.transform_bounds(densify_pts=21).
BOUNDS_LONLAT = (11.425718238039316, 42.29351424251818, 11.605586692862058, 42.426911995520086)
# The four corners (UL, UR, LR, LL, UL) in lon/lat, for the STAC geometry.
FOOTPRINT_LONLAT = [
    [11.430710453023613, 42.426911995520086],
    [11.605586692862058, 42.423068056820625],
    [11.600236270069967, 42.29351424251818],
    [11.425718238039316, 42.29734087790346],
    [11.430710453023613, 42.426911995520086],
]

# level name -> (pixel size in metres, (height, width)).  Real shapes 10980/5490/1830/915/305/152.
LEVELS: dict[str, tuple[int, tuple[int, int]]] = {
    "r10m": (10, (1440, 1440)),
    "r20m": (20, (720, 720)),
    "r60m": (60, (240, 240)),
    "r120m": (120, (120, 120)),
    "r360m": (360, (40, 40)),
    "r720m": (720, (20, 20)),
}
# Real shape of each level -> sample shape (used to rewrite copied attributes such as proj:shape).
REAL_TO_SAMPLE_SIZE = {10980: 1440, 5490: 720, 1830: 240, 915: 120, 305: 40, 152: 20}

# Band lists exactly as the real products have them (order as in the dumps, alphabetical).
NATIVE_BANDS: dict[str, list[str]] = {
    "r10m": ["b02", "b03", "b04", "b08"],
    "r20m": ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b11", "b12", "b8a"],
    "r60m": ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b09", "b11", "b12", "b8a"],
}
_ALL12 = ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b09", "b11", "b12", "b8a"]
GEOZARR_BANDS: dict[str, list[str]] = {
    "r10m": ["b02", "b03", "b04", "b08"],
    "r20m": ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b11", "b12", "b8a"],
    "r60m": list(_ALL12),
    "r120m": list(_ALL12),
    "r360m": list(_ALL12),
    "r720m": list(_ALL12),
}

BAND_BASE: dict[str, int] = {
    "b01": 1000,
    "b02": 4000,
    "b03": 3000,
    "b04": 2000,
    "b05": 1500,
    "b06": 2500,
    "b07": 3500,
    "b08": 5000,
    "b8a": 4500,
    "b09": 1200,
    "b11": 2200,
    "b12": 1800,
}

GRID = 5  # blocks per side
BLOCK_M = 2880.0  # block side in metres
BLOCK_STEP = 200  # DN step between consecutive blocks (row-major)
NODATA_BLOCK = (4, 4)
SCALE_FACTOR = 0.0001
ADD_OFFSET = -0.1
NATIVE_FILL = 0


def block_of(x_utm: float, y_utm: float) -> tuple[int, int] | None:
    """Block ``(row, col)`` holding the point, or None outside BOUNDS.

    Intervals are those of the pixels: x in [minx, maxx), y in (miny, maxy].
    """
    if not (math.isfinite(x_utm) and math.isfinite(y_utm)):
        return None
    dx = x_utm - X0
    dy = Y0 - y_utm
    if dx < 0 or dx >= SIZE_M or dy < 0 or dy >= SIZE_M:
        return None
    return int(dy // BLOCK_M), int(dx // BLOCK_M)


def block_dn(band: str, row: int, col: int) -> int | None:
    """Digital number of ``band`` in block ``(row, col)``; None for the nodata block."""
    if band not in BAND_BASE:
        raise KeyError(f"unknown band {band!r}")
    if (row, col) == NODATA_BLOCK:
        return None
    return BAND_BASE[band] + BLOCK_STEP * (GRID * row + col)


def expected_dn(band: str, x_utm: float, y_utm: float) -> int | None:
    """Native digital number at the point (None = nodata or outside the scene)."""
    if band not in BAND_BASE:
        raise KeyError(f"unknown band {band!r}")
    block = block_of(x_utm, y_utm)
    if block is None:
        return None
    return block_dn(band, *block)


def dn_to_reflectance(dn: int) -> float:
    """Reflectance of a digital number, computed in float64 like CF decoding does."""
    return dn * SCALE_FACTOR + ADD_OFFSET


def expected_reflectance(band: str, x_utm: float, y_utm: float) -> float | None:
    """Reflectance (DN * 0.0001 - 0.1, float64) at the point (None = nodata or outside)."""
    dn = expected_dn(band, x_utm, y_utm)
    return None if dn is None else dn_to_reflectance(dn)


def pixel_centers(level: str) -> tuple[list[float], list[float]]:
    """Pixel-centre coordinates ``(xs, ys)`` of a level (ys decreasing)."""
    res, (height, width) = LEVELS[level]
    xs = [X0 + (i + 0.5) * res for i in range(width)]
    ys = [Y0 - (j + 0.5) * res for j in range(height)]
    return xs, ys


def transform(level: str) -> tuple[float, float, float, float, float, float]:
    """Affine transform ``(a, b, c, d, e, f)`` (GDAL/rasterio order) of a level."""
    res = float(LEVELS[level][0])
    return (res, 0.0, X0, 0.0, -res, Y0)
