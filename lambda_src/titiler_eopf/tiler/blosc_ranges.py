"""Sub-chunk reads of blosc chunks: fetch and decode only the blocks that hold a window's rows.

A c-blosc1 chunk (what numcodecs' ``Blosc`` writes: the native EOPF layout, zarr v2) is

- a 16-byte header: version, versionlz, flags, typesize (uint8 each), then nbytes (decoded
  size), blocksize and cbytes (compressed size, header included) as little-endian int32;
- unless the chunk was stored as a plain copy (flag 0x02), a table of ``ceil(nbytes /
  blocksize)`` int32 offsets: where each block starts in the chunk;
- the blocks, each compressed on its own (shuffle or bitshuffle applied per block). Blocks are
  written in the order the compressing threads finish them, so they are *not* in block order:
  a block ends where the next larger offset starts (or at cbytes).

A native Sentinel-2 r10m chunk is 5490 x 5490 uint16 (60 MB) in 128 KiB blocks of ~12 rows: a
tile at z14 needs ~15 of its 460 blocks. :class:`BloscChunkReader` reads the header and table
(one small range, cached per chunk of an opened product), then the byte ranges of the blocks
holding the rows asked for (neighbouring ranges coalesced into pieces of up to 1 MiB, fetched
side by side, each decoded as soon as it arrives), and decodes each block alone with c-blosc's
own ``blosc_getitem`` (from the library numcodecs ships) over a compact copy of the chunk: the
header, a table pointing at the fetched blocks, the blocks.
Every codec, shuffle and block size c-blosc writes decodes exactly as a whole-chunk decode
would (tests compare them). Decoded blocks go into the chunk cache, so neighbouring tiles
reuse them.

Whatever this does not handle (another compressor, filters, F order, a plain-copy chunk, a
library without ``blosc_getitem``) reads the whole chunk, as zarr does.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy

logger = logging.getLogger(__name__)

HEADER_BYTES = 16
MEMCPYED = 0x02
# First read of a chunk: its header and a table sized for blocks of this size (c-blosc picks
# 32 KiB to 2 MiB); a longer table (smaller blocks) costs a second read of the rest.
GUESS_BLOCKSIZE = 32 * 1024
# Chunks smaller than this are read whole (a few blocks: nothing to save).
MIN_CHUNK_BYTES = 1 * 2**20
# Ranges closer than this are fetched as one (a request costs more than a few KiB).
COALESCE_GAP = 16 * 1024
# ... up to this size: longer runs of blocks are fetched as several ranges side by side, each
# decoded as soon as it arrives. Object stores serve one response at ~100 MB/s (4-6 MB of a
# tile's rows in one range: 40-60 ms of transfer after the first byte, in 1 MiB pieces ~10 ms),
# and the decodes spread over the cores. On the 2-core benchmark box, CPU-bound, 0.5/1/4 MiB
# measured the same (L2A z11 first tile, 4 runs each): the gain is for more cores.
PIECE_BYTES = 1 * 2**20
# Pieces of one chunk fetched and decoded at once.
PIECE_READERS = 6


@functools.cache
def _getitem():
    """c-blosc's ``blosc_getitem`` from numcodecs' extension module, or None."""
    try:
        import numcodecs.blosc as nb

        fn = ctypes.CDLL(nb.__file__).blosc_getitem
    except (ImportError, OSError, AttributeError):  # pragma: no cover - other builds
        logger.warning("blosc_getitem unavailable: blosc chunks are read whole")
        return None
    fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


@dataclass(frozen=True, eq=False)
class BloscHeader:
    """Header and block table of one blosc chunk."""

    typesize: int
    decoded_size: int  # blosc's nbytes
    blocksize: int
    cbytes: int
    table: bytes  # the first 16 + 4 * blocks bytes of the chunk, as stored
    starts: numpy.ndarray  # int64, per block: offset in the chunk
    ends: numpy.ndarray  # int64, per block: end offset (next larger start, or cbytes)

    @property
    def blocks(self) -> int:
        return len(self.starts)

    @property
    def nbytes(self) -> int:
        """Memory held (for the chunk cache's accounting)."""
        return len(self.table) + self.starts.nbytes + self.ends.nbytes

    def block_span(self, byte_start: int, byte_end: int) -> range:
        """Blocks holding decoded bytes [byte_start, byte_end)."""
        return range(byte_start // self.blocksize, -(-byte_end // self.blocksize))

    def block_bytes(self, block: int) -> int:
        """Decoded size of a block (the last one may be partial)."""
        return min(self.blocksize, self.decoded_size - block * self.blocksize)

    def ranges(
        self, blocks, gap: int = COALESCE_GAP, max_bytes: int | None = None
    ) -> list[tuple[int, int, list[int]]]:
        """Byte ranges ``(start, end, blocks)`` covering ``blocks``, in file order, neighbours
        closer than ``gap`` merged into ranges of at most ``max_bytes`` (unless one block is
        longer)."""
        merged: list[tuple[int, int, list[int]]] = []
        for block in sorted(blocks, key=lambda b: self.starts[b]):
            start, end = int(self.starts[block]), int(self.ends[block])
            if (
                merged
                and start - merged[-1][1] <= gap
                and (max_bytes is None or end - merged[-1][0] <= max_bytes)
            ):
                s, e, members = merged[-1]
                merged[-1] = (s, max(e, end), [*members, block])
            else:
                merged.append((start, end, [block]))
        return merged


def table_prefix(decoded_size: int) -> int:
    """Bytes to read first: header + the table of blocks of GUESS_BLOCKSIZE."""
    return HEADER_BYTES + 4 * -(-decoded_size // GUESS_BLOCKSIZE)


def table_size(prefix: bytes) -> int | None:
    """Header + table bytes of the chunk that starts with ``prefix`` (>= 16 bytes); None when
    blocks cannot be read one by one (plain copy, unknown version, empty)."""
    if len(prefix) < HEADER_BYTES:
        return None
    version, _, flags, typesize = prefix[:4]
    nbytes, blocksize, _ = numpy.frombuffer(prefix, dtype="<i4", count=3, offset=4)
    if version not in (1, 2, 3) or flags & MEMCPYED or typesize == 0:
        return None
    if nbytes <= 0 or blocksize <= 0 or blocksize % typesize:
        return None
    return HEADER_BYTES + 4 * -(-int(nbytes) // int(blocksize))


def parse_header(table: bytes) -> BloscHeader | None:
    """The header of a chunk from its first ``table_size`` bytes (or more)."""
    size = table_size(table)
    if size is None or len(table) < size:
        return None
    typesize = table[3]
    nbytes, blocksize, cbytes = (int(v) for v in numpy.frombuffer(table, "<i4", 3, 4))
    starts = numpy.frombuffer(table, "<i4", (size - HEADER_BYTES) // 4, HEADER_BYTES).astype(
        numpy.int64
    )
    if starts.min(initial=cbytes) < size or starts.max(initial=0) >= cbytes:
        return None
    order = numpy.argsort(starts, kind="stable")
    ends = numpy.empty_like(starts)
    ends[order[:-1]] = starts[order[1:]]
    ends[order[-1]] = cbytes
    return BloscHeader(typesize, nbytes, blocksize, cbytes, bytes(table[:size]), starts, ends)


def decode_blocks(header: BloscHeader, fetched: dict[int, bytes]) -> dict[int, numpy.ndarray]:
    """Decode blocks from their compressed bytes: ``{block: bytes}`` -> ``{block: uint8}``.

    The blocks go into a compact chunk (header, a table whose entries for these blocks point at
    them, the blocks): c-blosc decodes from it exactly what it would from the whole chunk."""
    table = numpy.frombuffer(header.table, "<i4", header.blocks, HEADER_BYTES).copy()
    parts, position = [], len(header.table)
    for block, data in fetched.items():
        table[block] = position
        parts.append(data)
        position += len(data)
    compact = b"".join((header.table[:HEADER_BYTES], table.tobytes(), *parts))
    return _decode_compact(header, compact, list(fetched))


def decode_range(
    header: BloscHeader, start: int, data: bytes, blocks: list[int]
) -> dict[int, numpy.ndarray]:
    """Decode ``blocks`` from ``data``, the chunk's bytes from offset ``start`` on (one fetched
    range holding them): the range goes into the compact chunk as it is, one copy."""
    table = numpy.frombuffer(header.table, "<i4", header.blocks, HEADER_BYTES).copy()
    for block in blocks:
        table[block] = len(header.table) + int(header.starts[block]) - start
    compact = b"".join((header.table[:HEADER_BYTES], table.tobytes(), data))
    return _decode_compact(header, compact, blocks)


def _decode_compact(header: BloscHeader, compact: bytes, blocks) -> dict[int, numpy.ndarray]:
    getitem = _getitem()
    if getitem is None:
        raise RuntimeError("blosc_getitem unavailable")
    out = {}
    items_per_block = header.blocksize // header.typesize
    for block in blocks:
        size = header.block_bytes(block)
        dest = numpy.empty(size, dtype=numpy.uint8)
        done = getitem(compact, block * items_per_block, size // header.typesize, dest.ctypes.data)
        if done != size:
            raise ValueError(f"blosc_getitem decoded {done} bytes of block {block}, not {size}")
        out[block] = dest
    return out


# -- reading from a zarr array ---------------------------------------------------------------


def eligible(array) -> bool:
    """A zarr v2 array of blosc chunks, no filters, C order, chunks big enough to pay."""
    metadata = getattr(array, "metadata", None)
    if getattr(metadata, "zarr_format", None) != 2 or _getitem() is None:
        return False
    compressor = getattr(metadata, "compressor", None)
    codec_id = getattr(compressor, "codec_id", None) or (
        compressor.get("id") if isinstance(compressor, dict) else None
    )
    dtype = numpy.dtype(array.dtype)
    return (
        codec_id == "blosc"
        and not metadata.filters
        and metadata.order == "C"
        and dtype.kind in "iufb"
        and dtype.isnative
        and len(array.chunks) == 2
        and numpy.prod(array.chunks) * dtype.itemsize >= MIN_CHUNK_BYTES
    )


class BloscChunkReader:
    """Rows of chunks of one zarr v2 blosc array, block by block, through a chunk cache.

    ``cache``: a ``chunkcache.ChunkCache`` (or None); keys start with ``key`` (the opened
    product's token, the level and the variable), so headers and blocks are cached per chunk
    of one opened product (a product rewritten in place is reopened under a new token).
    ``stats`` counts what was fetched (tests and benchmarks)."""

    def __init__(self, array, cache, key: tuple):
        self.array = array
        self.cache = cache
        self.key = key
        self.dtype = numpy.dtype(array.dtype)
        self.chunk_shape = tuple(int(c) for c in array.chunks)
        self.stats = {"requests": 0, "bytes": 0, "blocks_decoded": 0}
        self._stats_lock = threading.Lock()  # pieces are fetched from several threads

    # -- store I/O ---------------------------------------------------------------------
    def _chunk_key(self, i: int, j: int) -> str:
        key = self.array.metadata.encode_chunk_key((i, j))
        path = self.array.store_path.path
        return f"{path}/{key}" if path else key

    def _fetch(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes | None]:
        """Byte ranges of one object, fetched concurrently (None: the object is absent)."""
        import asyncio

        from zarr.abc.store import RangeByteRequest
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        store = self.array.store_path.store
        prototype = default_buffer_prototype()

        async def fetch_all():
            return await asyncio.gather(
                *(store.get(key, prototype, byte_range=RangeByteRequest(s, e)) for s, e in ranges)
            )

        buffers = sync(fetch_all())
        out = [None if buffer is None else buffer.to_bytes() for buffer in buffers]
        with self._stats_lock:
            self.stats["requests"] += len(ranges)
            self.stats["bytes"] += sum(len(data or b"") for data in out)
        return out

    def _cached(self, suffix: tuple):
        return self.cache.get((*self.key, *suffix)) if self.cache is not None else None

    def _held(self, suffix: tuple) -> bool:
        return self.cache is not None and (*self.key, *suffix) in self.cache

    def _keep(self, suffix: tuple, value) -> None:
        if self.cache is not None:
            self.cache.put((*self.key, *suffix), value)

    # -- header ------------------------------------------------------------------------
    def header(self, i: int, j: int) -> BloscHeader | bool | None:
        """The chunk's header; False when the chunk is absent, None when it cannot be read
        block by block."""
        cached = self._cached((i, j, "header"))
        if cached is not None:
            return cached if isinstance(cached, BloscHeader) else None
        key = self._chunk_key(i, j)
        decoded = int(numpy.prod(self.chunk_shape)) * self.dtype.itemsize
        (prefix,) = self._fetch(key, [(0, table_prefix(decoded))])
        if prefix is None:
            return False
        size = table_size(prefix)
        if size is not None and size > len(prefix):
            (rest,) = self._fetch(key, [(len(prefix), size)])
            prefix += rest or b""
        header = parse_header(prefix) if size is not None else None
        if header is not None and (
            header.decoded_size != decoded or header.typesize != self.dtype.itemsize
        ):
            header = None
        self._keep((i, j, "header"), header if header is not None else _NOT_BLOCKWISE)
        return header

    # -- rows --------------------------------------------------------------------------
    def read_rows(
        self, i: int, j: int, row0: int, row1: int, around: int = 0
    ) -> numpy.ndarray | None:
        """Rows [row0, row1) of chunk (i, j) (chunk-local rows, full chunk width); None when
        the chunk must be read whole. When blocks must be fetched anyway, those of the
        ``around`` rows above and below that are not cached come in the same ranges (and go
        into the cache): a neighbour east or west, whose rows are a little higher or lower
        on a grid turned against the tiles', then finds all its rows cached."""
        header = self.header(i, j)
        ch, cw = self.chunk_shape
        if header is False:  # absent chunk: the fill value, as zarr reads it
            fill = self.array.fill_value
            return numpy.full((row1 - row0, cw), 0 if fill is None else fill, dtype=self.dtype)
        if header is None:
            return None
        row_bytes = cw * self.dtype.itemsize
        start, end = row0 * row_bytes, row1 * row_bytes
        span = header.block_span(start, end)
        blocks = {b: self._cached((i, j, "block", b)) for b in span}
        missing = [b for b, v in blocks.items() if v is None]
        if missing:
            ch = self.chunk_shape[0]
            wider = header.block_span(
                max(0, row0 - around) * row_bytes, min(ch, row1 + around) * row_bytes
            )
            ahead = [b for b in wider if b not in blocks and not self._held((i, j, "block", b))]
            pieces = header.ranges(missing + ahead, max_bytes=PIECE_BYTES)
            key = self._chunk_key(i, j)

            def fetch_and_decode(piece) -> dict[int, numpy.ndarray] | None:
                s, e, members = piece
                (data,) = self._fetch(key, [(s, e)])
                if data is None:  # rewritten under us: let zarr read it
                    return None
                return decode_range(header, s, data, members)

            if len(pieces) == 1:
                results = [fetch_and_decode(pieces[0])]
            else:  # side by side: transfers overlap, and so do decodes (ctypes drops the GIL)
                with ThreadPoolExecutor(max_workers=min(len(pieces), PIECE_READERS)) as pool:
                    results = list(pool.map(fetch_and_decode, pieces))
            if any(decoded is None for decoded in results):
                return None
            for decoded in results:
                with self._stats_lock:
                    self.stats["blocks_decoded"] += len(decoded)
                for b, value in decoded.items():
                    self._keep((i, j, "block", b), value)
                    blocks[b] = value
        first = span.start * header.blocksize
        joined = (
            blocks[span.start] if len(span) == 1 else numpy.concatenate([blocks[b] for b in span])
        )
        rows = joined[start - first : end - first].view(self.dtype)
        return rows.reshape(row1 - row0, cw)

    def rows_cached(self, i: int, j: int, row0: int, row1: int) -> bool:
        """Rows [row0, row1) of chunk (i, j) are all in the cache: ``read_rows`` would make
        no store request."""
        if self.cache is None:
            return False
        header = self.cache.get((*self.key, i, j, "header"))
        if not isinstance(header, BloscHeader):
            return False
        row_bytes = self.chunk_shape[1] * self.dtype.itemsize
        span = header.block_span(row0 * row_bytes, row1 * row_bytes)
        return all(self._held((i, j, "block", b)) for b in span)


class _NotBlockwise:
    """Cached marker: this chunk is read whole."""

    nbytes = 0


_NOT_BLOCKWISE = _NotBlockwise()
