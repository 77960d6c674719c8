"""The Sentinel-2 GeoZarr samples as the production converter writes them, with and without the
experimental codecs (see :mod:`eopf_sample.explorer`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BytesCodec

from . import scene
from .zarr3 import (
    CONVENTION_MULTISCALES,
    CONVENTION_PROJ,
    CONVENTION_SPATIAL,
    FILL_NAN_B64,
    LEVELS,
    SIZE_M,
    consolidate,
    later_convention,
    spatial_ref,
)

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
            spatial_ref(group, scene.EPSG)
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
        spatial_ref(group, scene.EPSG, stale)
        _s2_coordinates(group, level)
    _write_s2_quality(root)
    consolidate(store)
    if codecs:
        _apply_codecs(Path(path))


def write_s2_codecs(path: Path) -> None:
    write_s2_production(path, codecs=True)
