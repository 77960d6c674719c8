"""Collection mosaics behind the cache, with the real STAC API: keys hold the search
parameters, a short TTL of their own, collection bumps and tile ranges invalidate them, and
neighbouring tiles reuse one STAC search."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from eopf_sample.mosaic import COLLECTION_MOSAIC, MOSAIC_ITEMS
from tests.support.mosaic import B04, MOSAIC, seam_tile
from titiler_eopf.cache import CacheMiddleware
from titiler_eopf.cache.invalidation import invalidate_scope, invalidate_tiles
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings


@pytest.fixture(params=["memory", "s3_redis"])
def client(request, sample_store, stac_api, cache_for):
    settings = TilerSettings(store_url=str(sample_store), stac_api_url=stac_api.url)
    apps = []

    def factory():
        apps.append(create_tiler_app(settings))
        return apps[-1]

    cache = cache_for(request.param)
    with TestClient(CacheMiddleware(app_factory=factory, cache=cache)) as c:
        c.cache, c.apps = cache, apps
        yield c


def _tile_url(tile, ext=".png"):
    return f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}{ext}"


def test_mosaic_tiles_hit_and_keys_hold_the_search(client):
    _, tile = seam_tile()
    first = client.get(_tile_url(tile), params=B04 + [("rescale", "0,1")])
    second = client.get(_tile_url(tile), params=B04 + [("rescale", "0,1")])
    assert first.status_code == 200, first.text
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.content == first.content
    assert second.headers["cache-control"] == "public, max-age=300"  # the mosaic class
    assert (
        client.cache.settings.ttl_for("mosaic_tile") == 600 < client.cache.settings.ttl_for("tile")
    )
    for extra in (
        [("datetime", "2025-06-01T00:00:00Z/2025-06-05T00:00:00Z")],
        [("filter", "eo:cloud_cover < 30")],
        [("pixel_selection", "highest")],
        [("sortby", "+datetime")],
        [("max_items", "1")],
        [("variables", "/measurements/reflectance:b08"), ("algorithm", "normalizedIndex")],
    ):
        other = client.get(_tile_url(tile), params=B04 + [("rescale", "0,1")] + extra)
        assert other.status_code == 200 and other.headers["x-cache"] == "MISS", extra
    tilejson = [client.get(f"{MOSAIC}/WebMercatorQuad/tilejson.json", params=B04) for _ in range(2)]
    assert [r.headers["x-cache"] for r in tilejson] == ["MISS", "HIT"]


def test_collection_bump_and_tile_range_invalidate_mosaic_tiles(client):
    _, tile = seam_tile()
    params = B04 + [("rescale", "0,1"), ("pixel_selection", "mean")]
    assert client.get(_tile_url(tile), params=params).headers["x-cache"] in ("MISS", "HIT")
    assert client.get(_tile_url(tile), params=params).headers["x-cache"] == "HIT"
    invalidate_scope(client.cache, COLLECTION_MOSAIC)
    assert client.get(_tile_url(tile), params=params).headers["x-cache"] == "MISS"
    assert client.get(_tile_url(tile), params=params).headers["x-cache"] == "HIT"
    # a tile range of one item of the collection drops the mosaic tiles over it too
    result = invalidate_tiles(
        client.cache,
        COLLECTION_MOSAIC,
        MOSAIC_ITEMS[0].id,
        minzoom=tile.z,
        maxzoom=tile.z,
        bbox=[11.4, 42.1, 11.8, 42.5],
    )
    assert result.deleted_total >= 1
    assert client.get(_tile_url(tile), params=params).headers["x-cache"] == "MISS"


def test_neighbouring_tiles_reuse_one_stac_search(client):
    if client.cache.settings.backend != "memory":
        pytest.skip("the search cache is in-process: one backend is enough")
    tms, tile = seam_tile(13)
    parent = tms.parent(tms.parent(tile)[0])[0]  # the block the search covers (zoom_up=2)
    block = [t for child in tms.children(parent) for t in tms.children(child)]
    statuses = [
        client.get(
            _tile_url(t), params=B04 + [("rescale", "0,1"), ("datetime", "2025-01-01T00:00:00Z/..")]
        ).status_code
        for t in block
    ]
    assert set(statuses) <= {200, 404} and 200 in statuses
    stats = client.apps[-1].state.mosaic.stac.cache.stats()
    assert stats["misses"] == 1 and stats["hits"] == len(block) - 1, stats
