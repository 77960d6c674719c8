"""Full-size EOPF products for benchmarks, written from the structures of real products.

``python -m eopf_sample.fullsize [--out DIR] [--force] [--only NAME ...]`` (``make bench-data``)
writes, under DIR (default ``$TITILER_EOPF_BENCH_DATA`` or ``~/.cache/titiler-eopf/bench-data``):

- ``sentinel-2-l2a/<L2A>.zarr``           native ESA layout (zarr v2), 10980 x 10980 at r10m
- ``sentinel-2-l2a-geozarr/<L2A>.zarr``   GeoZarr (zarr v3, sharded), r10m ... r720m
- ``sentinel-2-l1c/<L1C>.zarr``           native L1C: every band only at its own resolution
- ``sentinel-2-l1c-geozarr/<L1C>.zarr``   L1C converted as the GeoZarr converter does (below)

Every array of ``measurements/reflectance`` gets exactly the metadata of the real product
(shape, chunks or shards, codecs, dtype, fill value, attributes), copied from the structure dumps
kept in ``eopf_sample/structures/`` (trimmed copies of ../shared/eopf-structures). Other groups
(conditions, quality) are left out: benchmarks read reflectance only.

The L1C GeoZarr product is derived like the converter derived the L2A one: the same levels,
shards and inner chunks per level; a level holds every band whose native resolution is at least as
fine as the level (r20m gets b02/b03/b04/b08 averaged from r10m, r60m and coarser get all 13).

Values: a smooth field plus a few bits of hashed noise (compression ratios like real reflectance),
with a nodata triangle in the south-east corner; :func:`expected_dn` predicts any pixel.
Arrays are written chunk by chunk (GeoZarr shards are assembled inner chunk by inner chunk), so
memory stays at one native chunk per array whatever the product size.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numcodecs
import numpy as np

STRUCTURES = Path(__file__).with_name("structures")
REFLECTANCE = "measurements/reflectance"
SCALE_FACTOR = 0.0001
ADD_OFFSET = -0.1
MAX_UINT_64 = 2**64 - 1

L2A_ID = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
L1C_ID = "S2B_MSIL1C_20250113T103309_N0511_R108_T32TLQ_20250113T122458"

# Native resolution (m) of each band (where the L1C native product holds it).
BAND_RESOLUTION = {
    "b01": 60,
    "b02": 10,
    "b03": 10,
    "b04": 10,
    "b05": 20,
    "b06": 20,
    "b07": 20,
    "b08": 10,
    "b8a": 20,
    "b09": 60,
    "b10": 60,
    "b11": 20,
    "b12": 20,
}
BAND_BASE = {
    "b01": 1200,
    "b02": 1500,
    "b03": 1800,
    "b04": 2100,
    "b05": 2400,
    "b06": 2700,
    "b07": 3000,
    "b08": 3300,
    "b8a": 3600,
    "b09": 3900,
    "b10": 1000,
    "b11": 4200,
    "b12": 4500,
}
NOISE_BITS = 5  # +-16 DN of noise: real 10 m reflectance compresses ~2x with blosc zstd


@dataclass(frozen=True)
class FullProduct:
    name: str  # l2a-native, l2a-geozarr, l1c-native, l1c-geozarr
    collection: str
    item_id: str

    @property
    def layout(self) -> str:
        return self.name.split("-")[1]


PRODUCTS = {
    p.name: p
    for p in (
        FullProduct("l2a-native", "sentinel-2-l2a", L2A_ID),
        FullProduct("l2a-geozarr", "sentinel-2-l2a-geozarr", L2A_ID),
        FullProduct("l1c-native", "sentinel-2-l1c", L1C_ID),
        FullProduct("l1c-geozarr", "sentinel-2-l1c-geozarr", L1C_ID),
    )
}


def default_out_dir() -> Path:
    env = os.environ.get("TITILER_EOPF_BENCH_DATA")
    return Path(env) if env else Path.home() / ".cache" / "titiler-eopf" / "bench-data"


def product_path(out_dir: str | os.PathLike, name: str) -> Path:
    product = PRODUCTS[name]
    return Path(out_dir) / product.collection / f"{product.item_id}.zarr"


# ----------------------------------------------------------------------------------------------
# Structures


@cache
def load_structure(name: str) -> dict:
    """A trimmed structure dump: root attributes + ``measurements/reflectance``."""
    if name == "l1c-geozarr":
        return derive_l1c_geozarr()
    with gzip.open(STRUCTURES / f"{name}.json.gz", "rt") as f:
        return json.load(f)


def reflectance_node(structure: dict) -> dict:
    return structure["members"]["measurements"]["members"]["reflectance"]


def _level_resolution(level: str) -> int:
    return int(level.strip("rm"))


def derive_l1c_geozarr() -> dict:
    """The L1C product in GeoZarr layout, as the converter lays out the L2A one.

    Levels, shards, inner chunks, codecs and group attributes come from the L2A GeoZarr dump;
    band attributes from the L2A GeoZarr band (b09's for b10, which L2A lacks), re-anchored on
    the L1C tile's origin and named as in the L1C product; x/y from the L1C grid.
    """
    l2a = copy.deepcopy(load_structure("l2a-geozarr"))
    l1c = load_structure("l1c-native")
    l1c_levels = reflectance_node(l1c)["members"]
    l1c_band_attrs = {
        band: node["attributes"]
        for level in l1c_levels.values()
        for band, node in level["members"].items()
        if band in BAND_RESOLUTION
    }
    l1c_origin = l1c_band_attrs["b02"]["proj:transform"]
    l2a_levels = reflectance_node(l2a)["members"]
    templates = copy.deepcopy(l2a_levels)
    l2a_origin = l2a_levels["r10m"]["members"]["b02"]["attributes"]["proj:transform"]
    dx, dy = l1c_origin[2] - l2a_origin[2], l1c_origin[5] - l2a_origin[5]
    for level, group in l2a_levels.items():
        resolution = _level_resolution(level)
        members = group["members"]
        for band in [b for b in list(members) if b in BAND_RESOLUTION]:
            del members[band]
        for band, native_res in sorted(BAND_RESOLUTION.items()):
            if native_res > resolution:
                continue
            template_name = "b09" if band == "b10" else band
            template = templates[level]["members"].get(template_name) or _any_band(templates[level])
            node = copy.deepcopy(template)
            attrs = node["attributes"]
            attrs["long_name"] = l1c_band_attrs[band]["long_name"]
            if "proj:transform" in attrs:
                t = attrs["proj:transform"]
                attrs["proj:transform"] = [t[0], t[1], t[2] + dx, t[3], t[4], t[5] + dy, *t[6:]]
            if "proj:bbox" in attrs:
                b = attrs["proj:bbox"]
                attrs["proj:bbox"] = [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]
            members[band] = node
    l2a["attributes"] = {}
    l2a["source"] = "derived from l2a-geozarr (layout) and l1c-native (bands, grid)"
    return l2a


def _any_band(group: dict) -> dict:
    return next(node for name, node in group["members"].items() if name in BAND_RESOLUTION)


# ----------------------------------------------------------------------------------------------
# Grid and values


def grid(name: str) -> tuple[float, float, float]:
    """``(x0, y0, extent)``: upper-left corner and side (m) of the product's tile."""
    structure = load_structure("l1c-native" if name.startswith("l1c") else "l2a-native")
    attrs = reflectance_node(structure)["members"]["r10m"]["members"]["b02"]["attributes"]
    t = attrs["proj:transform"]
    height = attrs["proj:shape"][0]
    return float(t[2]), float(t[5]), float(t[0] * height)


def pixel_centres(name: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """x and y of pixel centres of a level of ``shape`` (the level spans the whole tile)."""
    x0, y0, extent = grid(name)
    height, width = shape
    xs = x0 + (np.arange(width) + 0.5) * (extent / width)
    ys = y0 - (np.arange(height) + 0.5) * (extent / height)
    return xs, ys


def _noise(rows: np.ndarray, cols: np.ndarray, band: str) -> np.ndarray:
    """Hashed noise in [-2**(NOISE_BITS-1), 2**(NOISE_BITS-1)), a pure function of (row, col)."""
    seed = np.uint64(int(BAND_BASE[band]) * 2654435761 % 2**32)
    with np.errstate(over="ignore"):
        h = (rows.astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)) ^ (
            cols.astype(np.uint64)[None, :] * np.uint64(0xC2B2AE3D27D4EB4F) + seed
        )
        h = (h ^ (h >> np.uint64(29))) * np.uint64(0xBF58476D1CE4E5B9)
    return (h >> np.uint64(64 - NOISE_BITS)).astype(np.int32) - 2 ** (NOISE_BITS - 1)


def dn_block(name: str, band: str, shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    """uint16 digital numbers of a window of a level (0 = nodata), no other memory than it.

    DN = base + 600 sin(2 pi x / 9 km) cos(2 pi y / 7 km) + 300 cos(2 pi (x - y) / 31 km) + noise;
    nodata where the pixel centre is in the south-east triangle (x' + y' > 1.6 extent, measured
    from the north-west corner).
    """
    x0, y0, extent = grid(name)
    xs, ys = pixel_centres(name, shape)
    xs, ys = xs[cols], ys[rows]
    row_index = np.arange(shape[0])[rows]
    col_index = np.arange(shape[1])[cols]
    kx, ky, kd = 2 * np.pi / 9000, 2 * np.pi / 7000, 2 * np.pi / 31000
    field = 600 * np.sin(kx * xs)[None, :] * np.cos(ky * ys)[:, None]
    # cos(a - b) = cos a cos b + sin a sin b: separable, cheap on 30 M pixels
    field += 300 * (
        np.cos(kd * xs)[None, :] * np.cos(kd * ys)[:, None]
        + np.sin(kd * xs)[None, :] * np.sin(kd * ys)[:, None]
    )
    dn = BAND_BASE[band] + field + _noise(row_index, col_index, band)
    dn = np.clip(np.rint(dn), 1, 65535).astype(np.uint16)
    outside = ((xs - x0)[None, :] + (y0 - ys)[:, None]) > 1.6 * extent
    dn[outside] = 0
    return dn


def expected_dn(name: str, level: str, band: str, row: int, col: int) -> int:
    """The digital number written at ``(row, col)`` of ``level`` (0 = nodata)."""
    shape = tuple(
        reflectance_node(load_structure(name))["members"][level]["members"][band]["shape"]
    )
    return int(dn_block(name, band, shape, slice(row, row + 1), slice(col, col + 1))[0, 0])


def expected_reflectance(name: str, level: str, band: str, row: int, col: int) -> float | None:
    """Decoded reflectance at a pixel (None = nodata); float32 in GeoZarr products."""
    dn = expected_dn(name, level, band, row, col)
    if dn == 0:
        return None
    if name.endswith("geozarr"):  # computed in float32, as written
        return float(np.float32(dn) * np.float32(SCALE_FACTOR) + np.float32(ADD_OFFSET))
    return dn * SCALE_FACTOR + ADD_OFFSET


def reflectance_block(name, band, shape, rows, cols) -> np.ndarray:
    dn = dn_block(name, band, shape, rows, cols)
    out = (dn.astype(np.float32) * np.float32(SCALE_FACTOR)) + np.float32(ADD_OFFSET)
    out[dn == 0] = np.nan
    return out


# ----------------------------------------------------------------------------------------------
# Writing


def _windows(shape, chunks) -> Iterator[tuple[slice, slice]]:
    for r in range(0, shape[0], chunks[0]):
        for c in range(0, shape[1], chunks[1]):
            yield slice(r, min(r + chunks[0], shape[0])), slice(c, min(c + chunks[1], shape[1]))


def _write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, allow_nan=True))


def _metadata(node: dict) -> dict:
    return {k: v for k, v in node.items() if k not in ("members", "source")}


def _write_group_metadata(path: Path, node: dict) -> None:
    if node["zarr_format"] == 2:
        _write_json(path / ".zgroup", {"zarr_format": 2})
        _write_json(path / ".zattrs", node.get("attributes", {}))
    else:
        _write_json(path / "zarr.json", {**_metadata(node), "node_type": "group"})


def _write_array_metadata(path: Path, node: dict) -> None:
    meta = _metadata(node)
    if node["zarr_format"] == 2:
        attrs = meta.pop("attributes", {})
        _write_json(path / ".zarray", meta)
        _write_json(path / ".zattrs", attrs)
    else:
        _write_json(path / "zarr.json", meta)


def _coords(name: str, level_node: dict, axis: str) -> np.ndarray:
    band = _any_band(level_node)
    xs, ys = pixel_centres(name, tuple(band["shape"]))
    return xs if axis == "x" else ys


def _write_native_array(path: Path, node: dict, values) -> None:
    """zarr v2 chunks, each encoded with the array's own compressor and written as a file."""
    compressor = numcodecs.get_codec(node["compressor"])
    separator = node.get("dimension_separator", ".")
    for rows, cols in _windows(node["shape"], node["chunks"]):
        block = values(rows, cols)
        if block.shape != tuple(node["chunks"]):  # edge chunks are stored full size
            full = np.zeros(node["chunks"], dtype=block.dtype)
            full[: block.shape[0], : block.shape[1]] = block
            block = full
        key = separator.join(
            str(s.start // c) for s, c in zip((rows, cols), node["chunks"], strict=True)
        )
        (path / key).write_bytes(compressor.encode(np.ascontiguousarray(block)))


def _sharding(node: dict) -> dict:
    return next(c for c in node["codecs"] if c["name"] == "sharding_indexed")["configuration"]


def _write_sharded_array(path: Path, node: dict, values) -> None:
    """zarr v3 shards assembled inner chunk by inner chunk, index (+crc32c) at the end."""
    import google_crc32c

    config = _sharding(node)
    assert config["index_location"] == "end", config
    inner = tuple(config["chunk_shape"])
    (blosc,) = [c for c in config["codecs"] if c["name"] == "blosc"]
    cfg = blosc["configuration"]
    shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[cfg["shuffle"]]
    codec = numcodecs.Blosc(
        cname=cfg["cname"], clevel=cfg["clevel"], shuffle=shuffle, blocksize=cfg["blocksize"]
    )
    shard_shape = tuple(node["chunk_grid"]["configuration"]["chunk_shape"])
    separator = node["chunk_key_encoding"]["configuration"]["separator"]
    for shard_rows, shard_cols in _windows(node["shape"], shard_shape):
        per_shard = (-(-shard_shape[0] // inner[0]), -(-shard_shape[1] // inner[1]))
        index = np.full(per_shard + (2,), MAX_UINT_64, dtype="<u8")
        key = separator.join(
            ["c", str(shard_rows.start // shard_shape[0]), str(shard_cols.start // shard_shape[1])]
        )
        target = path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        offset = 0
        with open(target, "wb") as out:
            for i in range(per_shard[0]):
                for j in range(per_shard[1]):
                    r0 = shard_rows.start + i * inner[0]
                    c0 = shard_cols.start + j * inner[1]
                    if r0 >= node["shape"][0] or c0 >= node["shape"][1]:
                        continue
                    rows = slice(r0, min(r0 + inner[0], node["shape"][0]))
                    cols = slice(c0, min(c0 + inner[1], node["shape"][1]))
                    block = values(rows, cols)
                    if np.isnan(block).all():  # zarr leaves empty inner chunks out
                        continue
                    if block.shape != inner:
                        full = np.full(inner, np.nan, dtype=np.float32)
                        full[: block.shape[0], : block.shape[1]] = block
                        block = full
                    data = codec.encode(np.ascontiguousarray(block, dtype="<f4"))
                    out.write(data)
                    index[i, j] = (offset, len(data))
                    offset += len(data)
            raw = index.tobytes()
            out.write(raw + np.uint32(google_crc32c.value(raw)).tobytes())


def _write_coordinate(path: Path, node: dict, values: np.ndarray) -> None:
    """1-D x/y in one chunk: v2 through the array's compressor, v3 as raw little-endian bytes."""
    if node["zarr_format"] == 2:
        data = numcodecs.get_codec(node["compressor"]).encode(values.astype(node["dtype"]))
        (path / "0").write_bytes(data)
        return
    assert [c["name"] for c in node["codecs"]] == ["bytes"], node["codecs"]
    (path / "c").mkdir(exist_ok=True)
    (path / "c" / "0").write_bytes(
        values.astype(np.dtype(node["data_type"]).newbyteorder("<")).tobytes()
    )


def write_product(
    name: str, dest: Path, bands: set[str] | None = None, levels: set[str] | None = None, log=print
) -> None:
    """Write one product at ``dest`` (a new directory). ``bands``/``levels`` restrict what gets
    pixels (smoke tests); the metadata of every array is written either way."""
    import zarr

    structure = load_structure(name)
    native = structure["zarr_format"] == 2
    _write_group_metadata(dest, structure)
    measurements = structure["members"]["measurements"]
    _write_group_metadata(dest / "measurements", measurements)
    reflectance = reflectance_node(structure)
    _write_group_metadata(dest / REFLECTANCE, reflectance)
    for level, group in reflectance["members"].items():
        level_path = dest / REFLECTANCE / level
        _write_group_metadata(level_path, group)
        for array_name, node in group["members"].items():
            array_path = level_path / array_name
            _write_array_metadata(array_path, node)
            shape = tuple(node["shape"])
            if array_name in ("x", "y"):
                _write_coordinate(array_path, node, _coords(name, group, array_name))
                continue
            if array_name == "spatial_ref":
                arr = zarr.open_array(
                    zarr.storage.LocalStore(str(level_path)), path=array_name, mode="r+"
                )
                arr[...] = 0
                continue
            if (bands and array_name not in bands) or (levels and level not in levels):
                continue
            started = time.perf_counter()
            if native:
                _write_native_array(
                    array_path,
                    node,
                    lambda rows, cols, b=array_name, s=shape: dn_block(name, b, s, rows, cols),
                )
            else:
                _write_sharded_array(
                    array_path,
                    node,
                    lambda rows, cols, b=array_name, s=shape: reflectance_block(
                        name, b, s, rows, cols
                    ),
                )
            if log:
                log(
                    f"  {name} {level}/{array_name} {shape[0]}x{shape[1]} "
                    f"{time.perf_counter() - started:.1f}s"
                )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated metadata is not in the v3 spec
        zarr.consolidate_metadata(
            zarr.storage.LocalStore(str(dest)), zarr_format=structure["zarr_format"]
        )


def write_bench_data(
    out_dir: str | os.PathLike | None = None, names=None, force=False, log=print
) -> dict[str, Path]:
    """Write the products that are missing (all four by default); return their paths."""
    out = Path(out_dir) if out_dir else default_out_dir()
    paths = {}
    for name in names or PRODUCTS:
        dest = product_path(out, name)
        paths[name] = dest
        if dest.exists() and not force:
            if log:
                log(f"skip {dest} (exists; --force rewrites it)")
            continue
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        started = time.perf_counter()
        try:
            write_product(name, tmp, log=log)
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if log:
            log(f"wrote {dest} in {time.perf_counter() - started:.0f}s")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help=f"default: {default_out_dir()}")
    parser.add_argument("--force", action="store_true", help="rewrite existing products")
    parser.add_argument("--only", nargs="*", choices=sorted(PRODUCTS), help="products to write")
    args = parser.parse_args(argv)
    write_bench_data(args.out, args.only, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
