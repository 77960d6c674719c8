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

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BytesCodec, ZstdCodec

from . import scene

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

# ----------------------------------------------------------------------------------------------
# Sentinel-1 GRD RTC cube

COLLECTION_S1_RTC = scene.COLLECTION_S1_RTC
S1_RTC_ITEM_ID = scene.S1_RTC_ITEM_ID
S1_EPSG = 32631
S1_X0 = 299999.9999974121  # the real 31TCH origin, float error included
S1_Y0 = 4799999.99999915
# acquisitions per orbit group, in the order stored (not sorted); sub-second times
S1_TIMES: dict[str, tuple[str, ...]] = {
    "descending": (
        "2025-01-14T17:50:39.123456789",
        "2025-01-02T17:50:40.654321",
        "2025-01-08T17:42:11.5",
    ),
    "ascending": ("2025-01-11T06:05:22.75", "2025-01-05T06:05:23.25"),
}
S1_PLATFORMS = {"descending": ("S1A", "S1C", "S1A"), "ascending": ("S1C", "S1A")}
S1_RELATIVE_ORBITS = {"descending": (8, 110, 37), "ascending": (132, 30)}
S1_INNER = {"r10m": 120, "r20m": 60, "r60m": 20, "r120m": 10, "r360m": 10, "r720m": 5}
S1_BORDER_M = 360.0  # the first acquisition of each orbit group is NaN west of this (border)


def s1_second(orbit: str, index: int) -> str:
    """The acquisition time at second precision, as STAC renders write ``sel=time=...``."""
    return S1_TIMES[orbit][index][:19]


def s1_value(orbit: str, polarisation: str, index: int, level: str, row: int, col: int):
    """gamma0 (float32) of a pixel of acquisition ``index`` (stored order); None: NaN.

    vv = 0.02 (index + 1) + 0.01 (ascending) + 1e-7 (row * width + col); vh = vv / 4.
    """
    res, size = LEVELS[level]
    if index == 0 and col * res < S1_BORDER_M:
        return None
    vv = np.float32(0.02 * (index + 1) + (0.01 if orbit == "ascending" else 0.0))
    vv = np.float32(vv + np.float32(1e-7 * (row * size + col)))
    return float(vv if polarisation == "vv" else np.float32(vv / np.float32(4)))


def s1_pixel_centre(level: str, row: int, col: int) -> tuple[float, float]:
    """UTM (EPSG:32631) centre of a pixel of the cube."""
    res = LEVELS[level][0]
    return S1_X0 + (col + 0.5) * res, S1_Y0 - (row + 0.5) * res


def _s1_plane(orbit: str, polarisation: str, index: int, level: str) -> np.ndarray:
    res, size = LEVELS[level]
    rows, cols = np.mgrid[0:size, 0:size]
    vv = np.float32(0.02 * (index + 1) + (0.01 if orbit == "ascending" else 0.0))
    values = (vv + (1e-7 * (rows * size + cols)).astype(np.float32)).astype(np.float32)
    if polarisation == "vh":
        values = (values / np.float32(4)).astype(np.float32)
    if index == 0:
        values[:, cols[0] * res < S1_BORDER_M] = np.nan
    return values


@cache
def _cf_grid_mapping(epsg: int) -> dict:
    from pyproj import CRS

    attrs = CRS.from_epsg(epsg).to_cf()
    attrs["spatial_ref"] = attrs["crs_wkt"]
    attrs["_ARRAY_DIMENSIONS"] = []
    return attrs


def _spatial_ref(group, epsg: int, extra: dict | None = None) -> None:
    array = group.create_array(
        "spatial_ref",
        shape=(),
        dtype="int64",
        fill_value=0,
        compressors=ZstdCodec(level=0, checksum=False),
        attributes={**_cf_grid_mapping(epsg), **(extra or {})},
    )
    array[...] = 0


def _s1_transform(level: str) -> list[float]:
    res = float(LEVELS[level][0])
    return [res, 0.0, S1_X0, 0.0, -res, S1_Y0]


def _s1_layout() -> list[dict]:
    layout = []
    for level, (_res, size) in LEVELS.items():
        entry = {
            "asset": level,
            "spatial:shape": [size, size],
            "spatial:transform": _s1_transform(level),
        }
        if level in DERIVED_FROM:
            scale = LEVELS[DERIVED_FROM[level]][1] / size
            entry["derived_from"] = DERIVED_FROM[level]
            entry["transform"] = {"scale": [scale, scale], "translation": [0.0, 0.0]}
        else:
            entry["transform"] = {"scale": [1.0, 1.0]}
        layout.append(entry)
    return layout


def _coordinate(group, name: str, values: np.ndarray) -> None:
    long = {"x": "x coordinate of projection", "y": "y coordinate of projection"}[name]
    standard = {"x": "projection_x_coordinate", "y": "projection_y_coordinate"}[name]
    array = group.create_array(
        name,
        shape=values.shape,
        dtype="float64",
        fill_value=np.nan,
        compressors=ZstdCodec(level=0, checksum=False),
        dimension_names=[name],
        attributes={
            "_ARRAY_DIMENSIONS": [name],
            "long_name": long,
            "standard_name": standard,
            "units": "m",
        },
    )
    array[...] = values


def _vector(group, name: str, values: np.ndarray, attributes: dict | None = None) -> None:
    array = group.create_array(
        name,
        shape=values.shape,
        chunks=(512,),
        dtype=values.dtype,
        fill_value="" if values.dtype.kind == "U" else 0,
        compressors=ZstdCodec(level=0, checksum=False),
        dimension_names=["time"],
        attributes=attributes or {},
    )
    array[...] = values


def _write_s1_orbit(root, orbit: str) -> None:
    times = S1_TIMES[orbit]
    bbox = [S1_X0, S1_Y0 - SIZE_M, S1_X0 + SIZE_M, S1_Y0]
    group = root.create_group(
        orbit,
        attributes={
            "multiscales": {"layout": _s1_layout(), "resampling_method": "average"},
            "proj:code": f"EPSG:{S1_EPSG}",
            "spatial:bbox": bbox,
            "spatial:dimensions": ["y", "x"],
            "zarr_conventions": [CONVENTION_MULTISCALES, CONVENTION_PROJ, CONVENTION_SPATIAL],
        },
    )
    gamma = BloscCodec(cname="zstd", clevel=5, shuffle="shuffle", typesize=4, blocksize=0)
    bits = BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle", typesize=1, blocksize=0)
    nanos = np.array([np.datetime64(t, "ns").astype("int64") for t in times], dtype="int64")
    for level, (res, size) in LEVELS.items():
        level_group = group.create_group(
            level,
            attributes={
                "proj:code": f"EPSG:{S1_EPSG}",
                "spatial:shape": [size, size],
                "spatial:transform": _s1_transform(level),
            },
        )
        inner = S1_INNER[level]
        data = {
            pol: np.stack([_s1_plane(orbit, pol, i, level) for i in range(len(times))])
            for pol in ("vh", "vv")
        }
        for pol, values in data.items():
            array = level_group.create_array(
                pol,
                shape=values.shape,
                shards=(1, size, size),
                chunks=(1, inner, inner),
                dtype="float32",
                fill_value=np.nan,
                serializer=BytesCodec(endian="little"),
                compressors=gamma,
                dimension_names=["time", "y", "x"],
                attributes={
                    "_FillValue": FILL_NAN_B64,
                    "grid_mapping": "spatial_ref",
                    "standard_name": "surface_backwards_scattering_coefficient_of_radar_wave",
                    "units": "1",
                },
            )
            array[...] = values
        mask = level_group.create_array(
            "border_mask",
            shape=data["vv"].shape,
            shards=(1, size, size),
            chunks=(1, inner, inner),
            dtype="uint8",
            fill_value=0,
            serializer=BytesCodec(),
            compressors=bits,
            dimension_names=["time", "y", "x"],
            attributes={"grid_mapping": "spatial_ref"},
        )
        mask[...] = (~np.isnan(data["vv"])).astype("uint8")
        _spatial_ref(level_group, S1_EPSG)
        _vector(
            level_group,
            "time",
            nanos,
            {
                "_ARRAY_DIMENSIONS": ["time"],
                "calendar": "proleptic_gregorian",
                "standard_name": "time",
                "units": "nanoseconds since 1970-01-01",
            },
        )
        corners = np.arange(size) * float(res)  # x/y are pixel corners (x[0] = origin)
        _coordinate(level_group, "x", S1_X0 + corners)
        _coordinate(level_group, "y", S1_Y0 - corners)
        if level == "r10m":
            _vector(level_group, "platform", np.array(S1_PLATFORMS[orbit], dtype="<U4"))
            _vector(level_group, "relative_orbit", np.array(S1_RELATIVE_ORBITS[orbit], "int32"))
            absolute = np.array([56700 + 175 * k for k in range(len(times))], dtype="int32")
            _vector(level_group, "absolute_orbit", absolute)
    _write_s1_conditions(group, orbit)


def s1_gamma_area(relative_orbit: int, row: int, col: int) -> float:
    """``conditions/gamma_area_{orbit:03d}`` (r10m grid, no x/y: spatial:transform only)."""
    return float(np.float32(relative_orbit + 1e-3 * (row % 100) + 1e-5 * (col % 100)))


def _write_s1_conditions(group, orbit: str) -> None:
    res, size = LEVELS["r10m"]
    conditions = group.create_group(
        "conditions",
        attributes={
            "proj:code": f"EPSG:{S1_EPSG}",
            "spatial:dimensions": ["y", "x"],
            "spatial:shape": [size, size],
            "spatial:transform": _s1_transform("r10m"),
        },
    )
    rows, cols = np.mgrid[0:size, 0:size]
    codec = BloscCodec(cname="zstd", clevel=5, shuffle="shuffle", typesize=4, blocksize=0)
    for relative in sorted(S1_RELATIVE_ORBITS[orbit]):
        values = (relative + 1e-3 * (rows % 100) + 1e-5 * (cols % 100)).astype("float32")
        array = conditions.create_array(
            f"gamma_area_{relative:03d}",
            shape=values.shape,
            shards=(size, size),
            chunks=(S1_INNER["r10m"],) * 2,
            dtype="float32",
            fill_value=np.nan,
            serializer=BytesCodec(endian="little"),
            compressors=codec,
            dimension_names=["y", "x"],
            attributes={"_FillValue": FILL_NAN_B64, "grid_mapping": "spatial_ref"},
        )
        array[...] = values
    _spatial_ref(conditions, S1_EPSG)


def write_s1_rtc(path: Path, orbits: tuple[str, ...] = ("ascending", "descending")) -> None:
    """The RTC cube; ``orbits`` leaves an orbit group out (either one can be missing)."""
    store = zarr.storage.LocalStore(str(path))
    root = zarr.open_group(store, mode="w", zarr_format=3)
    for orbit in orbits:
        _write_s1_orbit(root, orbit)
    _consolidate(store)


# ----------------------------------------------------------------------------------------------
# Sentinel-2 L2A GeoZarr, as the production converter writes it, and its codecs variant

COLLECTION_S2_PRODUCTION = scene.COLLECTION_S2_PRODUCTION
COLLECTION_S2_CODECS = scene.COLLECTION_S2_CODECS
S2_BANDS: dict[str, list[str]] = {
    "r10m": ["b02", "b03", "b04", "b08"],
    "r20m": ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b11", "b12", "b8a"],
    **{
        level: ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b09", "b11", "b12", "b8a"]
        for level in ("r60m", "r120m", "r360m", "r720m")
    },
}
S2_DERIVED_FROM = {"r20m": "r10m", "r60m": "r10m", "r120m": "r60m", "r360m": "r120m"}
S2_DERIVED_FROM["r720m"] = "r360m"
S2_NATIVE_LEVELS = ("r10m", "r20m", "r60m")
# one shard per array, except r360m: shards of 8 over 10 pixels (the real 256 over 305)
S2_SHARDS = {"r10m": 360, "r20m": 180, "r60m": 60, "r120m": 30, "r360m": 8, "r720m": 5}
S2_INNER = {"r10m": 60, "r20m": 60, "r60m": 20, "r120m": 10, "r360m": 8, "r720m": 5}
S2_NODATA_M = 3240.0  # pixels whose north-west corner is this far east and south: nodata
S2_ATMOSPHERE_LEVELS = ("r10m", "r20m", "r60m")
S2_MASK_BANDS = {"r10m": ["b02", "b03", "b04", "b08"], "r20m": ["b05", "b11"], "r60m": ["b01"]}


def s2_dn(band: str, level: str, row: int, col: int) -> int | None:
    """Digital number (uint16) of a reflectance pixel; None: nodata."""
    res = LEVELS[level][0]
    if row * res >= S2_NODATA_M and col * res >= S2_NODATA_M:
        return None
    return scene.BAND_BASE[band] + 400 * (row % 64) + col


def s2_reflectance(band: str, level: str, row: int, col: int) -> float | None:
    """float32 reflectance as the production product stores it (DN * 1e-4 - 0.1)."""
    dn = s2_dn(band, level, row, col)
    return None if dn is None else float(np.float32(dn * scene.SCALE_FACTOR + scene.ADD_OFFSET))


def s2_codecs_reflectance(band: str, level: str, row: int, col: int) -> float | None:
    """float32 reflectance as the codecs decode it (uint16 DN / 10000 + -0.1 in float32)."""
    dn = s2_dn(band, level, row, col)
    if dn is None:
        return None
    return float(np.float32(np.float32(dn) / np.float32(10000.0) + np.float32(-0.1)))


def s2_pixel_centre(level: str, row: int, col: int) -> tuple[float, float]:
    """UTM (EPSG:32632) centre of a pixel of the S2 samples."""
    res = LEVELS[level][0]
    return scene.X0 + (col + 0.5) * res, scene.Y0 - (row + 0.5) * res


def s2_aot(row: int, col: int, level: str) -> int:
    """``quality/atmosphere:aot`` (uint16, unsharded); wvp = aot + 1000."""
    return 100 + LEVELS[level][0] + (row % 50) * 3 + col % 3


def s2_mask(row: int, col: int) -> int:
    """``quality/mask`` bands (uint8, unsharded): a bit per (row + col) % 8."""
    return 1 << ((row + col) % 8)


def _s2_dn_plane(band: str, level: str) -> np.ndarray:
    res, size = LEVELS[level]
    rows, cols = np.mgrid[0:size, 0:size]
    dn = scene.BAND_BASE[band] + 400 * (rows % 64) + cols
    dn[(rows * res >= S2_NODATA_M) & (cols * res >= S2_NODATA_M)] = 0
    return dn.astype("uint16")


def _s2_transform(level: str, later: bool) -> list[float]:
    """Production: derived levels' origin is the centre of their first pixel (half a pixel
    off); later converters write the corner."""
    res = float(LEVELS[level][0])
    half = 0.0 if (later or level == "r10m") else res / 2
    return [res, 0.0, scene.X0 + half, 0.0, -res, scene.Y0 - half]


def _s2_bbox(level: str) -> list[float]:
    """The production spatial:bbox (pixel centres' extent)."""
    res = float(LEVELS[level][0])
    half = res / 2
    return [scene.X0 + half, scene.Y0 - SIZE_M + half, scene.X0 + SIZE_M - half, scene.Y0 - half]


def _conventions(names: tuple[dict, ...], later: bool) -> list[dict]:
    return [later_convention(c) if later else dict(c) for c in names]


def _s2_level_attrs(level: str, later: bool) -> dict:
    return {
        "grid_mapping": "spatial_ref",
        "proj:code": f"EPSG:{scene.EPSG}",
        "spatial:bbox": _s2_bbox(level),
        "spatial:dimensions": ["y", "x"],
        "spatial:registration": "pixel",
        "spatial:shape": [LEVELS[level][1]] * 2,
        "spatial:transform": _s2_transform(level, later),
        "zarr_conventions": _conventions((CONVENTION_SPATIAL, CONVENTION_PROJ), later),
    }


def _s2_layout(later: bool) -> list[dict]:
    layout = []
    for level, (_, size) in LEVELS.items():
        entry = {
            "asset": level,
            "spatial:shape": [size, size],
            "spatial:transform": _s2_transform(level, later),
        }
        if level in S2_DERIVED_FROM:
            scale = LEVELS[S2_DERIVED_FROM[level]][1] / size
            entry["derived_from"] = S2_DERIVED_FROM[level]
            entry["transform"] = {"scale": [scale, scale], "translation": [0.0, 0.0]}
        layout.append(entry)
    return layout


def _s2_band_attrs(level: str, band: str) -> dict:
    """Stale proj:* from r60m on the levels the converter computes (r120m and coarser)."""
    source = level if level in S2_NATIVE_LEVELS else "r60m"
    res, size = LEVELS[source]
    return {
        "_FillValue": FILL_NAN_B64,
        "grid_mapping": "spatial_ref",
        "long_name": f"BOA reflectance from MSI acquisition at spectral band {band}",
        "proj:bbox": [scene.X0, scene.Y0 - SIZE_M, scene.X0 + SIZE_M, scene.Y0],
        "proj:epsg": scene.EPSG,
        "proj:shape": [size, size],
        "proj:transform": [res, 0.0, scene.X0, 0.0, -res, scene.Y0, 0.0, 0.0, 1.0],
        "units": "1",
    }


def _s2_coordinates(group, level: str) -> None:
    res, size = LEVELS[level]
    centres = (np.arange(size) + 0.5) * res
    native = level in S2_NATIVE_LEVELS
    for name, values in (("x", scene.X0 + centres), ("y", scene.Y0 - centres)):
        array = group.create_array(
            name,
            shape=values.shape,
            dtype="int64" if native else "float64",
            fill_value=0 if native else np.nan,
            serializer=BytesCodec(endian="little"),
            compressors=None,
            dimension_names=[name],
            attributes={} if native else {"_FillValue": FILL_NAN_B64},
        )
        array[...] = values.astype("int64") if native else values


def _s2_reflectance(group, level: str, band: str, codecs: bool) -> None:
    size, shard, inner = LEVELS[level][1], S2_SHARDS[level], S2_INNER[level]
    dn = _s2_dn_plane(band, level)
    common = {
        "shape": (size, size),
        "shards": (shard, shard),
        "chunks": (inner, inner),
        "serializer": BytesCodec(endian="little"),
        "dimension_names": ["y", "x"],
        "attributes": _s2_band_attrs(level, band),
    }
    if not codecs:
        values = dn * scene.SCALE_FACTOR + scene.ADD_OFFSET
        values[dn == 0] = np.nan
        array = group.create_array(
            band,
            dtype="float32",
            fill_value=np.nan,
            compressors=BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=4),
            **common,
        )
        array[...] = values.astype("float32")
        return
    # the stored bytes: uint16 DN; the metadata of the float32 array they decode to comes after
    # consolidation (zarr cannot even parse cast_value metadata without cast-value-rs)
    array = group.create_array(
        band,
        dtype="uint16",
        fill_value=0,
        compressors=BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=2),
        **common,
    )
    array[...] = dn


def _with_codecs(meta: dict) -> dict:
    """uint16 array metadata -> float32 with scale_offset + cast_value inside the shards."""
    meta = {**meta, "data_type": "float32", "fill_value": "NaN"}
    sharding = meta["codecs"][0]["configuration"]
    sharding["codecs"] = [
        {"name": "scale_offset", "configuration": {"offset": -0.1, "scale": 10000.0}},
        {
            "name": "cast_value",
            "configuration": {
                "data_type": "uint16",
                "scalar_map": {"decode": [[0, "NaN"]], "encode": [["NaN", 0]]},
            },
        },
        *sharding["codecs"],
    ]
    return meta


def _apply_codecs(root: Path) -> None:
    """Give every reflectance array (and its consolidated copy) the codec chain."""
    top = json.loads((root / "zarr.json").read_text())
    consolidated = top["consolidated_metadata"]["metadata"]
    for path in list(consolidated):
        if (
            path.startswith("measurements/reflectance/")
            and path.rsplit("/", 1)[1] in scene.BAND_BASE
        ):
            consolidated[path] = _with_codecs(consolidated[path])
            meta_path = root / path / "zarr.json"
            meta_path.write_text(json.dumps(_with_codecs(json.loads(meta_path.read_text()))))
    (root / "zarr.json").write_text(json.dumps(top))


def _write_s2_quality(root) -> None:
    blosc2 = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=2, blocksize=0)
    blosc1 = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=1, blocksize=0)
    quality = root.create_group("quality")
    for kind, levels in (("atmosphere", S2_ATMOSPHERE_LEVELS), ("mask", tuple(S2_MASK_BANDS))):
        parent = quality.create_group(kind)
        for level in levels:
            size = LEVELS[level][1]
            group = parent.create_group(level, attributes=_s2_level_attrs(level, later=False))
            rows, cols = np.mgrid[0:size, 0:size]
            if kind == "atmosphere":
                aot = 100 + LEVELS[level][0] + (rows % 50) * 3 + cols % 3
                planes = {"aot": aot.astype("uint16"), "wvp": (aot + 1000).astype("uint16")}
            else:
                mask = np.left_shift(1, (rows + cols) % 8).astype("uint8")
                planes = {band: mask for band in S2_MASK_BANDS[level]}
            for name, values in planes.items():
                attrs = {"grid_mapping": "spatial_ref"}
                if kind == "atmosphere":
                    attrs.update({"_FillValue": 0, "scale_factor": 0.001, "add_offset": 0.0})
                array = group.create_array(
                    name,
                    shape=values.shape,
                    chunks=values.shape,  # unsharded
                    dtype=values.dtype,
                    fill_value=0,
                    serializer=BytesCodec(endian="little") if kind == "atmosphere" else "auto",
                    compressors=blosc2 if kind == "atmosphere" else blosc1,
                    dimension_names=["y", "x"],
                    attributes=attrs,
                )
                array[...] = values
            _spatial_ref(group, scene.EPSG)
            _s2_coordinates(group, level)


def write_s2_production(path: Path, codecs: bool = False, later: bool = False) -> None:
    """The production GeoZarr (``codecs``: the staging-codecs variant; ``later``: as a later
    converter writes it, half pixel fixed and conventions under new names and URLs)."""
    store = zarr.storage.LocalStore(str(path))
    lonlat = list(scene.BOUNDS_LONLAT)
    root = zarr.open_group(
        store,
        mode="w",
        zarr_format=3,
        attributes={"proj:code": "EPSG:4326", "spatial:bbox": lonlat},
    )
    reflectance = root.create_group("measurements").create_group(
        "reflectance",
        attributes={
            "multiscales": {"layout": _s2_layout(later), "resampling_method": "average"},
            "proj:code": f"EPSG:{scene.EPSG}",
            "spatial:bbox": _s2_bbox("r10m"),
            "spatial:dimensions": ["y", "x"],
            "spatial:registration": "pixel",
            "zarr_conventions": _conventions(
                (CONVENTION_MULTISCALES, CONVENTION_SPATIAL, CONVENTION_PROJ), later
            ),
        },
    )
    for level, bands in S2_BANDS.items():
        group = reflectance.create_group(level, attributes=_s2_level_attrs(level, later))
        for band in bands:
            _s2_reflectance(group, level, band, codecs)
        stale = {}
        if level not in S2_NATIVE_LEVELS and not later:  # r60m's (already half-pixel-off) grid
            a, _, c, _, e, f = _s2_transform("r60m", later=False)
            stale = {"GeoTransform": f"{c} {a} 0.0 {f} 0.0 {e}"}
        _spatial_ref(group, scene.EPSG, stale)
        _s2_coordinates(group, level)
    _write_s2_quality(root)
    _consolidate(store)
    if codecs:
        _apply_codecs(Path(path))


def write_s2_codecs(path: Path) -> None:
    write_s2_production(path, codecs=True)


def _consolidate(store) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated metadata is not in the v3 spec
        zarr.consolidate_metadata(store, zarr_format=3)
