"""Product metadata shared across containers: a cold container opens a known product from the
cache tier (one blob) with no store request beyond the version check, and never a stale one."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from eopf_sample import COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID
from tests.support.cache import make_settings, uses_redis, uses_s3
from tests.support.loopback import LoopbackStore
from tests.support.servers import s3_client
from titiler_eopf.tiler import metadata_cache
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.settings import TilerSettings

PYRAMID = "measurements/reflectance"


class DictBlobs:
    """A BlobStore (the cache tier as the tiler sees it), counting round trips."""

    def __init__(self):
        self.data: dict[str, bytes] = {}
        self.gets = self.puts = 0

    def get(self, key):
        self.gets += 1
        return self.data.get(key)

    def put(self, key, value):
        self.puts += 1
        assert isinstance(value, bytes)
        self.data[key] = value


def test_blob_round_trip_and_garbage():
    objects = {"a/.zmetadata": b'{"x": 1}', "a/x/0": bytes(range(256)), "zarr.json": None}
    assert metadata_cache.decode(metadata_cache.encode(objects)) == objects
    assert metadata_cache.decode(b"") is None
    assert metadata_cache.decode(b"\x80\x04pickle") is None
    assert metadata_cache.decode(metadata_cache.encode(objects)[:-3]) is None
    assert metadata_cache.shared_object("measurements/reflectance/r10m/x/0")
    assert metadata_cache.shared_object("measurements/reflectance/r10m/y/c/0")
    assert metadata_cache.shared_object("measurements/.zattrs")
    assert not metadata_cache.shared_object("measurements/reflectance/r10m/b04/0.0")
    assert not metadata_cache.shared_object("measurements/reflectance/r10m/b04/c/0/1")


@pytest.fixture
def product_store(sample_store, tmp_path):
    """A copy of the sample products (rewritten in place by a test) behind a loopback store."""
    root = tmp_path / "store"
    for collection in (COLLECTION_NATIVE, COLLECTION_GEOZARR):
        shutil.copytree(sample_store / collection, root / collection)
    with LoopbackStore(root) as store:
        yield root, store


def open_and_use(catalog: Catalog, collection: str):
    """What a tile request reads besides pixels: the product, its pyramid, a level's dataset."""
    product = catalog.open(collection, ITEM_ID)
    pyramid = product.pyramid(PYRAMID)
    for level in pyramid.levels:
        product.dataset(level)
    return product, pyramid


def metadata_requests(stats: dict) -> dict:
    return {
        path: n
        for path, (n, _) in stats["paths"].items()
        if metadata_cache.shared_object(path.strip("/").split(".zarr/", 1)[-1])
    }


@pytest.mark.parametrize("collection", [COLLECTION_NATIVE, COLLECTION_GEOZARR])
def test_cold_container_opens_a_known_product_from_the_cache_tier(product_store, collection):
    root, store = product_store
    settings = TilerSettings(store_url=store.url, store_allow_http=True)
    blobs = DictBlobs()
    # the first container opens the product from the store and publishes what it read
    first = Catalog(settings, metadata_store=blobs)
    product, pyramid = open_and_use(first, collection)
    first.open(collection, ITEM_ID)  # the next request publishes the coordinates read
    assert blobs.puts == 2 and len(blobs.data) == 1

    # a cold container: one blob read, the version check, nothing else from the store
    store.reset()
    blobs.gets = blobs.puts = 0
    cold = Catalog(settings, metadata_store=blobs)
    product2, pyramid2 = open_and_use(cold, collection)
    cold.open(collection, ITEM_ID)
    assert blobs.gets + blobs.puts <= 2 and blobs.gets == 1 and blobs.puts == 0
    stats = store.stats()
    assert stats["requests"] == cold.versions.checks * 2  # HEAD .zmetadata + HEAD zarr.json
    assert [lv.bounds for lv in pyramid2.levels] == [lv.bounds for lv in pyramid.levels]
    assert [lv.shape for lv in pyramid2.levels] == [lv.shape for lv in pyramid.levels]

    # without the shared tier the same open reads metadata and coordinates from the store
    store.reset()
    open_and_use(Catalog(settings), collection)
    assert len(metadata_requests(store.stats())) > 2


def test_a_rewritten_product_is_never_opened_from_stale_metadata(product_store):
    root, store = product_store
    settings = TilerSettings(
        store_url=store.url, store_allow_http=True, source_revalidate_seconds=0
    )
    blobs = DictBlobs()
    open_and_use(Catalog(settings, metadata_store=blobs), COLLECTION_NATIVE)
    # the product is rewritten in place: its consolidated metadata names another band set
    meta = root / COLLECTION_NATIVE / f"{ITEM_ID}.zarr" / ".zmetadata"
    text = meta.read_text()
    meta.write_text(text.replace('"long_name"', '"long_name" ', 1) + " ")
    os.utime(meta, ns=(1, 1))
    store.reset()
    cold = Catalog(settings, metadata_store=blobs)
    before = dict(blobs.data)
    open_and_use(cold, COLLECTION_NATIVE)
    # another version: another key, read from the store, then published beside the old one
    paths = metadata_requests(store.stats())
    assert any(p.endswith("/.zmetadata") and n >= 2 for p, n in paths.items())
    cold.open(COLLECTION_NATIVE, ITEM_ID)
    assert set(before) < set(blobs.data)


def test_a_broken_cache_tier_opens_from_the_store(product_store):
    class Down:
        def get(self, key):
            raise ConnectionError("down")

        def put(self, key, value):
            raise ConnectionError("down")

    root, store = product_store
    settings = TilerSettings(store_url=store.url, store_allow_http=True)
    catalog = Catalog(settings, metadata_store=Down())
    product, pyramid = open_and_use(catalog, COLLECTION_GEOZARR)
    assert pyramid.levels and catalog.open(COLLECTION_GEOZARR, ITEM_ID) is product


@pytest.fixture(params=["memory", "redis", "s3", "s3_redis"])
def shared_cache_settings(request, test_aws_env):
    """Cache settings of each backend on the session's servers (a namespace of this test's
    own in Redis, a bucket of its own in S3)."""
    backend = request.param
    servers = {}
    if uses_redis(backend):
        servers["redis_port"] = request.getfixturevalue("redis_server").port
    if uses_s3(backend):
        endpoint = request.getfixturevalue("s3_server").url
        servers |= {"s3_endpoint": endpoint, "bucket": f"meta-{uuid.uuid4().hex[:12]}"}
        s3_client(endpoint).create_bucket(Bucket=servers["bucket"])
    return make_settings(backend, namespace=f"meta-{uuid.uuid4().hex[:8]}", **servers)


def test_app_shares_product_metadata_through_the_cache(product_store, shared_cache_settings):
    """main.py passes the cache tier to the tiler: a second app (another container, with a
    client of its own to the cache tier) opens the product without reading its metadata
    from the store, whichever backend holds the blob."""
    from fastapi.testclient import TestClient

    from titiler_eopf.cache import build_cache
    from titiler_eopf.main import create_app

    root, store = product_store
    settings = TilerSettings(store_url=store.url, store_allow_http=True)
    cache = build_cache(shared_cache_settings)
    base = f"/collections/{COLLECTION_NATIVE}/items/{ITEM_ID}"
    params = {"variables": "/measurements/reflectance:b04", "rescale": "0,0.4"}
    first = TestClient(create_app(settings, cache=cache))
    assert first.get(f"{base}/info").status_code == 200
    assert first.get(f"{base}/WebMercatorQuad/tilejson.json", params=params).status_code == 200
    store.reset()
    # the memory backend lives in one process: there, "another container" shares the object
    other = cache if cache.backend.name == "memory" else build_cache(shared_cache_settings)
    second = TestClient(create_app(settings, cache=other))
    response = second.get(f"{base}/WebMercatorQuad/tilejson.json", params={**params, "v": 2})
    assert response.status_code == 200
    assert metadata_requests(store.stats()) == {
        f"/{COLLECTION_NATIVE}/{ITEM_ID}.zarr/.zmetadata": 1,  # the version check (HEAD)
        f"/{COLLECTION_NATIVE}/{ITEM_ID}.zarr/zarr.json": 1,
    }
    assert cache.metrics.blob_errors == other.metrics.blob_errors == 0
