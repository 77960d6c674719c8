"""The Sentinel-1 GRD RTC sample cube (see :mod:`eopf_sample.explorer`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BytesCodec, ZstdCodec

from . import scene
from .zarr3 import (
    CONVENTION_MULTISCALES,
    CONVENTION_PROJ,
    CONVENTION_SPATIAL,
    DERIVED_FROM,
    FILL_NAN_B64,
    LEVELS,
    SIZE_M,
    consolidate,
    later_convention,
    spatial_ref,
)

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


def _write_s1_orbit(root, orbit: str, later: bool) -> None:
    times = S1_TIMES[orbit]
    bbox = [S1_X0, S1_Y0 - SIZE_M, S1_X0 + SIZE_M, S1_Y0]
    group = root.create_group(
        orbit,
        attributes={
            "multiscales": {"layout": _s1_layout(), "resampling_method": "average"},
            "proj:code": f"EPSG:{S1_EPSG}",
            "spatial:bbox": bbox,
            "spatial:dimensions": ["y", "x"],
            "zarr_conventions": [
                later_convention(c) if later else dict(c)
                for c in (CONVENTION_MULTISCALES, CONVENTION_PROJ, CONVENTION_SPATIAL)
            ],
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
        spatial_ref(level_group, S1_EPSG)
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
    spatial_ref(conditions, S1_EPSG)


def write_s1_rtc(
    path: Path, orbits: tuple[str, ...] = ("ascending", "descending"), later: bool = False
) -> None:
    """The RTC cube; ``orbits`` leaves an orbit group out (either one can be missing);
    ``later``: its conventions under other names and URLs (same uuids), as later writers."""
    store = zarr.storage.LocalStore(str(path))
    root = zarr.open_group(store, mode="w", zarr_format=3)
    for orbit in orbits:
        _write_s1_orbit(root, orbit, later)
    consolidate(store)
