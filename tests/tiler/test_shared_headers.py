"""Blosc chunk headers shared across containers: a cold container's first tile of a known
product reads each chunk's header + block table from the cache tier instead of the store, and
never a header that does not belong to the chunk (damaged, another version, no version)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import uuid

import numcodecs
import numpy
import pytest

from eopf_sample import COLLECTION_NATIVE, ITEM_ID
from tests.support.cache import make_settings, uses_redis
from tests.support.loopback import LoopbackStore
from titiler_eopf.tiler import blosc_ranges, chunkcache, shared_headers
from titiler_eopf.tiler.settings import TilerSettings

BASE = f"/collections/{COLLECTION_NATIVE}/items/{ITEM_ID}"
BANDS = ["b04", "b03", "b02"]
PARAMS = [("variables", f"/measurements/reflectance:{b}") for b in BANDS]
# z13 at the product's centre: the tile holds about half the rows of the four r10m chunks
# (720 x 720) of each band, read block by block.
TILE = (13, 4358, 3029)
CHUNK = re.compile(r"/measurements/reflectance/r\d+m/b\w+/\d+\.\d+$")


@pytest.fixture(autouse=True)
def sample_chunks_pay(monkeypatch):
    """The samples' 1 MB chunks read block by block, as the real 60 MB ones are."""
    monkeypatch.setattr(blosc_ranges, "MIN_CHUNK_BYTES", 0)
    chunkcache.process_cache().clear()  # every app below is a cold container
    yield
    assert shared_headers.drain()


@pytest.fixture
def product_store(sample_store, tmp_path):
    """A copy of the native sample product (rewritten in place by a test) behind a loopback
    store."""
    root = tmp_path / "store"
    shutil.copytree(
        sample_store / COLLECTION_NATIVE / f"{ITEM_ID}.zarr",
        root / COLLECTION_NATIVE / f"{ITEM_ID}.zarr",
    )
    with LoopbackStore(root) as store:
        yield root, store


class Recorded:
    """A BlobStore over the real cache tier (``main.CacheBlobs``), recording the keys asked
    for and written."""

    def __init__(self, cache):
        from titiler_eopf.main import CacheBlobs

        self.cache = cache
        self.inner = CacheBlobs(cache)
        self.got: list[tuple[str, bool]] = []  # (key, found)
        self.put_keys: list[str] = []

    def get(self, key):
        value = self.inner.get(key)
        self.got.append((key, value is not None))
        return value

    def put(self, key, value):
        self.put_keys.append(key)
        self.inner.put(key, value)

    def header_keys(self) -> set[str]:
        return {k for k in self.put_keys if k.startswith("blosc-header/")}


def memory_cache():
    from titiler_eopf.cache import build_cache

    return build_cache(make_settings("memory", namespace=f"hdr-{uuid.uuid4().hex[:8]}"))


def tiler_client(store, blobs=None, versions=None, **settings):
    from fastapi.testclient import TestClient

    from titiler_eopf.tiler.app import create_tiler_app

    tiler_settings = TilerSettings(store_url=store.url, store_allow_http=True, **settings)
    return TestClient(create_tiler_app(tiler_settings, versions=versions, metadata_store=blobs))


def tile(client, extra=()) -> numpy.ndarray:
    z, x, y = TILE
    response = client.get(f"{BASE}/tiles/WebMercatorQuad/{z}/{x}/{y}.npy", params=[*PARAMS, *extra])
    assert response.status_code == 200, response.text
    return numpy.load(io.BytesIO(response.content))


def whole_chunk_tile(store, monkeypatch) -> numpy.ndarray:
    """The tile read with sub-chunk reads off: zarr decodes whole chunks."""
    with monkeypatch.context() as m:
        m.setattr(blosc_ranges, "eligible", lambda array: False)
        return tile(tiler_client(store))


def chunk_reads(store) -> dict[str, list[int]]:
    """Per chunk object read from the store: the first byte of each request."""
    return {p: s for p, s in store.stats()["starts"].items() if CHUNK.search(p)}


def header_reads(store) -> int:
    """Requests for a chunk's first bytes (its header and block table; a whole chunk too)."""
    return sum(starts.count(0) for starts in chunk_reads(store).values())


def test_blob_round_trip_and_damage():
    table = bytes(range(16)) + bytes(400)
    blob = shared_headers.encode("k/r10m/b04/0.0", table)
    assert shared_headers.decode("k/r10m/b04/0.0", blob) == table
    assert shared_headers.decode("k/r10m/b04/0.1", blob) is None  # another chunk's
    assert shared_headers.decode("k/r10m/b04/0.0", blob[:-1]) is None  # truncated
    altered = bytearray(blob)
    altered[-3] ^= 1
    assert shared_headers.decode("k/r10m/b04/0.0", bytes(altered)) is None
    assert shared_headers.decode("k/r10m/b04/0.0", b"\x80\x04pickle") is None
    assert shared_headers.for_product(object(), "c", "i", "unknown") is None
    assert shared_headers.for_product(object(), "c", "i", "absent") is None
    assert shared_headers.for_product(None, "c", "i", ".zmetadata:1:2") is None
    one = shared_headers.for_product(object(), "c", "i", ".zmetadata:1:2")
    other = shared_headers.for_product(object(), "c", "i", ".zmetadata:1:3")
    assert one.key("a/0.0") != other.key("a/0.0")


def test_no_chunk_headers_in_an_s3_only_tier():
    """Blobs in S3 cost what the store's range read costs: metadata is shared, headers not."""
    from titiler_eopf.cache import build_cache
    from titiler_eopf.main import CacheBlobs

    version = ".zmetadata:1:2"
    s3 = make_settings("s3", s3_endpoint="http://127.0.0.1:9", bucket="never-asked")
    assert shared_headers.for_product(CacheBlobs(build_cache(s3)), "c", "i", version) is None
    memory = CacheBlobs(memory_cache())
    assert shared_headers.for_product(memory, "c", "i", version) is not None


def test_checked_header_rejects_tables_of_another_chunk():
    data = numpy.arange(700 * 500, dtype="<u2").reshape(700, 500)
    raw = numcodecs.Blosc("zstd", 3, numcodecs.Blosc.BITSHUFFLE, blocksize=8192).encode(data)
    table = raw[: blosc_ranges.table_size(raw[:16])]
    header = blosc_ranges.checked_header(table, data.nbytes, 2)
    assert header is not None and header.blocks == -(-data.nbytes // 8192)
    assert blosc_ranges.checked_header(table, data.nbytes + 2, 2) is None  # nbytes
    assert blosc_ranges.checked_header(table, data.nbytes, 4) is None  # typesize
    assert blosc_ranges.checked_header(table[:-4], data.nbytes, 2) is None  # short table
    assert blosc_ranges.checked_header(table + b"\0" * 4, data.nbytes, 2) is None  # long
    bigger = bytearray(table)
    bigger[12:16] = (2 * data.nbytes).to_bytes(4, "little")  # cbytes beyond what blosc writes
    assert blosc_ranges.checked_header(bytes(bigger), data.nbytes, 2) is None
    blocksize = bytearray(table)
    blocksize[8:12] = (16384).to_bytes(4, "little")  # table length no longer fits
    assert blosc_ranges.checked_header(bytes(blocksize), data.nbytes, 2) is None


@pytest.fixture(params=["memory", "redis"])
def shared_cache_settings(request):
    servers = {}
    if uses_redis(request.param):
        servers["redis_port"] = request.getfixturevalue("redis_server").port
    return make_settings(request.param, namespace=f"hdr-{uuid.uuid4().hex[:8]}", **servers)


def test_a_cold_container_reads_the_headers_from_the_cache_tier(
    product_store, shared_cache_settings, monkeypatch
):
    """Two apps as main.py builds them (two containers, each with a client of its own to the
    cache tier): the second one's first tile fetches only blocks from the store."""
    from fastapi.testclient import TestClient

    from titiler_eopf.cache import build_cache
    from titiler_eopf.main import create_app

    root, store = product_store
    settings = TilerSettings(store_url=store.url, store_allow_http=True)
    cache = build_cache(shared_cache_settings)
    first = tile(TestClient(create_app(settings, cache=cache)))
    chunks = len(chunk_reads(store))
    assert chunks >= 6 and header_reads(store) == chunks  # one header read per chunk
    assert shared_headers.drain()

    store.reset()
    chunkcache.process_cache().clear()
    # the memory backend lives in one process: there, "another container" shares the object
    other = cache if cache.backend.name == "memory" else build_cache(shared_cache_settings)
    client = TestClient(create_app(settings, cache=other))
    second = tile(client, extra=[("v", "2")])  # another tile-cache key: a MISS
    reads = chunk_reads(store)
    assert len(reads) == chunks and header_reads(store) == 0  # blocks only
    assert all(min(starts) > 16 for starts in reads.values())
    numpy.testing.assert_array_equal(second, first)
    numpy.testing.assert_array_equal(second, whole_chunk_tile(store, monkeypatch))
    assert cache.metrics.blob_errors == other.metrics.blob_errors == 0


def damaged(kind: str, key: str, blob: bytes) -> bytes:
    table = shared_headers.decode(key, blob)
    assert table is not None
    if kind == "truncated":
        return blob[:-5]
    if kind == "altered":
        return blob[:-9] + bytes([blob[-9] ^ 0x10]) + blob[-8:]
    if kind == "garbage":
        return b"not a blosc header"
    # well formed and signed, but the header of a chunk of bytes (typesize 1), not uint16
    return shared_headers.encode(key, table[:3] + b"\x01" + table[4:])


@pytest.mark.parametrize("kind", ["truncated", "altered", "garbage", "another-dtype"])
def test_a_damaged_header_blob_is_ignored(product_store, kind, monkeypatch, caplog):
    root, store = product_store
    blobs = Recorded(memory_cache())
    expected = tile(tiler_client(store, blobs))
    assert shared_headers.drain()
    keys = blobs.header_keys()
    assert len(keys) == len(chunk_reads(store))
    for key in keys:
        blobs.cache.put_blob(key, damaged(kind, key, blobs.cache.get_blob(key)))

    store.reset()
    chunkcache.process_cache().clear()
    with caplog.at_level(logging.WARNING, logger="titiler_eopf.tiler"):
        got = tile(tiler_client(store, blobs))
    # every header from the store, the right pixels, each damaged blob logged
    assert header_reads(store) == len(keys)
    numpy.testing.assert_array_equal(got, expected)
    numpy.testing.assert_array_equal(got, whole_chunk_tile(store, monkeypatch))
    logged = [r.getMessage() for r in caplog.records if "shared blosc header" in r.getMessage()]
    assert len(logged) == len(keys), logged

    # what the store answered replaced the damaged blobs: the next cold container reads none
    assert shared_headers.drain()
    store.reset()
    chunkcache.process_cache().clear()
    numpy.testing.assert_array_equal(tile(tiler_client(store, blobs)), expected)
    assert header_reads(store) == 0


class Unversioned:
    """Source versions of a store that could not be asked (``unknown``)."""

    checks = 0

    def __call__(self, collection, item, fresh=False):
        return "unknown"


def test_an_unversioned_product_shares_no_header(product_store):
    root, store = product_store
    blobs = Recorded(memory_cache())
    tile(tiler_client(store, blobs, versions=Unversioned()))
    assert shared_headers.drain()
    chunks = header_reads(store)
    assert chunks >= 6 and blobs.got == [] and blobs.put_keys == []
    store.reset()
    chunkcache.process_cache().clear()
    tile(tiler_client(store, blobs, versions=Unversioned()))
    assert header_reads(store) == chunks and blobs.got == [] and blobs.put_keys == []


def rewrite_chunks(root) -> None:
    """Rewrite the r10m bands in place: other values (rows reversed), other blosc blocks
    (16 KiB: a longer block table), then the consolidated metadata (a new source version)."""
    product = root / COLLECTION_NATIVE / f"{ITEM_ID}.zarr"
    for band in BANDS:
        path = product / "measurements/reflectance/r10m" / band
        meta = json.loads((path / ".zarray").read_text())
        codec = numcodecs.get_codec(meta["compressor"])
        config = {**codec.get_config(), "blocksize": 16384}
        config.pop("id")
        rewrite = numcodecs.Blosc(**config)
        for chunk in path.glob("*.*"):
            if not re.fullmatch(r"\d+\.\d+", chunk.name):
                continue
            values = numpy.frombuffer(codec.decode(chunk.read_bytes()), dtype=meta["dtype"])
            values = values.reshape(meta["chunks"])[::-1]
            chunk.write_bytes(rewrite.encode(numpy.ascontiguousarray(values)))
    consolidated = product / ".zmetadata"
    consolidated.write_text(consolidated.read_text() + " ")
    os.utime(consolidated, ns=(1, 1))


def test_a_new_source_version_does_not_use_the_old_headers(product_store, monkeypatch):
    root, store = product_store
    blobs = Recorded(memory_cache())
    before = tile(tiler_client(store, blobs, source_revalidate_seconds=0))
    assert shared_headers.drain()
    old_keys = blobs.header_keys()
    assert len(old_keys) >= 6

    rewrite_chunks(root)
    store.reset()
    chunkcache.process_cache().clear()
    blobs.got.clear()
    after = tile(tiler_client(store, blobs, source_revalidate_seconds=0))
    asked = {key for key, _ in blobs.got if key.startswith("blosc-header/")}
    # the new version's keys, none found: every header from the store, the new pixels
    assert asked and not asked & old_keys
    assert not any(found for key, found in blobs.got if key in asked)
    assert header_reads(store) == len(chunk_reads(store)) == len(asked)
    numpy.testing.assert_array_equal(after, whole_chunk_tile(store, monkeypatch))
    assert not numpy.array_equal(after, before)
