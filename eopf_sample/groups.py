"""Every group of a real product's structure, written small with values a test can predict.

The structure dumps in ``structures/full/`` (gzipped copies of ../shared/eopf-structures) hold
every group and array of four real products. :func:`write_groups` writes each array of a dump
(except the groups given in ``skip``, written elsewhere) with the real dtype, fill value, codecs,
dims and attributes, and the shape scaled down:

- Sentinel-2: the 10980/5490/1830/915/305/152 grids become 1440/720/240/120/40/20 (pixel sizes
  kept, so every grid spans the sample's 14,400 m), the 23-point angle grid becomes 4 points
  (4800 m apart); chunks and shards scale with their dims.
- Sentinel-1: the image dims (16677 x 26064) are divided by 100; the small annotation arrays keep
  their shapes.

Values (see :func:`expected_block_value`) follow the scene's 5 x 5 grid of 2880 m blocks, counted
from the product's own upper-left corner: block ``k = 5 * row + col``; block (4, 4) is nodata
(the fill value, or 0) in every image.

- ``scl`` (scene classification): the real class codes, ``k % 12`` (0 = no data ... 11 = snow)
- ``b00`` of ``l1c_classification`` (cloud mask): ``k % 3``
- detector footprints: ``col + 1`` (detector number)
- quality masks: ``1 << (k % 8)`` on blocks where ``row + col`` is even, else 0 (no flag)
- cloud / snow probability: ``4 k`` and ``100 - 4 k``
- AOT / WVP: ``100 + 10 k`` and ``1000 + 20 k``
- quicklook ``tci`` (band, y, x): ``10 + 50 band + 4 k``
- reflectance (L1C): the DN of :func:`eopf_sample.scene.block_dn` (b10: base 1100)
- anything else (angles, meteorology, radar annotations): a ramp over the array's elements.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
from functools import cache
from pathlib import Path

import numpy as np

from . import scene

FULL_STRUCTURES = Path(__file__).with_name("structures") / "full"

S2_SIZES = {10980: 1440, 5490: 720, 1830: 240, 915: 120, 305: 40, 152: 20, 23: 4}
S1_DIVISOR = 100  # radar image dims above S1_BIG are divided by this
S1_BIG = 5000
ANGLE_GRID_STEP = 4800.0  # m between the 4 points of the sun/view angle grid
L1C_BAND_BASE = {**scene.BAND_BASE, "b10": 1100}
TCI_BANDS = 3


@cache
def load_full(name: str) -> dict:
    """The complete structure dump of ``name`` (l2a-native, l2a-geozarr, l1c-native, s1-grd)."""
    with gzip.open(FULL_STRUCTURES / f"{name}.json.gz", "rt") as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------------
# Shapes


def sample_size(size: int, radar: bool) -> int:
    if radar:
        return math.ceil(size / S1_DIVISOR) if size > S1_BIG else size
    return S2_SIZES.get(size, size)


def _scale_chunks(chunks, shape, new_shape) -> list[int]:
    out = []
    for chunk, size, new in zip(chunks, shape, new_shape, strict=True):
        scaled = chunk if size == new else max(1, round(chunk * new / size))
        out.append(min(scaled, max(new, 1)))
    return out


def sample_node(node: dict, radar: bool) -> dict:
    """Array metadata with shapes, chunks and shards scaled to the sample."""
    node = copy.deepcopy(node)
    shape = node["shape"]
    new_shape = [sample_size(s, radar) for s in shape]
    node["shape"] = new_shape
    if node["zarr_format"] == 2:
        node["chunks"] = _scale_chunks(node["chunks"], shape, new_shape)
        return node
    grid = node["chunk_grid"]["configuration"]
    outer = _scale_chunks(grid["chunk_shape"], shape, new_shape)
    for codec in node.get("codecs", []):
        if codec["name"] == "sharding_indexed":
            config = codec["configuration"]
            inner = _scale_chunks(config["chunk_shape"], grid["chunk_shape"], outer)
            # inner chunks must tile the shard
            config["chunk_shape"] = [
                i if o % i == 0 else o for i, o in zip(inner, outer, strict=True)
            ]
    grid["chunk_shape"] = outer
    return node


# ----------------------------------------------------------------------------------------------
# Values


def product_origin(dump: dict) -> tuple[float, float, int] | None:
    """(x0, y0, epsg) of the product's tile, from any array's proj:transform (None: radar)."""
    stack = [dump]
    while stack:
        node = stack.pop()
        attrs = node.get("attributes", {})
        if "proj:transform" in attrs and "proj:epsg" in attrs:
            t = attrs["proj:transform"]
            return float(t[2]), float(t[5]), int(attrs["proj:epsg"])
        stack.extend(node.get("members", {}).values())
    return None


def block_index(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Block row and column of every pixel of a grid spanning the sample extent."""
    res = scene.SIZE_M / height
    rows = ((np.arange(height) * res) // scene.BLOCK_M).astype(int)
    cols = ((np.arange(width) * (scene.SIZE_M / width)) // scene.BLOCK_M).astype(int)
    return np.broadcast_to(rows[:, None], (height, width)), np.broadcast_to(
        cols[None, :], (height, width)
    )


def expected_block_value(group: str, name: str, row: int, col: int, band: int = 0) -> int | None:
    """The value written in block ``(row, col)`` of an image array (None: nodata/fill)."""
    k = scene.GRID * row + col
    nodata = (row, col) == scene.NODATA_BLOCK
    if name == "scl":
        return None if nodata else k % 12
    if "l1c_classification" in group:
        return None if nodata else k % 3
    if "detector_footprint" in group:
        return None if nodata else col + 1
    if group.startswith("quality/mask"):
        return None if nodata else ((1 << (k % 8)) if (row + col) % 2 == 0 else 0)
    if name == "cld":
        return None if nodata else 4 * k
    if name == "snw":
        return None if nodata else 100 - 4 * k
    if name == "aot":
        return None if nodata else 100 + 10 * k
    if name == "wvp":
        return None if nodata else 1000 + 20 * k
    if name == "tci":
        return None if nodata else 10 + 50 * band + 4 * k
    if name in L1C_BAND_BASE:
        return None if nodata else L1C_BAND_BASE[name] + scene.BLOCK_STEP * k
    raise KeyError(f"no block pattern for {group}:{name}")


def _image_values(group: str, name: str, shape: tuple[int, ...], dtype, fill) -> np.ndarray:
    height, width = shape[-2:]
    rows, cols = block_index(height, width)
    bands = shape[0] if len(shape) == 3 else 1
    planes = []
    for band in range(bands):
        table = np.array(
            [
                [
                    _or(expected_block_value(group, name, r, c, band), fill)
                    for c in range(scene.GRID)
                ]
                for r in range(scene.GRID)
            ]
        ).astype(dtype)
        planes.append(table[rows, cols])  # each pixel takes its block's value
    return np.stack(planes) if len(shape) == 3 else planes[0]


def _or(value, fill):
    return fill if value is None else value


def _coordinate(name: str, size: int, dtype, origin) -> np.ndarray | None:
    """x/y centres of a grid spanning the sample extent (4-point grids: corners 4800 m apart)."""
    if origin is None or name not in ("x", "y"):
        return None
    x0, y0, _ = origin
    if size == S2_SIZES[23]:
        offsets = np.arange(size) * ANGLE_GRID_STEP
    else:
        res = scene.SIZE_M / size
        offsets = (np.arange(size) + 0.5) * res
    values = x0 + offsets if name == "x" else y0 - offsets
    return values.astype(dtype)


def _ramp(shape, dtype) -> np.ndarray:
    count = int(np.prod(shape)) if shape else 1
    ramp = np.arange(count).reshape(shape) if shape else np.array(0)
    kind = np.dtype(dtype).kind
    if kind == "f":
        return (ramp * 0.5).astype(dtype)
    if kind == "b":
        return (ramp % 2).astype(bool)
    if kind in "US":
        return ramp.astype(str).astype(dtype)
    if kind in "iu":
        return (ramp % 251).astype(dtype)
    raise TypeError(f"no ramp for dtype {dtype}")


LABELS = {
    "angle": ["zenith", "azimuth"],
    "band": [
        "b01",
        "b02",
        "b03",
        "b04",
        "b05",
        "b06",
        "b07",
        "b08",
        "b8a",
        "b09",
        "b10",
        "b11",
        "b12",
    ],
}


def array_values(group: str, name: str, node: dict, dims: list[str], origin, lonlat) -> np.ndarray:
    """Predictable values of one (sample-sized) array."""
    shape = tuple(node["shape"])
    dtype = _numpy_dtype(node)
    coordinate = _coordinate(name, shape[0], dtype, origin) if len(shape) == 1 else None
    if coordinate is not None:
        return coordinate
    if dims[-2:] == ["y", "x"] and len(shape) in (2, 3) and shape[-1] > S2_SIZES[23]:
        fill = node.get("fill_value")
        fill = 0 if fill in (None, "NaN") else fill
        return _image_values(group, name, shape, dtype, fill)
    if name == "band" and shape == (TCI_BANDS,):
        return np.arange(1, TCI_BANDS + 1).astype(dtype)
    if name in LABELS and len(shape) == 1 and np.dtype(dtype).kind in "US":
        return np.array(LABELS[name][: shape[0]]).astype(dtype)
    if name in ("latitude", "longitude") and len(shape) == 1 and lonlat is not None:
        minlon, minlat, maxlon, maxlat = lonlat
        if name == "latitude":  # decreasing, as stored
            return np.linspace(maxlat, minlat, shape[0]).astype(dtype)
        return np.linspace(minlon, maxlon, shape[0]).astype(dtype)
    return _ramp(shape, dtype)


def _numpy_dtype(node: dict):
    if node["zarr_format"] == 2:
        return np.dtype(node["dtype"])
    data_type = node["data_type"]
    if isinstance(data_type, dict):  # fixed_length_utf32
        return np.dtype(f"<U{data_type['configuration']['length_bytes'] // 4}")
    return np.dtype(data_type)


# ----------------------------------------------------------------------------------------------
# Attributes


def sample_attributes(attrs: dict, shape: list[int], origin) -> dict:
    """proj:shape / proj:bbox rewritten for the sample (transform keeps origin and pixel size)."""
    attrs = copy.deepcopy(attrs)
    if "proj:shape" in attrs:
        attrs["proj:shape"] = list(shape[-2:])
    if "proj:bbox" in attrs and origin is not None:
        x0, y0, _ = origin
        attrs["proj:bbox"] = [x0, y0 - scene.SIZE_M, x0 + scene.SIZE_M, y0]
    if "spatial:shape" in attrs:
        attrs["spatial:shape"] = [S2_SIZES.get(s, s) for s in attrs["spatial:shape"]]
    return attrs


# ----------------------------------------------------------------------------------------------
# Writing


def _dims(node: dict) -> list[str]:
    if node["zarr_format"] == 2:
        return list(node.get("attributes", {}).get("_ARRAY_DIMENSIONS", []))
    return list(node.get("dimension_names") or [])


def _metadata(node: dict) -> dict:
    return {k: v for k, v in node.items() if k not in ("members",)}


def _write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, allow_nan=True))


def _write_group(path: Path, node: dict) -> None:
    if node["zarr_format"] == 2:
        if not (path / ".zgroup").exists():
            _write_json(path / ".zgroup", {"zarr_format": 2})
            _write_json(path / ".zattrs", node.get("attributes", {}))
    elif not (path / "zarr.json").exists():
        _write_json(path / "zarr.json", {**_metadata(node), "node_type": "group"})


def _write_v2_chunks(directory: Path, meta: dict, values: np.ndarray) -> None:
    """zarr v2 chunks encoded with the array's compressor, written as files (zarr's own
    writer costs ~5 ms an array in event-loop round trips: 500 small arrays here)."""
    import itertools

    import numcodecs

    compressor = numcodecs.get_codec(meta["compressor"]) if meta.get("compressor") else None
    separator = meta.get("dimension_separator") or "."
    values = np.asarray(values, dtype=np.dtype(meta["dtype"]))
    if values.ndim == 0:
        grids, chunks = [[0]], []
    else:
        chunks = meta["chunks"]
        grids = [range(-(-size // chunk)) for size, chunk in zip(values.shape, chunks, strict=True)]
    for index in itertools.product(*grids):
        if values.ndim == 0:
            block, key = values, "0"
        else:
            window = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, chunks, strict=True))
            block = values[window]
            if block.shape != tuple(chunks):  # edge chunks are stored full size
                full = np.zeros(chunks, dtype=values.dtype)
                full[tuple(slice(0, n) for n in block.shape)] = block
                block = full
            key = separator.join(map(str, index))
        raw = np.ascontiguousarray(block)
        (directory / key).write_bytes(compressor.encode(raw) if compressor else raw.tobytes())


def _write_array(root: Path, path: str, node: dict, values: np.ndarray) -> None:
    import zarr

    meta = _metadata(node)
    if node["zarr_format"] == 2:
        attrs = meta.pop("attributes", {})
        _write_json(root / path / ".zarray", meta)
        _write_json(root / path / ".zattrs", attrs)
        if not meta.get("filters") and meta.get("order", "C") == "C":
            _write_v2_chunks(root / path, meta, values)
            return
    else:
        _write_json(root / path / "zarr.json", {**meta, "node_type": "array"})
    array = zarr.open_array(zarr.storage.LocalStore(str(root)), path=path, mode="r+")
    array[...] = values


def write_groups(root: Path, dump: dict, skip: tuple[str, ...] = (), lonlat=None) -> list[str]:
    """Write every group and array of ``dump`` under ``root`` except the ``skip`` groups.

    Groups that already exist are left as they are; returns the array paths written.
    """
    radar = product_origin(dump) is None
    origin = product_origin(dump)
    written = []

    def walk(node: dict, path: str) -> None:
        for name, child in node.get("members", {}).items():
            child_path = f"{path}/{name}" if path else name
            if child_path in skip:
                continue
            if "shape" not in child:
                _write_group(root / child_path, child)
                walk(child, child_path)
                continue
            sample = sample_node(child, radar)
            sample["attributes"] = sample_attributes(
                child.get("attributes", {}), sample["shape"], origin
            )
            values = array_values(path, name, sample, _dims(child), origin, lonlat)
            _write_array(root, child_path, sample, values)
            written.append(child_path)

    walk(dump, "")
    return written
