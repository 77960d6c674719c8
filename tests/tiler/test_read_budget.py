"""Bounded reads: a request is planned from metadata, checked against the read budget, then read
chunk by chunk (decimated when the level is much finer than the output), and decoded chunks are
reused by neighbouring tiles."""

from __future__ import annotations

import threading

import morecantile
import numpy
import pytest
from fastapi.testclient import TestClient

from eopf_sample import (
    ADD_OFFSET,
    BOUNDS_LONLAT,
    COLLECTION_GEOZARR,
    COLLECTION_NATIVE,
    SCALE_FACTOR,
)
from tests.support.tiler import decode_image, item_path, variables_query
from titiler_eopf.tiler import chunkcache
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

TMS = morecantile.tms.get("WebMercatorQuad")
CENTRE = ((BOUNDS_LONLAT[0] + BOUNDS_LONLAT[2]) / 2, (BOUNDS_LONLAT[1] + BOUNDS_LONLAT[3]) / 2)
# b08 exists only at r10m in the native layout: no coarse level to fall back on (like L1C).
NIR_ONLY_R10M = ["/measurements/reflectance:b08"]
# The GeoZarr r10m level alone: 1440 x 1440 in 144 x 144 inner chunks (100 per band).
R10M_ONLY = ["/measurements/reflectance/r10m:b04"]


def tile_path(collection: str, z: int, dx: int = 0) -> str:
    tile = TMS.tile(*CENTRE, z)
    return f"{item_path(collection)}/tiles/WebMercatorQuad/{z}/{tile.x + dx}/{tile.y}.png"


@pytest.fixture(scope="module")
def small_budget_client(sample_store) -> TestClient:
    # A whole r10m band is 100 inner chunks (2.07 M pixels); 1.1 M pixels is about half.
    settings = TilerSettings(store_url=str(sample_store), read_max_pixels=1_100_000)
    return TestClient(create_tiler_app(settings))


def test_over_budget_tile_is_a_400_naming_the_zoom_that_fits(small_budget_client):
    client = small_budget_client
    params = variables_query(R10M_ONLY) + [("rescale", "0,1")]
    response = client.get(tile_path(COLLECTION_GEOZARR, 10), params=params)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert "read budget" in detail and "TITILER_EOPF_READ_MAX_PIXELS" in detail
    fits_from = int(detail.rsplit("fit from zoom ", 1)[1].split()[0].rstrip("."))
    assert fits_from > 10
    # the zoom it names renders, and TileJSON advertises no zoom below what renders
    assert client.get(tile_path(COLLECTION_GEOZARR, fits_from), params=params).status_code == 200
    tilejson = client.get(
        f"{item_path(COLLECTION_GEOZARR)}/WebMercatorQuad/tilejson.json", params=params
    ).json()
    assert 10 < tilejson["minzoom"] <= fits_from
    rendered = 0
    for z in range(tilejson["minzoom"], tilejson["maxzoom"] + 1):  # every tile of those zooms
        first, last = (
            TMS.tile(BOUNDS_LONLAT[0], BOUNDS_LONLAT[3], z),
            TMS.tile(BOUNDS_LONLAT[2], BOUNDS_LONLAT[1], z),
        )
        for x in range(first.x, last.x + 1, max(1, (last.x - first.x) // 3)):
            for y in range(first.y, last.y + 1, max(1, (last.y - first.y) // 3)):
                path = f"{item_path(COLLECTION_GEOZARR)}/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
                status = client.get(path, params=params).status_code
                assert status in (200, 404), (z, x, y, status)  # 404: outside the UTM footprint
                rendered += status == 200
    assert rendered >= 4
    # bands with coarse levels still render at low zoom on the same server
    rgb = variables_query() + [("rescale", "0,1")]
    assert client.get(tile_path(COLLECTION_GEOZARR, 10), params=rgb).status_code == 200


def test_a_band_without_coarse_level_is_decimated_not_loaded(client):
    """b08 at z10 (only r10m exists): read chunk by chunk, one pixel per block kept; the pixel
    values are real samples of the band (no averaging across the scene's blocks)."""
    response = client.get(
        tile_path(COLLECTION_NATIVE, 10).replace(".png", ".npy"),
        params=variables_query(NIR_ONLY_R10M),
    )
    assert response.status_code == 200, response.text
    data = numpy.load(__import__("io").BytesIO(response.content))
    values = data[0][data[-1] > 0] if data.shape[0] > 1 else data[0][~numpy.isnan(data[0])]
    allowed = {round((5000 + 200 * k) * SCALE_FACTOR + ADD_OFFSET, 6) for k in range(25)}
    assert values.size > 100
    assert {round(float(v), 6) for v in numpy.unique(values)} <= allowed


@pytest.mark.parametrize("collection", [COLLECTION_NATIVE, COLLECTION_GEOZARR])
def test_neighbouring_tiles_reuse_decoded_chunks(sample_store, collection):
    """The second of two neighbouring full-resolution tiles is served from decoded chunks, and
    gives the same pixels as a server without the chunk cache."""
    cached = TestClient(create_tiler_app(TilerSettings(store_url=str(sample_store))))
    uncached = TestClient(
        create_tiler_app(TilerSettings(store_url=str(sample_store), chunk_cache_bytes=0))
    )
    params = variables_query() + [("rescale", "0,1")]
    cached.get(tile_path(collection, 15), params=params)
    before = chunkcache.stats()
    second = cached.get(tile_path(collection, 15, dx=1), params=params)
    after = chunkcache.stats()
    assert second.status_code == 200
    assert after["hits"] > before["hits"]
    if collection == COLLECTION_NATIVE:  # 720 x 720 chunks: the neighbour is inside them
        assert after["misses"] == before["misses"]  # nothing fetched again
    else:  # 144 x 144 inner chunks: the neighbour shares half of its chunks
        assert after["misses"] - before["misses"] <= after["hits"] - before["hits"]
    reference = uncached.get(tile_path(collection, 15, dx=1), params=params)
    assert numpy.array_equal(decode_image(second.content), decode_image(reference.content))


def test_chunk_cache_is_bounded_in_bytes_and_counts_evictions():
    cache = chunkcache.ChunkCache(max_bytes=3 * 800)
    for key in range(5):
        cache.put(key, numpy.zeros(100, dtype="f8"))  # 800 bytes each
    stats = cache.stats()
    assert stats["entries"] == 3 and stats["bytes"] == 2400 and stats["evictions"] == 2
    assert cache.get(0) is None and cache.get(4) is not None
    cache.put("huge", numpy.zeros(1000, dtype="f8"))  # bigger than the cache: not kept
    assert cache.get("huge") is None and cache.stats()["entries"] == 3

    def hammer(offset):
        for i in range(300):
            cache.put((offset, i % 7), numpy.zeros(100, dtype="f8"))
            cache.get((offset, (i + 3) % 7))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats["bytes"] == 800 * stats["entries"] <= 2400


def test_cache_status_reports_chunk_counters(sample_store):
    from titiler_eopf.cache.settings import CacheSettings
    from titiler_eopf.main import create_app

    app = create_app(TilerSettings(store_url=str(sample_store)), CacheSettings(backend="memory"))
    client = TestClient(app)
    assert (
        client.get(
            tile_path(COLLECTION_NATIVE, 15), params=variables_query() + [("rescale", "0,1")]
        ).status_code
        == 200
    )
    chunks = client.get("/cache/status").json()["chunks"]
    assert set(chunks) >= {"hits", "misses", "evictions", "bytes", "max_bytes"}
    assert chunks["misses"] + chunks["hits"] > 0
