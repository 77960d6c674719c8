"""Attributes of the real products, trimmed and rewritten for the sample extent.

Copied from the structure dumps of
``S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613`` (native ESA layout, zarr v2, and
its GeoZarr conversion, zarr v3).  Shapes are mapped to the sample shapes
(10980/5490/1830/915/305/152 -> 1440/720/240/120/40/20), pixel sizes are kept and bounding boxes
are replaced by the sample extent.  Quirks of the real GeoZarr product are kept on purpose (see
``geozarr_proj_source_level`` and ``SPATIAL_BBOX``), so that a reader relying on those stale
attributes fails on the samples as it would on the real data.
"""

from __future__ import annotations

from typing import Any

from . import scene

# `proj:wkt2` attribute of every band array (both layouts).
PROJ_WKT2 = (
    'PROJCS["WGS 84 / UTM zone 32N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,'
    '298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AUTHORITY["EPSG","4326"]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],'
    'PARAMETER["central_meridian",9],PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",'
    '500000],PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],'
    'AXIS["Easting",EAST],AXIS["Northing",NORTH],AUTHORITY["EPSG","32632"]]'
)

# WKT of the CF grid-mapping variable `spatial_ref` of the GeoZarr product (as rioxarray writes it).
CF_CRS_WKT = (
    'PROJCS["WGS 84 / UTM zone 32N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,'
    '298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG",'
    '"9122"]],AUTHORITY["EPSG","4326"]],PROJECTION["Transverse_Mercator"],PARAMETER['
    '"latitude_of_origin",0],PARAMETER["central_meridian",9],PARAMETER["scale_factor",0.9996],'
    'PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1],'
    'AXIS["Easting",EAST],AXIS["Northing",NORTH],AUTHORITY["EPSG","32632"]]'
)

SPATIAL_REF_ATTRS: dict[str, Any] = {
    "crs_wkt": CF_CRS_WKT,
    "false_easting": 500000.0,
    "false_northing": 0.0,
    "geographic_crs_name": "WGS 84",
    "grid_mapping_name": "transverse_mercator",
    "horizontal_datum_name": "World Geodetic System 1984",
    "inverse_flattening": 298.257223563,
    "latitude_of_projection_origin": 0.0,
    "longitude_of_central_meridian": 9.0,
    "longitude_of_prime_meridian": 0.0,
    "prime_meridian_name": "Greenwich",
    "projected_crs_name": "WGS 84 / UTM zone 32N",
    "reference_ellipsoid_name": "WGS 84",
    "scale_factor_at_central_meridian": 0.9996,
    "semi_major_axis": 6378137.0,
    "semi_minor_axis": 6356752.314245179,
    "spatial_ref": CF_CRS_WKT,
}

# Central wavelengths (nm) used in the `long_name` of each band.
CENTRAL_WAVELENGTH = {
    "b01": "442.7",
    "b02": "492.7",
    "b03": "559.8",
    "b04": "664.6",
    "b05": "704.1",
    "b06": "740.5",
    "b07": "782.8",
    "b08": "832.8",
    "b8a": "864.7",
    "b09": "945.1",
    "b11": "1613.7",
    "b12": "2202.4",
}


def long_name(band: str) -> str:
    wavelength = CENTRAL_WAVELENGTH[band]
    return f"BOA reflectance from MSI acquisition at spectral band {band} {wavelength} nm"


def _proj_transform(level: str) -> list[float]:
    return [*map(float, scene.transform(level)), 0.0, 0.0, 1.0]


def _proj_attrs(level: str) -> dict[str, Any]:
    """`proj:*` array attributes describing `level` (bbox = the sample extent)."""
    return {
        "proj:bbox": [float(v) for v in scene.BOUNDS],
        "proj:epsg": scene.EPSG,
        "proj:shape": list(scene.LEVELS[level][1]),
        "proj:transform": _proj_transform(level),
        "proj:wkt2": PROJ_WKT2,
    }


# ----------------------------------------------------------------------------------------------
# Native layout (zarr v2)

BLOSC_V2 = {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 2, "blocksize": 0}


def native_band_attrs(level: str, band: str) -> dict[str, Any]:
    name = long_name(band)
    return {
        "_ARRAY_DIMENSIONS": ["y", "x"],
        "_eopf_attrs": {
            "add_offset": scene.ADD_OFFSET,
            "coordinates": ["x", "y"],
            "dimensions": ["y", "x"],
            "dtype": "<u2",
            "eopf_is_masked": True,
            "eopf_target_dtype": "<f8",
            "fill_value": scene.NATIVE_FILL,
            "long_name": name,
            "scale_factor": scene.SCALE_FACTOR,
            "units": "digital_counts",
        },
        "add_offset": scene.ADD_OFFSET,
        "dtype": "<u2",
        "fill_value": scene.NATIVE_FILL,
        "long_name": name,
        **_proj_attrs(level),
        "scale_factor": scene.SCALE_FACTOR,
        "units": "digital_counts",
        "valid_max": 65535,
        "valid_min": 1,
    }


def native_chunks(level: str) -> tuple[int, int]:
    """Real chunks: 5490 x 5490 on the 10980 r10m arrays (half), whole array at r20m and r60m."""
    height, width = scene.LEVELS[level][1]
    if level == "r10m":
        return (height // 2, width // 2)
    return (height, width)


def stac_discovery() -> dict[str, Any]:
    """Trimmed `stac_discovery` root attribute (id keeps the real '.SAFE' suffix)."""
    minlon, minlat, maxlon, maxlat = scene.BOUNDS_LONLAT
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"{scene.ITEM_ID}.SAFE",
        "bbox": [minlon, minlat, maxlon, maxlat],
        "geometry": {"type": "Polygon", "coordinates": [scene.FOOTPRINT_LONLAT]},
        "links": [{"href": "./.zattrs.json", "rel": "self", "type": "application/json"}],
        "stac_extensions": [
            "https://stac-extensions.github.io/eopf/v1.0.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
            "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
            "https://stac-extensions.github.io/product/v0.1.0/schema.json",
        ],
        "properties": {
            "bands": [
                {
                    "name": "b01",
                    "common_name": "coastal",
                    "center_wavelength": 442.7,
                    "full_width_half_max": 0.02,
                },
                {
                    "name": "b02",
                    "common_name": "blue",
                    "center_wavelength": 492.7,
                    "full_width_half_max": 0.065,
                },
                {
                    "name": "b03",
                    "common_name": "green",
                    "center_wavelength": 559.8,
                    "full_width_half_max": 0.035,
                },
                {
                    "name": "b04",
                    "common_name": "red",
                    "center_wavelength": 664.6,
                    "full_width_half_max": 0.03,
                },
                {
                    "name": "b05",
                    "common_name": "rededge",
                    "center_wavelength": 704.1,
                    "full_width_half_max": 0.015,
                },
                {
                    "name": "b06",
                    "common_name": "rededge",
                    "center_wavelength": 740.5,
                    "full_width_half_max": 0.015,
                },
                {
                    "name": "b07",
                    "common_name": "rededge",
                    "center_wavelength": 782.8,
                    "full_width_half_max": 0.02,
                },
                {
                    "name": "b08",
                    "common_name": "nir",
                    "center_wavelength": 832.8,
                    "full_width_half_max": 0.105,
                },
                {
                    "name": "b8a",
                    "common_name": "nir08",
                    "center_wavelength": 864.7,
                    "full_width_half_max": 0.02,
                },
                {
                    "name": "b09",
                    "common_name": "nir09",
                    "center_wavelength": 945.1,
                    "full_width_half_max": 0.02,
                },
                {
                    "name": "b10",
                    "common_name": "cirrus",
                    "center_wavelength": 1373.5,
                    "full_width_half_max": 0.03,
                },
                {
                    "name": "b11",
                    "common_name": "swir16",
                    "center_wavelength": 1613.7,
                    "full_width_half_max": 0.09,
                },
                {
                    "name": "b12",
                    "common_name": "swir22",
                    "center_wavelength": 2202.4,
                    "full_width_half_max": 0.18,
                },
            ],
            "constellation": "sentinel-2",
            "created": "2025-10-08T12:26:13+00:00",
            "datetime": None,
            "start_datetime": "2025-10-08T10:00:41.024000+00:00",
            "end_datetime": "2025-10-08T10:00:41.024000+00:00",
            "eo:cloud_cover": 0.003839,
            "eopf:baseline": "05.11",
            "instrument": "msi",
            "mission": "copernicus",
            "platform": "sentinel-2a",
            "processing:level": "L2A",
            "product:type": "S02MSIL2A",
            "proj:bbox": [float(v) for v in scene.BOUNDS],
            "proj:epsg": scene.EPSG,
            "sat:relative_orbit": 122,
        },
    }


def other_metadata() -> dict[str, Any]:
    """`other_metadata` root attribute trimmed to a few keys."""
    return {
        "AOT_retrieval_model": "SEN2COR_DDV",
        "eopf_category": "eoproduct",
        "horizontal_CRS_code": "EPSG:32632",
        "horizontal_CRS_name": "WGS84 / UTM zone 32N",
        "mean_sensing_time": "2025-10-08T10:09:27.346626Z",
        "mean_sun_azimuth_angle_in_deg_for_all_bands_all_detectors": 163.595949089503,
        "mean_sun_zenith_angle_in_deg_for_all_bands_all_detectors": 49.3049375691464,
        "product_quality_status": "PASSED,PASSED,PASSED,PASSED,PASSED,PASSED",
    }


# ----------------------------------------------------------------------------------------------
# GeoZarr layout (zarr v3)

# base64 of the 8 little-endian bytes of a float64 NaN, as xarray writes `_FillValue` for zarr v3.
FILL_VALUE_NAN_B64 = "AAAAAAAA+H8="

# Real GeoZarr writes [0, 0, 0, 0] here (a bug of the converter); kept as-is.
SPATIAL_BBOX = [0.0, 0.0, 0.0, 0.0]

CONVENTION_MULTISCALES = {
    "description": "Multiscale layout of zarr datasets",
    "name": "multiscales",
    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/multiscales/refs/tags/v1/schema.json",
    "spec_url": "https://github.com/zarr-conventions/multiscales/blob/v1/README.md",
    "uuid": "d35379db-88df-4056-af3a-620245f8e347",
}
CONVENTION_SPATIAL = {
    "description": "Spatial coordinate information",
    "name": "spatial:",
    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/spatial/refs/tags/v1/schema.json",
    "spec_url": "https://github.com/zarr-conventions/spatial/blob/v1/README.md",
    "uuid": "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4",
}
CONVENTION_PROJ = {
    "description": "Coordinate reference system information for geospatial data",
    "name": "proj:",
    "schema_url": "https://raw.githubusercontent.com/zarr-experimental/geo-proj/refs/tags/v1/schema.json",
    "spec_url": "https://github.com/zarr-experimental/geo-proj/blob/v1/README.md",
    "uuid": "f17cb550-5864-4468-aeb7-f3180cfb622f",
}

# level -> level it is derived from (multiscales layout of the real product).
GEOZARR_DERIVED_FROM: dict[str, str | None] = {
    "r10m": None,
    "r20m": "r10m",
    "r60m": "r10m",
    "r120m": "r60m",
    "r360m": "r120m",
    "r720m": "r360m",
}

# Sharding: like the real product, one shard holds the whole array at every level except r360m,
# where the real shard (256) is smaller than the array (305), giving partial edge shards: 32 on 40
# here.  Inner chunks are small but not too many (zarr writes only ~3000 inner chunks per second):
# 10 x 10 per shard at r10m, 5 x 5 at r20m, 3 x 3 at r60m/r120m, one at r360m and r720m.  Block
# edges (288 px at r10m) fall on inner-chunk edges at r10m/r20m, not at r60m/r120m.
GEOZARR_SHARDS: dict[str, tuple[int, int]] = {
    "r10m": (1440, 1440),
    "r20m": (720, 720),
    "r60m": (240, 240),
    "r120m": (120, 120),
    "r360m": (32, 32),
    "r720m": (20, 20),
}
GEOZARR_INNER_CHUNKS: dict[str, tuple[int, int]] = {
    "r10m": (144, 144),
    "r20m": (144, 144),
    "r60m": (80, 80),
    "r120m": (40, 40),
    "r360m": (32, 32),
    "r720m": (20, 20),
}

# Levels whose x/y are int64 with a zstd-compressed spatial_ref (written from the native product);
# the others (computed by the converter) have float64 x/y with NaN fill and an uncompressed
# spatial_ref.
GEOZARR_NATIVE_LEVELS = ("r10m", "r20m", "r60m")


def multiscales() -> dict[str, Any]:
    layout: list[dict[str, Any]] = []
    for level, parent in GEOZARR_DERIVED_FROM.items():
        shape = list(scene.LEVELS[level][1])
        entry: dict[str, Any] = {"asset": level}
        if parent is not None:
            scale = scene.LEVELS[parent][1][0] / shape[0]
            entry["derived_from"] = parent
            entry["spatial:shape"] = shape
            entry["transform"] = {"scale": [scale, scale], "translation": [0.0, 0.0]}
        else:
            entry["spatial:shape"] = shape
        layout.append(entry)
    return {"layout": layout, "resampling_method": "average"}


def geozarr_reflectance_attrs() -> dict[str, Any]:
    return {
        "multiscales": multiscales(),
        "proj:code": f"EPSG:{scene.EPSG}",
        "spatial:bbox": list(SPATIAL_BBOX),
        "spatial:dimensions": ["y", "x"],
        "spatial:registration": "pixel",
        "zarr_conventions": [CONVENTION_MULTISCALES, CONVENTION_SPATIAL, CONVENTION_PROJ],
    }


def geozarr_level_attrs(level: str) -> dict[str, Any]:
    return {
        "grid_mapping": "spatial_ref",
        "proj:code": f"EPSG:{scene.EPSG}",
        "spatial:bbox": list(SPATIAL_BBOX),
        "spatial:dimensions": ["y", "x"],
        "spatial:registration": "pixel",
        "spatial:shape": list(scene.LEVELS[level][1]),
        "zarr_conventions": [CONVENTION_SPATIAL, CONVENTION_PROJ],
    }


def geozarr_proj_source_level(level: str, band: str) -> str:
    """Level whose grid the real product's `proj:shape`/`proj:transform` describe.

    Quirks of the real GeoZarr product: `b08` (native at r10m only) carries the r10m grid at every
    level, and the computed levels r120m/r360m/r720m carry the r60m grid.  Only r10m/r20m/r60m
    arrays of the other bands describe their own grid.
    """
    if band == "b08":
        return "r10m"
    if level in GEOZARR_NATIVE_LEVELS:
        return level
    return "r60m"


def geozarr_band_attrs(level: str, band: str) -> dict[str, Any]:
    return {
        "_FillValue": FILL_VALUE_NAN_B64,
        "grid_mapping": "spatial_ref",
        "long_name": long_name(band),
        **_proj_attrs(geozarr_proj_source_level(level, band)),
        "units": "1",
    }
