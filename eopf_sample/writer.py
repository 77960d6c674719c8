"""Write the two sample products (native ESA layout, zarr v2; GeoZarr layout, zarr v3)."""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import numcodecs
import numpy as np
import zarr
from zarr.codecs import BloscCodec, BytesCodec, ZstdCodec

from . import explorer, groups, scene, structure

# ----------------------------------------------------------------------------------------------
# Pixel values


def native_dn(level: str, band: str) -> np.ndarray:
    """uint16 digital numbers of ``band`` on the grid of ``level`` (0 = nodata)."""
    res, (height, width) = scene.LEVELS[level]
    # Block index of each pixel (block edges fall on pixel edges at every level).
    cols = (np.arange(width) * res) // int(scene.BLOCK_M)
    rows = (np.arange(height) * res) // int(scene.BLOCK_M)
    dn = scene.BAND_BASE[band] + scene.BLOCK_STEP * (scene.GRID * rows[:, None] + cols[None, :])
    nodata = (rows[:, None] == scene.NODATA_BLOCK[0]) & (cols[None, :] == scene.NODATA_BLOCK[1])
    dn = np.where(nodata, scene.NATIVE_FILL, dn)
    return dn.astype(np.uint16)


def reflectance_f64(level: str, band: str) -> np.ndarray:
    """float64 reflectance (DN * 0.0001 - 0.1, NaN for nodata) on the grid of ``level``."""
    dn = native_dn(level, band)
    refl = dn.astype(np.float64) * scene.SCALE_FACTOR + scene.ADD_OFFSET
    refl[dn == scene.NATIVE_FILL] = np.nan
    return refl


def coarsen_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Block mean by an integer factor (NaN propagates, like the converter's 'average')."""
    height, width = values.shape
    if height % factor or width % factor:
        raise ValueError(f"shape {values.shape} not divisible by {factor}")
    return values.reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))


def geozarr_reflectance(level: str, band: str, _cache: dict | None = None) -> np.ndarray:
    """float64 reflectance of a GeoZarr level.

    r10m/r20m/r60m come from the scene at their own resolution (what the converter copies from the
    native product); r120m/r360m/r720m are the average of the level they are derived from.
    """
    if level in structure.GEOZARR_NATIVE_LEVELS:
        return reflectance_f64(level, band)
    parent = structure.GEOZARR_DERIVED_FROM[level]
    assert parent is not None
    if _cache is not None and (parent, band) in _cache:
        finer = _cache[(parent, band)]
    else:
        finer = geozarr_reflectance(parent, band, _cache)
    factor = scene.LEVELS[parent][1][0] // scene.LEVELS[level][1][0]
    return coarsen_mean(finer, factor)


def _centres(level: str) -> tuple[np.ndarray, np.ndarray]:
    res, (height, width) = scene.LEVELS[level]
    xs = scene.X0 + (np.arange(width) + 0.5) * res
    ys = scene.Y0 - (np.arange(height) + 0.5) * res
    return xs, ys


# ----------------------------------------------------------------------------------------------
# Native layout


def write_native(path: Path) -> None:
    """Write the native (ESA EOPF, zarr v2) product at ``path`` (must not exist or be empty)."""
    store = zarr.storage.LocalStore(str(path))
    root = zarr.open_group(store, mode="w", zarr_format=2)
    root.attrs.update(
        {"other_metadata": structure.other_metadata(), "stac_discovery": structure.stac_discovery()}
    )
    root.create_group("conditions")
    root.create_group("quality")
    reflectance = root.create_group("measurements").create_group("reflectance")
    compressor = numcodecs.Blosc(**{k: v for k, v in structure.BLOSC_V2.items() if k != "id"})
    v2_keys = {"name": "v2", "configuration": {"separator": "."}}
    for level, bands in scene.NATIVE_BANDS.items():
        group = reflectance.create_group(level)
        shape = scene.LEVELS[level][1]
        for band in bands:
            arr = group.create_array(
                band,
                shape=shape,
                chunks=structure.native_chunks(level),
                dtype="<u2",
                fill_value=scene.NATIVE_FILL,
                compressors=compressor,
                filters=None,
                order="C",
                chunk_key_encoding=v2_keys,
                attributes=structure.native_band_attrs(level, band),
            )
            arr[...] = native_dn(level, band)
        xs, ys = _centres(level)
        for name, values in (("x", xs), ("y", ys)):
            arr = group.create_array(
                name,
                shape=values.shape,
                chunks=values.shape,
                dtype="<i8",
                fill_value=None,
                compressors=compressor,
                filters=None,
                order="C",
                chunk_key_encoding=v2_keys,
                attributes={"_ARRAY_DIMENSIONS": [name]},
            )
            arr[...] = values.astype(np.int64)
    groups.write_groups(
        path,
        groups.load_full("l2a-native"),
        skip=("measurements/reflectance",),
        lonlat=scene.BOUNDS_LONLAT,
    )
    zarr.consolidate_metadata(store, zarr_format=2)


# ----------------------------------------------------------------------------------------------
# GeoZarr layout


def write_geozarr(path: Path) -> None:
    """Write the GeoZarr (zarr v3) product at ``path`` (must not exist or be empty)."""
    store = zarr.storage.LocalStore(str(path))
    root = zarr.open_group(store, mode="w", zarr_format=3)
    root.create_group("conditions")
    root.create_group("quality")
    reflectance = root.create_group("measurements").create_group(
        "reflectance", attributes=structure.geozarr_reflectance_attrs()
    )
    blosc = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=4, blocksize=0)
    cache: dict[tuple[str, str], np.ndarray] = {}
    for level, bands in scene.GEOZARR_BANDS.items():
        group = reflectance.create_group(level, attributes=structure.geozarr_level_attrs(level))
        shape = scene.LEVELS[level][1]
        for band in bands:
            values = geozarr_reflectance(level, band, cache)
            if level not in ("r10m", "r20m"):  # parents of the computed levels (small arrays)
                cache[(level, band)] = values
            arr = group.create_array(
                band,
                shape=shape,
                shards=structure.GEOZARR_SHARDS[level],
                chunks=structure.GEOZARR_INNER_CHUNKS[level],
                dtype="float32",
                fill_value=np.nan,
                serializer=BytesCodec(endian="little"),
                compressors=blosc,
                dimension_names=["y", "x"],
                attributes=structure.geozarr_band_attrs(level, band),
            )
            arr[...] = values.astype(np.float32)
        native_level = level in structure.GEOZARR_NATIVE_LEVELS
        spatial_ref = group.create_array(
            "spatial_ref",
            shape=(),
            dtype="int64",
            fill_value=0,
            serializer=BytesCodec(endian="little"),
            compressors=ZstdCodec(level=0, checksum=False) if native_level else None,
            attributes=dict(structure.SPATIAL_REF_ATTRS),
        )
        spatial_ref[...] = 0
        xs, ys = _centres(level)
        for name, values in (("x", xs), ("y", ys)):
            arr = group.create_array(
                name,
                shape=values.shape,
                chunks=values.shape,
                dtype="int64" if native_level else "float64",
                fill_value=0 if native_level else np.nan,
                serializer=BytesCodec(endian="little"),
                compressors=None,
                dimension_names=[name],
                attributes={} if native_level else {"_FillValue": structure.FILL_VALUE_NAN_B64},
            )
            arr[...] = values.astype(np.int64) if native_level else values
    groups.write_groups(
        path,
        groups.load_full("l2a-geozarr"),
        skip=("measurements/reflectance",),
        lonlat=scene.BOUNDS_LONLAT,
    )
    write_time_series(root)
    with warnings.catch_warnings():
        # "Consolidated metadata is currently not part in the Zarr format 3 specification"
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(store, zarr_format=3)


def time_series_value(date_index: int, row: int, col: int) -> float | None:
    """``/measurements/time_series:ndvi`` at a block on a date (None: nodata block)."""
    if (row, col) == scene.NODATA_BLOCK:
        return None
    return float(np.float32(date_index + 0.01 * (scene.GRID * row + col)))


def write_time_series(root) -> None:
    """A GeoZarr group with a (time, y, x) variable, as multi-date products will have.

    No real EOPF product has one yet: r60m grid, dates :data:`scene.TIME_SERIES_DATES`, values
    :func:`time_series_value`.
    """
    level = "r60m"
    group = root.require_group("measurements").create_group(
        "time_series", attributes=structure.geozarr_level_attrs(level)
    )
    _, (height, width) = scene.LEVELS[level]
    rows, cols = groups.block_index(height, width)
    tables = np.array(
        [
            [
                [
                    np.nan if (v := time_series_value(t, r, c)) is None else v
                    for c in range(scene.GRID)
                ]
                for r in range(scene.GRID)
            ]
            for t in range(len(scene.TIME_SERIES_DATES))
        ],
        dtype=np.float32,
    )
    data = tables[:, rows, cols]
    arr = group.create_array(
        "ndvi",
        shape=data.shape,
        chunks=(1, height, width),
        dtype="float32",
        fill_value=np.nan,
        dimension_names=["time", "y", "x"],
        attributes={
            "grid_mapping": "spatial_ref",
            "long_name": "NDVI (sample time series)",
            "_FillValue": structure.FILL_VALUE_NAN_B64,
        },
    )
    arr[...] = data
    days = np.array(
        [
            (np.datetime64(d) - np.datetime64(scene.TIME_SERIES_DATES[0])).astype(int)
            for d in scene.TIME_SERIES_DATES
        ],
        dtype="int64",
    )
    time = group.create_array(
        "time",
        shape=days.shape,
        dtype="int64",
        fill_value=0,
        dimension_names=["time"],
        attributes={
            "units": f"days since {scene.TIME_SERIES_DATES[0]}",
            "calendar": "proleptic_gregorian",
            "standard_name": "time",
        },
    )
    time[...] = days
    spatial_ref = group.create_array(
        "spatial_ref",
        shape=(),
        dtype="int64",
        fill_value=0,
        attributes=dict(structure.SPATIAL_REF_ATTRS),
    )
    spatial_ref[...] = 0
    xs, ys = _centres(level)
    for name, values in (("x", xs), ("y", ys)):
        coord = group.create_array(
            name, shape=values.shape, dtype="int64", fill_value=0, dimension_names=[name]
        )
        coord[...] = values.astype(np.int64)


def write_whole(name: str, path: Path, lonlat=None) -> None:
    """A product written entirely from its structure dump (L1C native, S1 GRD)."""
    dump = groups.load_full(name)
    fmt = dump["zarr_format"]
    store = zarr.storage.LocalStore(str(path))
    zarr.open_group(store, mode="w", zarr_format=fmt, attributes=dump.get("attributes", {}))
    groups.write_groups(path, dump, lonlat=lonlat)
    zarr.consolidate_metadata(store, zarr_format=fmt)


def write_l1c(path: Path) -> None:
    write_whole("l1c-native", path, lonlat=scene.L1C_BOUNDS_LONLAT)


def write_s1(path: Path) -> None:
    write_whole("s1-grd", path)


# ----------------------------------------------------------------------------------------------
# Products on disk


def product_path(out_dir: str | os.PathLike, collection: str) -> Path:
    """``<out_dir>/<collection>/<item id>.zarr``."""
    return Path(out_dir) / collection / f"{scene.ITEM_IDS[collection]}.zarr"


WRITERS: dict[str, Callable[[Path], None]] = {
    scene.COLLECTION_NATIVE: write_native,
    scene.COLLECTION_GEOZARR: write_geozarr,
    scene.COLLECTION_L1C: write_l1c,
    scene.COLLECTION_S1: write_s1,
    scene.COLLECTION_S1_RTC: explorer.write_s1_rtc,
    scene.COLLECTION_S2_PRODUCTION: explorer.write_s2_production,
    scene.COLLECTION_S2_CODECS: explorer.write_s2_codecs,
}


def _write_atomically(dest: Path, writer: Callable[[Path], None], force: bool = True) -> bool:
    """Write into a hidden sibling directory, then rename it to ``dest``.

    An interrupted or failed write leaves no ``dest`` (and removes its temporary directory unless
    the process is killed outright).  If ``dest`` appeared meanwhile (another process) and not
    ``force``, the new copy is discarded.  Returns whether ``dest`` was (re)written.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = dest.with_name(f".{dest.name}.tmp-{token}")
    tmp.mkdir()
    try:
        writer(tmp)
        if dest.exists():
            if not force:
                shutil.rmtree(tmp, ignore_errors=True)
                return False
            old = dest.with_name(f".{dest.name}.old-{token}")
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def write_samples(
    out_dir: str | os.PathLike = "data",
    force: bool = False,
    log: Callable[[str], None] | None = print,
) -> list[Path]:
    """Write both sample products under ``out_dir``; return their paths (native, GeoZarr).

    A product that already exists is skipped unless ``force``.
    """
    paths = []
    for collection, writer in WRITERS.items():
        dest = product_path(out_dir, collection)
        if dest.exists() and not force:
            if log:
                log(f"skip {dest} (already exists; --force rewrites it)")
        elif _write_atomically(dest, writer, force=force):
            if log:
                log(f"wrote {dest}")
        elif log:
            log(f"skip {dest} (written meanwhile by another process)")
        paths.append(dest)
    return paths
