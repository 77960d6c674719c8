"""Invalidation: the functions (every backend) and the admin HTTP routes."""

from __future__ import annotations

import morecantile
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.cache import BASE, ITEM, client_for, store, tile_url, uses_s3
from titiler_eopf.admin.routes import build_admin_router, build_status_router
from titiler_eopf.cache import invalidation as inv

WMQ = morecantile.tms.get("WebMercatorQuad")  # independent oracle for tile ranges
BBOX = [5.0, 44.0, 12.0, 48.0]
AUTH = {"authorization": "Bearer adm1n"}


def cache_tiles(client, tiles, exts=(".png", ".jpg"), queries=("rescale=0,1", "rescale=0,2")):
    for t in tiles:
        for ext in exts:
            for q in queries:
                assert (
                    client.get(tile_url(z=t.z, x=t.x, y=t.y, ext=ext, query=q)).headers["x-cache"]
                    == "MISS"
                )


def states(client, tiles, ext=".png", query="rescale=0,1"):
    return {
        (t.z, t.x, t.y): client.get(tile_url(z=t.z, x=t.x, y=t.y, ext=ext, query=query)).headers[
            "x-cache"
        ]
        for t in tiles
    }


def test_tile_range_purge_deletes_exactly_the_tiles_inside(cache_for, backend_name):
    cache = cache_for(backend_name)
    inside = [t for z in (3, 4, 5) for t in WMQ.tiles(*BBOX, zooms=[z])]
    ranges = {
        z: (min(t.x for t in inside if t.z == z), max(t.x for t in inside if t.z == z))
        for z in (3, 4, 5)
    }
    outside = [
        morecantile.Tile(ranges[z][1] + 1, t.y, z) for z in (3, 4, 5) for t in inside if t.z == z
    ][:3]
    outside += [t for t in WMQ.tiles(*BBOX, zooms=[2, 6])][:2]  # right place, wrong zoom
    with client_for(cache) as client:
        cache_tiles(client, inside + outside)
        client.get(f"{BASE}/WebMercatorQuad/tilejson.json")
        dry = inv.invalidate_tiles(
            cache, "sentinel-2-l2a", ITEM, minzoom=3, maxzoom=5, bbox=BBOX, dry_run=True
        )
        assert dry.matched == len(inside) * 4 and dry.deleted_total == 0
        assert set(states(client, inside).values()) == {"HIT"}

        result = inv.invalidate_tiles(
            cache, "sentinel-2-l2a", ITEM, minzoom=3, maxzoom=5, bbox=BBOX
        )
        expected = len(inside) * 4  # 2 formats x 2 query variants each
        assert result.matched == expected
        assert all(n == expected for n in result.deleted.values()), result.deleted
        for query in ("rescale=0,1", "rescale=0,2"):
            assert set(states(client, inside, ".jpg", query).values()) == {"MISS"}
        assert set(states(client, outside).values()) == {"HIT"}
        assert client.get(f"{BASE}/WebMercatorQuad/tilejson.json").headers["x-cache"] == "HIT"


def test_hard_item_purge_counts_what_was_deleted(cache_for, backend_name, s3):
    cache = cache_for(backend_name)
    tiles = list(WMQ.tiles(*BBOX, zooms=[4]))
    with client_for(cache) as client:
        cache_tiles(client, tiles, exts=(".png",), queries=("a=1",))
        client.get(f"{BASE}/info")
        client.get(tile_url(base="/collections/sentinel-2-l2a/items/keep"))
        dry = inv.invalidate_scope(cache, "sentinel-2-l2a", ITEM, hard=True, dry_run=True)
        assert dry.matched == len(tiles) + 1 and dry.deleted_total == 0 and dry.generation is None
        assert states(client, tiles[:1], query="a=1") == {(4, tiles[0].x, tiles[0].y): "HIT"}

        result = inv.invalidate_scope(cache, "sentinel-2-l2a", ITEM, hard=True)
        assert result.generation is not None
        assert all(n == len(tiles) + 1 for n in result.deleted.values()), result.deleted
        assert (
            client.get(tile_url(base="/collections/sentinel-2-l2a/items/keep")).headers["x-cache"]
            == "HIT"
        )
    if uses_s3(backend_name):
        listed = s3.list_objects_v2(Bucket=cache.settings.s3_bucket, Prefix="cache/").get(
            "Contents", []
        )
        assert not [o["Key"] for o in listed if ITEM in o["Key"] and "/gen/" not in o["Key"]]


def test_hard_purge_finds_s3_bodies_whose_redis_index_was_lost(cache_for, s3):
    cache = cache_for("s3_redis")
    import redis

    with client_for(cache) as client:
        for x in range(4):
            client.get(tile_url(z=8, x=x, y=1))
    redis.Redis(port=cache.settings.redis_port).flushall()  # Redis restarted empty
    result = inv.invalidate_scope(cache, "sentinel-2-l2a", None, hard=True)
    assert result.deleted == {"redis": 0, "s3": 4}
    assert not s3.list_objects_v2(Bucket=cache.settings.s3_bucket, Prefix="cache/tile/").get(
        "Contents"
    )


def test_key_and_url_invalidation(cache_for, backend_name):
    cache = cache_for(backend_name)
    with client_for(cache) as client:
        a, b = tile_url(z=3, x=1, y=1), tile_url(z=3, x=1, y=2)
        assert (store(client, cache, a), store(client, cache, b)) == ("MISS", "MISS")
        kid = cache.key_for_url(a).id
        assert inv.invalidate_key(cache, kid, dry_run=True).matched == 1
        assert client.get(a).headers["x-cache"] == "HIT"
        assert inv.invalidate_key(cache, "cache:" + kid).deleted_total >= 1
        assert store(client, cache, a) == "MISS"  # gone, then stored again
        assert inv.invalidate_url(cache, b).deleted_total >= 1
        assert client.get(b).headers["x-cache"] == "MISS"
        assert inv.invalidate_key(cache, kid).matched == 1  # re-cached just now
        gone = inv.invalidate_key(cache, kid)
        assert gone.deleted_total == 0  # counts only what actually existed
    with pytest.raises(inv.InvalidInput):
        inv.invalidate_key(cache, "not-a-key")
    with pytest.raises(inv.InvalidInput):
        inv.invalidate_url(cache, "/healthz")


def test_pattern_requires_confirm_to_match_everything(cache_for, backend_name):
    cache = cache_for(backend_name)
    with client_for(cache) as client:
        for x in range(3):
            client.get(tile_url(z=5, x=x, y=0))
        for bad in ("*", "*/*", "**"):
            with pytest.raises(inv.InvalidInput):
                inv.invalidate_pattern(cache, bad)
        assert client.get(tile_url(z=5, x=0, y=0)).headers["x-cache"] == "HIT"
        listed = inv.list_keys(cache, "*", limit=100)
        assert len(listed["keys"]) == 3 and listed["keys"][0]["kind"] == "tile"
        dry = inv.invalidate_pattern(cache, "*", confirm=True, dry_run=True)
        assert dry.matched == 3 and dry.deleted_total == 0
        done = inv.invalidate_pattern(cache, "*", confirm=True)
        assert done.matched == 3 and all(n == 3 for n in done.deleted.values())
        assert client.get(tile_url(z=5, x=0, y=0)).headers["x-cache"] == "MISS"


@pytest.fixture
def admin(cache_for):
    cache = cache_for("s3_redis", admin_token="adm1n")
    app = FastAPI()
    app.include_router(build_admin_router(cache, "adm1n"))
    app.include_router(build_status_router(cache))
    with client_for(cache) as tiles, TestClient(app) as client:
        for x in range(3):
            tiles.get(tile_url(z=6, x=x, y=0))
        yield cache, client, tiles


def _count(client):
    return len(client.get("/admin/cache/keys", params={"limit": 1000}, headers=AUTH).json()["keys"])


def test_admin_http_routes(admin):
    cache, client, tiles = admin
    keys = client.get(
        "/admin/cache/keys", params={"pattern": "tile/*", "limit": 2}, headers=AUTH
    ).json()
    assert len(keys["keys"]) == 2 and keys["cursor"] is not None
    rest = client.get(
        "/admin/cache/keys", params={"pattern": "tile/*", "cursor": keys["cursor"]}, headers=AUTH
    ).json()
    assert {k["key"] for k in keys["keys"]} | {k["key"] for k in rest["keys"]} == {
        cache.key_for_url(tile_url(z=6, x=x, y=0)).id for x in range(3)
    }
    kid = keys["keys"][0]["key"]
    resp = client.delete(f"/admin/cache/invalidate/key/{kid}", headers=AUTH)
    assert resp.status_code == 200 and resp.json()["deleted"] == {"redis": 1, "s3": 1}
    resp = client.post(
        "/admin/cache/invalidate/pattern/S2A_*", params={"dry_run": True}, headers=AUTH
    )
    assert resp.json()["matched"] == 2 and resp.json()["deleted_total"] == 0
    resp = client.post("/admin/cache/invalidate/pattern/S2A_*", headers=AUTH)
    assert resp.json()["deleted"] == {"redis": 2, "s3": 2}
    body = {"scope": "collection", "collection": "sentinel-2-l2a"}
    resp = client.post("/admin/cache/invalidate", json=body, headers=AUTH)
    assert resp.status_code == 200 and resp.json()["generation"]["collection"] == "sentinel-2-l2a"
    status = client.get("/admin/cache/status", headers=AUTH).json()
    assert (
        status["backend_status"]["redis"]["ping"] is True
        and status["backend_status"]["s3"]["reachable"]
    )


@pytest.mark.parametrize(
    "body,code",
    [
        ({"scope": "everything"}, 422),
        ({"scope": "pattern", "pattern": "*"}, 400),
        ({"scope": "pattern", "pattern": "tile/*", "limit": 1_000_000}, 422),
        ({"scope": "tiles", "collection": "sentinel-2-l2a", "minzoom": 5, "maxzoom": 40}, 422),
        ({"scope": "tiles", "collection": "sentinel-2-l2a", "minzoom": 6, "maxzoom": 2}, 400),
        (
            {
                "scope": "tiles",
                "collection": "sentinel-2-l2a",
                "minzoom": 1,
                "maxzoom": 2,
                "bbox": [0, 0, 200, 10],
            },
            400,
        ),
        (
            {
                "scope": "tiles",
                "collection": "sentinel-2-l2a",
                "minzoom": 1,
                "maxzoom": 2,
                "bbox": [0, 0, 1],
            },
            422,
        ),
        ({"scope": "key", "key": "tile/../../etc"}, 400),
        ({"scope": "item", "collection": "sentinel-2-l2a"}, 400),
        ({"scope": "collection", "collection": "x", "surprise": 1}, 422),
    ],
)
def test_admin_bad_input_deletes_nothing(admin, body, code):
    cache, client, tiles = admin
    before = _count(client)
    resp = client.post("/admin/cache/invalidate", json=body, headers=AUTH)
    assert resp.status_code == code, resp.text
    assert resp.json()["detail"]
    assert _count(client) == before == 3
    assert tiles.get(tile_url(z=6, x=0, y=0)).headers["x-cache"] == "HIT"


def test_admin_route_forms_reject_bad_input(admin):
    cache, client, _ = admin
    assert client.post("/admin/cache/invalidate/pattern/*", headers=AUTH).status_code == 400
    assert (
        client.post(
            "/admin/cache/invalidate/pattern/x*", params={"limit": 0}, headers=AUTH
        ).status_code
        == 422
    )
    assert client.get("/admin/cache/keys", params={"limit": 5000}, headers=AUTH).status_code == 422
    assert client.delete("/admin/cache/invalidate/key/nonsense", headers=AUTH).status_code == 400
    assert _count(client) == 3


def test_public_status_has_no_secrets(cache_for):
    cache = cache_for("s3_redis", admin_token="adm1n", s3_prefix="secretprefix/")
    app = FastAPI()
    app.include_router(build_status_router(cache))
    with TestClient(app) as client:
        text = client.get("/cache/status").text
    for secret in ("adm1n", cache.settings.s3_bucket, "127.0.0.1", "testing", "secretprefix"):
        assert secret not in text
    assert '"backend":"s3_redis"' in text and "hit_ratio" in text
