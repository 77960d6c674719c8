"""Sub-chunk reads of blosc chunks: exact against whole-chunk decodes, only the blocks needed."""

from __future__ import annotations

import io

import numcodecs
import numpy
import pytest
import zarr

from titiler_eopf.tiler import blosc_ranges, chunkcache

# Every codec setting of the structure dumps (zstd + bitshuffle, blocksize auto) and its
# neighbours: byte shuffle, lz4/lz4hc, no shuffle, a forced small block (a table longer than
# the first read guesses), other dtypes.
SETTINGS = [
    ("zstd", 3, numcodecs.Blosc.BITSHUFFLE, 0, "<u2"),
    ("zstd", 3, numcodecs.Blosc.SHUFFLE, 0, "<u2"),
    ("zstd", 5, numcodecs.Blosc.NOSHUFFLE, 8192, "<u2"),
    ("lz4", 5, numcodecs.Blosc.SHUFFLE, 0, "<u2"),
    ("lz4", 5, numcodecs.Blosc.BITSHUFFLE, 0, "<f4"),
    ("lz4hc", 5, numcodecs.Blosc.BITSHUFFLE, 0, "<i8"),
    ("zstd", 3, numcodecs.Blosc.BITSHUFFLE, 4096, "<u1"),
]
SHAPE, CHUNKS = (1500, 1100), (700, 500)  # edge chunks on both axes
ONE_CHUNK_ZSTD = ("zstd", 3, numcodecs.Blosc.BITSHUFFLE, 0, "<u2")  # blocksize 0: blosc's own


@pytest.fixture(autouse=True)
def small_chunks_pay(monkeypatch):
    monkeypatch.setattr(blosc_ranges, "MIN_CHUNK_BYTES", 0)


def values(dtype: str, shape=SHAPE) -> numpy.ndarray:
    rng = numpy.random.default_rng(17)
    smooth = numpy.add.outer(numpy.arange(shape[0]), 2 * numpy.arange(shape[1])) % 4000
    noise = rng.integers(0, 32, shape)
    out = (smooth + noise).astype(dtype)
    out[-200:, -300:] = 0  # a nodata corner, as in the products
    return out


def write_array(path, setting, data=None, chunks=CHUNKS):
    cname, clevel, shuffle, blocksize, dtype = setting
    data = values(dtype) if data is None else data
    array = zarr.create_array(
        store=str(path),
        shape=data.shape,
        chunks=chunks,
        dtype=dtype,
        zarr_format=2,
        compressors=numcodecs.Blosc(
            cname=cname, clevel=clevel, shuffle=shuffle, blocksize=blocksize
        ),
        fill_value=0,
    )
    array[...] = data
    return zarr.open_array(str(path), mode="r"), data


def whole_chunk(path, array, i, j) -> numpy.ndarray:
    """The chunk as numcodecs decodes it whole (edge chunks at full size); zarr leaves chunks
    of fill values out."""
    if not (path / f"{i}.{j}").exists():
        return numpy.zeros(CHUNKS, dtype=array.dtype)
    raw = (path / f"{i}.{j}").read_bytes()
    decoded = array.metadata.compressor.decode(raw)
    return numpy.frombuffer(decoded, dtype=array.dtype).reshape(CHUNKS)


def row_bands(ch: int) -> list[tuple[int, int]]:
    rng = numpy.random.default_rng(3)
    bands = [(0, 1), (0, ch), (ch - 1, ch), (ch - 37, ch), (5, 6), (13, 400)]
    for _ in range(6):
        a, b = sorted(rng.integers(0, ch + 1, 2))
        if b > a:
            bands.append((int(a), int(b)))
    return bands


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(map(str, s)))
def test_rows_match_a_whole_chunk_decode(tmp_path, setting):
    array, data = write_array(tmp_path / "a", setting)
    assert blosc_ranges.eligible(array)
    reader = blosc_ranges.BloscChunkReader(array, chunkcache.ChunkCache(2**30), ("t",))
    ch, cw = CHUNKS
    for i in range(-(-SHAPE[0] // ch)):
        for j in range(-(-SHAPE[1] // cw)):
            whole = whole_chunk(tmp_path / "a", array, i, j)
            for r0, r1 in row_bands(ch):
                band = reader.read_rows(i, j, r0, r1)
                assert band.dtype == whole.dtype and band.shape == (r1 - r0, cw)
                numpy.testing.assert_array_equal(band, whole[r0:r1])
            # and the array's own values where the chunk is inside the array
            rows, cols = slice(i * ch, min((i + 1) * ch, SHAPE[0])), slice(j * cw, None)
            inside = data[rows, cols][:, :cw]
            band = reader.read_rows(i, j, 0, inside.shape[0])
            numpy.testing.assert_array_equal(band[:, : inside.shape[1]], inside)


def test_header_guesses_small_blocks_in_two_reads(tmp_path):
    array, _ = write_array(tmp_path / "a", SETTINGS[2])  # 8 KiB blocks: table > first guess
    reader = blosc_ranges.BloscChunkReader(array, chunkcache.ChunkCache(2**30), ("t",))
    header = reader.header(0, 0)
    assert header.blocksize == 8192 and header.blocks == -(-700 * 500 * 2 // 8192)
    assert reader.stats["requests"] == 2


def shuffled_blocks(raw: bytes) -> bytes:
    """The same chunk with its blocks stored in another order (as blosc's threads leave them:
    which order depends on timing, so it is made here): a valid chunk for c-blosc."""
    header = blosc_ranges.parse_header(raw[: blosc_ranges.table_size(raw[:16])])
    order = numpy.random.default_rng(5).permutation(header.blocks)
    table = numpy.zeros(header.blocks, dtype="<i4")
    body, position = [], len(header.table)
    for b in order:
        table[b] = position
        body.append(raw[header.starts[b] : header.ends[b]])
        position += len(body[-1])
    return raw[:16] + table.tobytes() + b"".join(body)


def test_blocks_out_of_order_end_at_the_next_offset():
    """Blocks are stored in any order: each ends where the next larger offset starts."""
    data = values("<u2", (2000, 2000))
    raw = shuffled_blocks(numcodecs.Blosc("zstd", 3, numcodecs.Blosc.BITSHUFFLE).encode(data))
    numpy.testing.assert_array_equal(
        numpy.frombuffer(numcodecs.Blosc().decode(raw), "<u2").reshape(data.shape), data
    )
    header = blosc_ranges.parse_header(raw[: blosc_ranges.table_size(raw[:16])])
    assert not (numpy.diff(header.starts) > 0).all()
    assert sorted(zip(header.starts, header.ends, strict=True))[-1][1] == len(raw)
    for b in range(header.blocks):
        decoded = blosc_ranges.decode_blocks(header, {b: raw[header.starts[b] : header.ends[b]]})[b]
        start = b * header.blocksize
        expected = data.view(numpy.uint8).ravel()[start : start + header.block_bytes(b)]
        numpy.testing.assert_array_equal(decoded, expected)
    # several blocks decoded together, neighbours in the file merged into one range
    some = [3, 4, 5, 20]
    ranges = header.ranges(some)
    assert sorted(b for _, _, members in ranges for b in members) == some
    fetched = {b: raw[header.starts[b] : header.ends[b]] for b in some}
    for b, decoded in blosc_ranges.decode_blocks(header, fetched).items():
        start = b * header.blocksize
        numpy.testing.assert_array_equal(
            decoded, data.view(numpy.uint8).ravel()[start : start + header.block_bytes(b)]
        )
    # ... and each fetched range decoded as it came (gaps between its blocks included)
    for s, e, members in header.ranges(some, gap=10**9):
        for b, decoded in blosc_ranges.decode_range(header, s, raw[s:e], members).items():
            start = b * header.blocksize
            numpy.testing.assert_array_equal(
                decoded, data.view(numpy.uint8).ravel()[start : start + header.block_bytes(b)]
            )


def test_fetches_only_the_blocks_of_the_rows_and_caches_them(tmp_path):
    big = values("<u2", (1400, 2000))
    path = tmp_path / "a"
    array, _ = write_array(path, ONE_CHUNK_ZSTD, big, chunks=big.shape)
    cache = chunkcache.ChunkCache(2**30)
    reader = blosc_ranges.BloscChunkReader(array, cache, ("t",))
    band = reader.read_rows(0, 0, 500, 560)
    numpy.testing.assert_array_equal(band, big[500:560])
    header = reader.header(0, 0)
    span = header.block_span(500 * 4000, 560 * 4000)
    minimum = len(header.table) + sum(int(header.ends[b] - header.starts[b]) for b in span)
    chunk_size = (path / "0.0").stat().st_size
    assert reader.stats["bytes"] <= minimum + blosc_ranges.table_prefix(1400 * 4000)
    assert reader.stats["bytes"] < chunk_size / 5
    assert reader.stats["blocks_decoded"] == len(span)
    # the same rows again (a neighbour east): nothing fetched, nothing decoded
    before = dict(reader.stats)
    numpy.testing.assert_array_equal(reader.read_rows(0, 0, 510, 550), big[510:550])
    assert reader.stats == before
    # rows further south: the new blocks only, the header is not read again
    reader.read_rows(0, 0, 540, 620)
    new = header.block_span(540 * 4000, 620 * 4000)
    assert reader.stats["requests"] - before["requests"] == 1
    assert reader.stats["blocks_decoded"] - before["blocks_decoded"] == len(set(new) - set(span))


def test_rows_cached_says_whether_a_read_would_fetch(tmp_path):
    """What a neighbour's read decides on (copies from the cache, no threads): True only
    when every block of the rows is cached."""
    big = values("<u2", (1400, 2000))
    array, _ = write_array(tmp_path / "a", ONE_CHUNK_ZSTD, big, chunks=big.shape)
    cache = chunkcache.ChunkCache(2**30)
    reader = blosc_ranges.BloscChunkReader(array, cache, ("t",))
    assert not reader.rows_cached(0, 0, 500, 560)  # nothing read yet: not even the header
    reader.read_rows(0, 0, 500, 560)
    assert reader.rows_cached(0, 0, 500, 560)
    assert reader.rows_cached(0, 0, 510, 550)
    assert not reader.rows_cached(0, 0, 540, 620)  # rows below: new blocks
    # a cache holding one such band: reading rows further south evicts the first ones
    held = cache.stats()["bytes"]
    small = chunkcache.ChunkCache(int(held * 1.2))
    reader = blosc_ranges.BloscChunkReader(array, small, ("t",))
    reader.read_rows(0, 0, 500, 560)
    assert reader.rows_cached(0, 0, 500, 560)
    reader.read_rows(0, 0, 900, 960)
    assert reader.rows_cached(0, 0, 900, 960)
    assert not reader.rows_cached(0, 0, 500, 560)
    before = dict(reader.stats)
    numpy.testing.assert_array_equal(reader.read_rows(0, 0, 500, 560), big[500:560])
    assert reader.stats["requests"] == before["requests"] + 1


def test_long_runs_of_blocks_come_in_pieces_side_by_side(tmp_path, monkeypatch):
    # 800 rows of 4000 bytes: with 64 KiB pieces, many ranges fetched and decoded at once,
    # the same rows as a whole-chunk read, no byte fetched twice
    monkeypatch.setattr(blosc_ranges, "PIECE_BYTES", 64 * 1024)
    big = values("<u2", (1400, 2000))
    path = tmp_path / "a"
    array, _ = write_array(path, ONE_CHUNK_ZSTD, big, chunks=big.shape)
    reader = blosc_ranges.BloscChunkReader(array, chunkcache.ChunkCache(2**30), ("t",))
    header = reader.header(0, 0)
    before = dict(reader.stats)
    numpy.testing.assert_array_equal(reader.read_rows(0, 0, 100, 900), big[100:900])
    span = header.block_span(100 * 4000, 900 * 4000)
    pieces = header.ranges(span, max_bytes=64 * 1024)
    assert len(pieces) > 3
    assert all(end - start <= 64 * 1024 or len(members) == 1 for start, end, members in pieces)
    assert sorted(b for _, _, members in pieces for b in members) == list(span)
    assert reader.stats["requests"] - before["requests"] == len(pieces)
    blocks = sum(int(header.ends[b] - header.starts[b]) for b in span)
    assert blocks <= reader.stats["bytes"] - before["bytes"] <= blocks + len(pieces) * 16 * 1024
    assert reader.stats["blocks_decoded"] == len(span)


def test_fallbacks(tmp_path):
    # a plain-copy chunk (clevel 0): read whole by the caller
    array, _ = write_array(tmp_path / "copy", ("zstd", 0, numcodecs.Blosc.SHUFFLE, 0, "<u2"))
    reader = blosc_ranges.BloscChunkReader(array, chunkcache.ChunkCache(2**30), ("t",))
    assert reader.read_rows(0, 0, 0, 10) is None
    assert reader.read_rows(0, 0, 0, 10) is None  # remembered: one request only
    assert reader.stats["requests"] == 1
    # an absent chunk: the fill value
    empty = zarr.create_array(
        store=str(tmp_path / "empty"),
        shape=SHAPE,
        chunks=CHUNKS,
        dtype="<u2",
        zarr_format=2,
        compressors=numcodecs.Blosc("zstd", 3, numcodecs.Blosc.BITSHUFFLE),
        fill_value=7,
    )
    band = blosc_ranges.BloscChunkReader(empty, None, ("t",)).read_rows(1, 1, 3, 9)
    assert band.shape == (6, 500) and (band == 7).all()
    # other compressors, filters: not eligible
    other = zarr.create_array(
        store=str(tmp_path / "zstd"),
        shape=SHAPE,
        chunks=CHUNKS,
        dtype="<u2",
        zarr_format=2,
        compressors=numcodecs.Zstd(),
    )
    assert not blosc_ranges.eligible(other)
    filtered = zarr.create_array(
        store=str(tmp_path / "delta"),
        shape=SHAPE,
        chunks=CHUNKS,
        dtype="<u2",
        zarr_format=2,
        filters=[numcodecs.Delta(dtype="<u2")],
        compressors=numcodecs.Blosc(),
    )
    assert not blosc_ranges.eligible(filtered)


# -- through the tiler: a full-shape native product -----------------------------------------


@pytest.fixture(scope="module")
def l1c_b04(tmp_path_factory):
    """Native L1C b04 at r10m (10980 x 10980 in 1830 x 1830 chunks, zstd + bitshuffle)."""
    from eopf_sample import fullsize

    root = tmp_path_factory.mktemp("fullsize")
    fullsize.write_product(
        "l1c-native",
        fullsize.product_path(root, "l1c-native"),
        bands={"b04"},
        levels={"r10m"},
        log=None,
    )
    return root, fullsize.PRODUCTS["l1c-native"]


def npy_tiles(root, product, tiles, monkeypatch, subchunk: bool):
    from fastapi.testclient import TestClient

    from titiler_eopf.tiler.app import create_tiler_app
    from titiler_eopf.tiler.settings import TilerSettings

    if not subchunk:
        monkeypatch.setattr(blosc_ranges, "eligible", lambda array: False)
    client = TestClient(create_tiler_app(TilerSettings(store_url=str(root))))
    base = f"/collections/{product.collection}/items/{product.item_id}"
    params = [("variables", "/measurements/reflectance:b04")]
    out = []
    for z, x, y in tiles:
        response = client.get(f"{base}/tiles/WebMercatorQuad/{z}/{x}/{y}.npy", params=params)
        assert response.status_code in (200, 404), response.text
        ok = response.status_code == 200
        out.append(numpy.load(io.BytesIO(response.content)) if ok else None)
    monkeypatch.undo()
    return out


def test_tiles_are_identical_to_whole_chunk_reads(l1c_b04, monkeypatch):
    import morecantile
    from rasterio.warp import transform

    from eopf_sample import fullsize

    root, product = l1c_b04
    x0, y0, extent = fullsize.grid("l1c-native")
    tiles = []
    # inside a chunk, across a chunk edge (1830 px = 18.3 km), at the product's last rows
    for fx, fy in ((0.27, 0.27), (1830 * 10 / extent, 3 * 1830 * 10 / extent), (0.1, 0.995)):
        (lon,), (lat,) = transform(
            "EPSG:32632", "EPSG:4326", [x0 + fx * extent], [y0 - fy * extent]
        )
        for z in (12, 14):
            t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
            tiles += [(z, t.x, t.y), (z, t.x + 1, t.y + 1)]
    chunkcache.process_cache().clear()
    ours = npy_tiles(root, product, tiles, monkeypatch, subchunk=True)
    stats = chunkcache.process_cache().stats()
    chunkcache.process_cache().clear()
    whole = npy_tiles(root, product, tiles, monkeypatch, subchunk=False)
    assert sum(a is not None for a in ours) >= len(tiles) - 2
    for a, b in zip(ours, whole, strict=True):
        assert (a is None) == (b is None)
        if a is None:  # past the product's edge (the neighbour of the last rows)
            continue
        numpy.testing.assert_array_equal(a, b)
        assert (a[-1] > 0).any()  # not an empty tile
    # the chunk cache held blocks (small entries), not 6.7 MB chunks
    assert stats["entries"] > 0 and stats["bytes"] / stats["entries"] < 2**20


def test_rows_around_come_with_a_fetch_not_alone(tmp_path):
    big = values("<u2", (1400, 2000))
    array, _ = write_array(tmp_path / "a", ONE_CHUNK_ZSTD, big, chunks=big.shape)
    reader = blosc_ranges.BloscChunkReader(array, chunkcache.ChunkCache(2**30), ("t",))
    numpy.testing.assert_array_equal(reader.read_rows(0, 0, 500, 560, around=20), big[500:560])
    header = reader.header(0, 0)
    wider = header.block_span(480 * 4000, 580 * 4000)
    assert reader.stats["blocks_decoded"] == len(wider)
    assert len(header.block_span(500 * 4000, 560 * 4000)) < len(wider)
    # a neighbour east, its rows 15 higher: all cached, nothing fetched
    assert reader.rows_cached(0, 0, 485, 545)
    before = dict(reader.stats)
    numpy.testing.assert_array_equal(reader.read_rows(0, 0, 485, 545, around=20), big[485:545])
    assert reader.stats == before
    # rows already cached are not read again for the rows around: only what is missing
    reader.read_rows(0, 0, 570, 600, around=20)
    assert reader.stats["blocks_decoded"] - before["blocks_decoded"] == len(
        set(header.block_span(550 * 4000, 620 * 4000)) - set(wider)
    )
    assert reader.rows_cached(0, 0, 550, 620)
