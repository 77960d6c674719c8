"""Chunk-wise reads of one band of one level: planned, budgeted, then read with bounded memory.

rio-tiler's xarray reader loads the whole window of a request into memory before it resamples:
an L1C true-colour tile at z7 is three 10980 x 10980 bands at r10m (no coarser level exists).
Here a read is first *planned* from metadata only (which chunks, how many pixels decoded, how many
bytes fetched at most), checked against the request's budget (:mod:`titiler_eopf.tiler.budget`),
then read chunk by chunk, keeping only the pixels the output needs:

- ``factor`` = how many level pixels make one pixel of the output resolution (1 when the level is
  fine enough and not much finer). With factor > 1 each chunk is decimated as it is read (the
  centre pixel of every factor x factor block, what nearest resampling would pick), so memory is
  one block of chunks plus a small output whatever the band size.
- Reads of a few chunks (up to a quarter of the chunk cache) go through the process's chunk
  cache (:mod:`titiler_eopf.tiler.chunkcache`): the neighbours of a tile reuse them.
- Big blosc chunks of zarr v2 arrays (the native layout: 60 MB per r10m chunk) are read by row
  bands when the window needs a part of their rows: only the blosc blocks holding those rows
  are fetched and decoded (:mod:`titiler_eopf.tiler.blosc_ranges`), and the decoded blocks
  are what the chunk cache keeps.

The result is a small in-memory stack on a regular grid (:class:`titiler_eopf.tiler.warp.Samples`)
that is reprojected as rio-tiler's XarrayReader would, without xarray.
Only plain 2-D (y, x) variables are planned; anything else returns None and takes the lazy path.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy

from titiler_eopf.tiler import blosc_ranges, chunkcache, warp

# Raw bytes read per zarr call when decimating (zarr fetches and decodes a call's chunks
# concurrently): ~2 native L2A chunks or 12 L1C chunks at once, bounded memory.
BLOCK_BYTES = 128 * 2**20
# Whole chunks read at once on a cached read, at most BLOCK_BYTES of them decoded.
CHUNK_READERS = 8
# Bands of one level read at once.
BAND_READERS = 3
# Blosc chunks are read by row bands when the window needs at most this share of their rows:
# the blocks come in 1 MiB ranges side by side, decoded as they arrive, which beats one GET of
# the whole chunk (one response at ~100 MB/s, one decode) even for most of its rows (an L1C
# 1830 x 1830 chunk of which a z11 tile needs 79 % of the rows: first tile ~100 ms faster).
ROW_BAND_SHARE = 0.9
# Rows read ahead above and below a window when its blocks are fetched anyway, as a share of
# the window's width: the product's grid is turned against the tiles' by the meridian
# convergence (up to ~3 degrees, 5 %: UTM zones as Sentinel-2 extends them), so the tile east
# or west needs rows up to that share of its width higher or lower. About one block (12 rows)
# at z14, 10 % more bytes; the neighbour then reads nothing.
READ_AROUND = 0.05


@dataclass
class BandPlan:
    """What reading one band for one request costs, known before reading."""

    level_path: str
    name: str
    array: Any  # zarr.Array
    rows: numpy.ndarray  # level rows sampled (output row i <- level row rows[i])
    cols: numpy.ndarray
    start: tuple[int, int]  # level (row, col) of the window's upper-left pixel
    factor: int
    origin: tuple[float, float]  # (x, y) of the level's upper-left corner
    resolution: float
    chunk_shape: tuple[int, int]  # unit read and cached (inner chunk when sharded)
    chunk_rows: numpy.ndarray  # chunk row indexes touched
    chunk_cols: numpy.ndarray
    shard_indexes: int  # shard indexes read (sharded arrays)
    # values decoded per y/x pixel of a chunk: 1 for 2-D arrays; for (band | time, y, x) arrays
    # read whole (the lazy path), what their leading chunks hold
    depth: int = 1

    @property
    def chunks(self) -> int:
        return len(self.chunk_rows) * len(self.chunk_cols)

    @property
    def pixels(self) -> int:
        """Pixels decoded: every pixel of every chunk touched."""
        return self.chunks * self.chunk_shape[0] * self.chunk_shape[1] * self.depth

    @property
    def bytes(self) -> int:
        """Bytes fetched at most: the decoded size of the chunks (compressed is smaller) plus
        the shard indexes."""
        return self._bytes(self.chunks, self.shard_indexes)

    def _bytes(self, chunks: int, shard_indexes: int) -> int:
        index = 16 * _per_shard(self.array) + 4
        pixels = chunks * self.chunk_shape[0] * self.chunk_shape[1] * self.depth
        return pixels * self.array.dtype.itemsize + shard_indexes * index

    def worst_case(self) -> tuple[int, int, int]:
        """(pixels, bytes, chunks) of a window of the same size placed anywhere on the level:
        straddling chunk edges it touches one more chunk per axis (TileJSON's minzoom must hold
        for every tile of a zoom, not only the one it was computed on)."""
        shape = self.array.shape[-2:]
        spans = (self.rows[-1] - self.rows[0] + 1, self.cols[-1] - self.cols[0] + 1)
        chunks, shards = 1, 1
        shard_shape = (getattr(self.array, "shards", None) or shape)[-2:]
        for axis in (0, 1):
            per_axis = -(-shape[axis] // self.chunk_shape[axis])
            chunks *= min(per_axis, 1 + -(-(int(spans[axis]) - 1) // self.chunk_shape[axis]))
            per_axis = -(-shape[axis] // shard_shape[axis])
            shards *= min(per_axis, 1 + -(-(int(spans[axis]) - 1) // shard_shape[axis]))
        shards = shards if getattr(self.array, "shards", None) else 0
        pixels = chunks * self.chunk_shape[0] * self.chunk_shape[1] * self.depth
        return pixels, self._bytes(chunks, shards), chunks


def _per_shard(array) -> int:
    shards = getattr(array, "shards", None)
    if not shards:
        return 0
    chunks = array.chunks
    return math.prod(-(-s // c) for s, c in zip(shards, chunks, strict=True))


def _touched(indexes: numpy.ndarray, chunk: int) -> numpy.ndarray:
    return numpy.unique(indexes // chunk)


def plan_band(
    product,
    level,
    name: str,
    bounds: tuple[float, float, float, float],
    target: float | None,
    cost_only: bool = False,
    selected: tuple[str, ...] = (),
) -> BandPlan | None:
    """Plan reading ``name`` of ``level`` over ``bounds`` (level CRS) at ``target`` resolution.

    None when the variable is not a plain 2-D array on square pixels (read lazily instead) or
    the window misses the level. ``cost_only`` plans those too, for the read budget: what the
    lazy read decodes (whole chunks of the window, every value of the leading dimensions except
    those ``selected``, of which one chunk).
    """
    array = product.array(level, name)
    if array is None or len(array.shape) < 2:
        return None
    plain = len(array.shape) == 2 and level.square
    if not plain and not cost_only:
        return None
    depth = 1
    if len(array.shape) > 2:
        dims = product.dims(level, name)
        for axis, size in enumerate(array.shape[:-2]):
            chunk = array.chunks[axis]
            if axis < len(dims) and dims[axis] in selected:
                depth *= chunk  # one chunk along a selected dimension
            else:
                depth *= -(-size // chunk) * chunk
    height, width = array.shape[-2:]
    if (height, width) != tuple(level.shape):
        return None
    res = level.resolution
    minx, miny, maxx, maxy = level.bounds
    factor = 1 if target is None else max(1, int(target / res + 1e-6))
    pad = 2 * factor  # room for the resampling kernel at the window edges
    col0 = max(0, math.floor((bounds[0] - minx) / res) - pad)
    col1 = min(width, math.ceil((bounds[2] - minx) / res) + pad)
    row0 = max(0, math.floor((maxy - bounds[3]) / res) - pad)
    row1 = min(height, math.ceil((maxy - bounds[1]) / res) + pad)
    if col1 <= col0 or row1 <= row0:
        return None
    offset = factor // 2
    # the last block may be cut by the array edge: sample its last pixel
    rows = numpy.minimum(numpy.arange(row0, row1, factor) + offset, height - 1)
    cols = numpy.minimum(numpy.arange(col0, col1, factor) + offset, width - 1)
    chunk_shape = tuple(int(c) for c in array.chunks[-2:])
    chunk_rows = _touched(rows, chunk_shape[0])
    chunk_cols = _touched(cols, chunk_shape[1])
    shard_indexes = 0
    if getattr(array, "shards", None):
        shard = array.shards[-2:]
        shard_indexes = len(_touched(rows, shard[0])) * len(_touched(cols, shard[1]))
    return BandPlan(
        level.path,
        name,
        array,
        rows,
        cols,
        (row0, col0),
        factor,
        (minx, maxy),
        res,
        chunk_shape,
        chunk_rows,
        chunk_cols,
        shard_indexes,
        depth,
    )


def _decode(raw: numpy.ndarray, encoding: dict, out: numpy.ndarray) -> None:
    """CF decoding as xarray does it, into ``out``: fill value -> NaN, then scale and offset."""
    fill = encoding.get("_FillValue", encoding.get("missing_value"))
    dtype = out.dtype
    out[...] = raw
    if raw.dtype.kind == "f":
        invalid = numpy.isnan(raw)
    else:
        invalid = numpy.zeros(raw.shape, dtype=bool)
    if fill is not None and not (isinstance(fill, float) and math.isnan(fill)):
        invalid |= raw == fill
    scale = encoding.get("scale_factor")
    offset = encoding.get("add_offset")
    if scale is not None:
        out *= numpy.asarray(scale, dtype=dtype)
    if offset is not None:
        out += numpy.asarray(offset, dtype=dtype)
    if invalid.any():  # (never for raw class data: no fill decoding, integer output)
        out[invalid] = numpy.nan


class WindowReader:
    """Reads planned bands; ``cache`` None reads around the chunk cache; ``shared``: the
    product version's blosc headers in the cache tier (``shared_headers``), or None."""

    def __init__(self, token: int, cache: chunkcache.ChunkCache | None, shared=None):
        self.token = token
        self.cache = cache
        self.shared = shared

    def read(self, plan: BandPlan, cached: bool = False) -> numpy.ndarray:
        """Raw (undecoded) samples of the band, shape (len(rows), len(cols)); ``cached``: the
        caller found them all in the chunk cache (``cached``): copied without threads."""
        out = numpy.empty((len(plan.rows), len(plan.cols)), dtype=plan.array.dtype)
        decoded = plan.pixels * plan.array.dtype.itemsize
        banded = self._row_band_bytes(plan)
        limit = self.cache.max_bytes // 4 if self.cache is not None else BLOCK_BYTES
        if banded is not None and banded <= ROW_BAND_SHARE * decoded and banded <= limit:
            self._read_row_bands(plan, out, cached)
        # Through the cache when the chunks fit in a quarter of it (a tile and its neighbours);
        # bigger reads (a whole band at low zoom) would only flush it: decimated block by block.
        elif self.cache is not None and decoded <= self.cache.max_bytes // 4:
            self._read_cached(plan, out)
        else:
            self._read_blocks(plan, out)
        return out

    # row bands of blosc chunks: the blocks holding the rows ----------------------------------
    @staticmethod
    def _chunk_rows(plan: BandPlan, i: int) -> tuple[int, int]:
        """Chunk-local rows [r0, r1) of chunk row ``i`` that hold samples."""
        ch = plan.chunk_shape[0]
        inside = plan.rows[(plan.rows >= i * ch) & (plan.rows < (i + 1) * ch)]
        return int(inside.min()) - i * ch, int(inside.max()) + 1 - i * ch

    def _row_band_bytes(self, plan: BandPlan) -> int | None:
        """Decoded bytes of the row bands the window needs; None when not a blosc array."""
        if plan.depth != 1 or not blosc_ranges.eligible(plan.array):
            return None
        rows = sum(r1 - r0 for r0, r1 in map(lambda i: self._chunk_rows(plan, i), plan.chunk_rows))
        return rows * plan.chunk_shape[1] * len(plan.chunk_cols) * plan.array.dtype.itemsize

    def _read_row_bands(self, plan: BandPlan, out: numpy.ndarray, cached: bool) -> None:
        ch, cw = plan.chunk_shape
        height, width = plan.array.shape
        key = (self.token, plan.level_path, plan.name)
        reader = blosc_ranges.BloscChunkReader(plan.array, self.cache, key, self.shared)
        around = math.ceil(READ_AROUND * (int(plan.cols.max()) - int(plan.cols.min()) + 1))

        def read_one(ij):
            i, j = ij
            whole = self.cache.get((*key, i, j)) if self.cache is not None else None
            if whole is not None:  # read whole earlier (a wider window)
                self._scatter(plan, out, whole, i * ch, j * cw)
                return
            r0, r1 = self._chunk_rows(plan, i)
            band = reader.read_rows(i, j, r0, r1, around)
            if band is not None:
                self._scatter(plan, out, band, i * ch + r0, j * cw)
                return
            chunk = plan.array[
                i * ch : min((i + 1) * ch, height), j * cw : min((j + 1) * cw, width)
            ]
            self._scatter(plan, out, chunk, i * ch, j * cw)
            if self.cache is not None:
                self.cache.put((*key, i, j), chunk)

        chunks = [(int(i), int(j)) for i in plan.chunk_rows for j in plan.chunk_cols]
        if cached or len(chunks) == 1:
            for ij in chunks:  # copies from the cache: threads would cost more than they do
                read_one(ij)
        else:  # headers and blocks of the chunks fetched side by side
            with ThreadPoolExecutor(max_workers=min(len(chunks), CHUNK_READERS)) as pool:
                list(pool.map(read_one, chunks))

    def cached(self, plan: BandPlan) -> bool:
        """Reading the plan makes no store request: its samples are in the chunk cache (whole
        chunks, or the blosc blocks holding its rows)."""
        if self.cache is None:
            return False
        key = (self.token, plan.level_path, plan.name)
        blockwise = plan.depth == 1 and blosc_ranges.eligible(plan.array)
        reader = blosc_ranges.BloscChunkReader(plan.array, self.cache, key) if blockwise else None
        return all(
            (*key, i, j) in self.cache
            or (reader is not None and reader.rows_cached(i, j, *self._chunk_rows(plan, i)))
            for i in map(int, plan.chunk_rows)
            for j in map(int, plan.chunk_cols)
        )

    # a few whole chunks, through the cache ------------------------------------------------
    def _read_cached(self, plan: BandPlan, out: numpy.ndarray) -> None:
        ch, cw = plan.chunk_shape
        height, width = plan.array.shape
        missing = []
        for i in map(int, plan.chunk_rows):
            for j in map(int, plan.chunk_cols):
                chunk = self.cache.get((self.token, plan.level_path, plan.name, i, j))
                if chunk is None:
                    missing.append((i, j))
                else:
                    self._scatter(plan, out, chunk, i * ch, j * cw)
        if not missing:
            return
        if getattr(plan.array, "shards", None):
            # small inner chunks: one zarr call (one shard index read) for all of them
            i0, i1 = min(i for i, _ in missing), max(i for i, _ in missing) + 1
            j0, j1 = min(j for _, j in missing), max(j for _, j in missing) + 1
            block = plan.array[i0 * ch : min(i1 * ch, height), j0 * cw : min(j1 * cw, width)]
            for i, j in missing:
                piece = block[(i - i0) * ch : (i - i0 + 1) * ch, (j - j0) * cw : (j - j0 + 1) * cw]
                self._keep(plan, i, j, numpy.ascontiguousarray(piece), out)
            return

        # big chunks (60 MB native): read each on its own, a few at once, and let each go
        # into the output and the cache as soon as it is decoded (memory: a few chunks).
        def read_one(ij):
            i, j = ij
            chunk = plan.array[
                i * ch : min((i + 1) * ch, height), j * cw : min((j + 1) * cw, width)
            ]
            self._keep(plan, i, j, chunk, out)

        # as many at once as fit in one read block (2 native L2A chunks, 8 L1C ones)
        chunk_bytes = ch * cw * plan.array.dtype.itemsize
        workers = max(1, min(len(missing), CHUNK_READERS, BLOCK_BYTES // chunk_bytes))
        if workers == 1:
            for ij in missing:
                read_one(ij)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(read_one, missing))

    def _keep(self, plan: BandPlan, i: int, j: int, chunk, out) -> None:
        ch, cw = plan.chunk_shape
        self._scatter(plan, out, chunk, i * ch, j * cw)
        self.cache.put((self.token, plan.level_path, plan.name, i, j), chunk)

    @staticmethod
    def _scatter(plan: BandPlan, out, block, row_start: int, col_start: int) -> None:
        """Copy the sampled pixels that fall in ``block`` (placed at row/col_start) into out."""
        r = (plan.rows >= row_start) & (plan.rows < row_start + block.shape[0])
        c = (plan.cols >= col_start) & (plan.cols < col_start + block.shape[1])
        if r.any() and c.any():
            out[numpy.ix_(r, c)] = block[
                numpy.ix_(plan.rows[r] - row_start, plan.cols[c] - col_start)
            ]

    # many chunks (or no cache): blocks of chunks, decimated as they are read ---------------
    def _read_blocks(self, plan: BandPlan, out: numpy.ndarray) -> None:
        ch, cw = plan.chunk_shape
        height, width = plan.array.shape
        itemsize = plan.array.dtype.itemsize
        j_first, j_last = int(plan.chunk_cols[0]), int(plan.chunk_cols[-1])
        cols_per_block = max(1, BLOCK_BYTES // (ch * cw * itemsize))
        rows_per_block = max(1, cols_per_block // (j_last - j_first + 1))
        cols_per_block = min(cols_per_block, j_last - j_first + 1)
        chunk_rows = list(plan.chunk_rows)
        for a in range(0, len(chunk_rows), rows_per_block):
            run = chunk_rows[a : a + rows_per_block]
            for j0 in range(j_first, j_last + 1, cols_per_block):
                j1 = min(j0 + cols_per_block, j_last + 1)
                r0, r1 = int(run[0]) * ch, min((int(run[-1]) + 1) * ch, height)
                c0, c1 = j0 * cw, min(j1 * cw, width)
                # only the rows that hold samples are kept once decoded
                block = plan.array[r0:r1, c0:c1]
                self._scatter(plan, out, block, r0, c0)
                del block


def to_samples(
    plans: list[BandPlan],
    samples: list[numpy.ndarray],
    labels,
    encodings,
    dtypes,
    crs,
    nodata=numpy.nan,
    nodatas=None,
) -> warp.Samples:
    """Decoded samples of one level's bands, (band, y, x), on their regular grid.

    ``nodata`` is the output's (NaN for float output); raw (categorical) bands stacked into a
    float output get NaN where they hold their own nodata (``nodatas``).
    """
    first = plans[0]
    (x0, y0), res, f = first.origin, first.resolution, first.factor
    # the grid of the samples: pixel k sits at the centre of its factor x factor block
    xs = x0 + (first.start[1] + numpy.arange(len(first.cols)) * f + f / 2) * res
    ys = y0 - (first.start[0] + numpy.arange(len(first.rows)) * f + f / 2) * res
    float_output = isinstance(nodata, float) and math.isnan(nodata)
    dtype = numpy.result_type(*dtypes, *(["float32"] if float_output else []))
    nodatas = nodatas or [None] * len(samples)
    data = numpy.empty((len(samples), len(first.rows), len(first.cols)), dtype=dtype)
    for plane, raw, enc, own in zip(data, samples, encodings, nodatas, strict=True):
        _decode(raw, enc, plane)
        if float_output and own is not None and not (isinstance(own, float) and math.isnan(own)):
            plane[raw == own] = numpy.nan
    return warp.Samples(data, xs, ys, crs, nodata, list(labels))


def plan_level(
    product, level, names, bbox, bbox_crs, target, cost_only=False, selected=None
) -> list[BandPlan] | None:
    """Plans of the bands ``names`` of one level over ``bbox``; None if one cannot be planned.

    ``cost_only``: plans of what the lazy path reads, for the budget (``selected``: per name,
    the leading dimensions reduced to one value)."""
    from rasterio.warp import transform_bounds

    bounds = bbox
    if bbox_crs != level.crs:
        bounds = transform_bounds(bbox_crs, level.crs, *bbox, densify_pts=21)
    selected = selected or [()] * len(names)
    plans = [
        plan_band(product, level, name, bounds, target, cost_only=cost_only, selected=chosen)
        for name, chosen in zip(names, selected, strict=True)
    ]
    if cost_only:
        return [p for p in plans if p is not None]
    return None if any(p is None for p in plans) else plans


def read_level(
    product, level, names, labels, plans: list[BandPlan], raw=None, nodatas=None, nodata=numpy.nan
):
    """Read planned bands of one level into decoded (band, y, x) samples.

    ``raw`` bands (classes, masks) are not CF-decoded: their values stay as they are.
    """
    reader = WindowReader(product.chunk_token, product.chunk_cache, product.shared_headers)
    # bands fetched and decoded side by side (I/O and blosc release the GIL); meanwhile this
    # thread opens the level's dataset for the encodings (first read of a level: ~20-40 ms CPU
    # that would otherwise come after the fetch)
    if all(reader.cached(plan) for plan in plans):  # a neighbour's: copies from the cache
        samples = [reader.read(plan, cached=True) for plan in plans]
        dataset = product.dataset(level)
    else:
        with ThreadPoolExecutor(max_workers=min(len(plans), BAND_READERS)) as pool:
            reads = [pool.submit(reader.read, plan) for plan in plans]
            dataset = product.dataset(level)
            samples = [read.result() for read in reads]
    raw = raw or [False] * len(names)
    encodings = [{} if r else dataset[name].encoding for name, r in zip(names, raw, strict=True)]
    dtypes = [dataset[name].dtype for name in names]
    return to_samples(plans, samples, labels, encodings, dtypes, level.crs, nodata, nodatas)
