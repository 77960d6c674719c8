"""Security: the admin surface, hosts in cached bodies, keys that cannot be steered."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from eopf_sample import COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID
from tests.support.reliability import B04, cache_settings, item, tile_path
from titiler_eopf.cache import build_cache
from titiler_eopf.main import create_app
from titiler_eopf.tiler.settings import TilerSettings

TOKEN = "s3cret-admin-token"
ADMIN_CALLS = [
    ("GET", "/admin/cache/status", None),
    ("GET", "/admin/cache/keys", None),
    (
        "POST",
        "/admin/cache/invalidate",
        {"scope": "item", "collection": COLLECTION_NATIVE, "item": ITEM_ID},
    ),
    ("POST", "/admin/cache/invalidate/key/tile/rel/c/i/" + "0" * 64, None),
    ("POST", "/admin/cache/invalidate/pattern/nothing-matches-this*", None),
]


@pytest.fixture
def redis_cache(redis_db, redis_server):
    return build_cache(cache_settings("redis", redis_port=redis_server.port))


@pytest.fixture
def admin_cache(redis_db, redis_server):
    """The cache with the admin token: its settings carry it (TITILER_EOPF_ADMIN_TOKEN)."""
    return build_cache(cache_settings("redis", redis_port=redis_server.port, admin_token=TOKEN))


def test_admin_routes_need_the_right_token(sample_store, admin_cache):
    with TestClient(create_app(TilerSettings(store_url=str(sample_store)), cache=admin_cache)) as c:
        for method, path, body in ADMIN_CALLS:
            assert c.request(method, path, json=body).status_code == 401, path
            assert (
                c.request(
                    method, path, json=body, headers={"authorization": "Bearer nope"}
                ).status_code
                == 403
            )
            assert (
                c.request(
                    method, path, json=body, headers={"authorization": f"Basic {TOKEN}"}
                ).status_code
                == 401
            )
            ok = c.request(method, path, json=body, headers={"authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200, (path, ok.text)
        # the bypass header refreshes only with the token
        c.get(tile_path(), params=B04)
        assert (
            c.get(tile_path(), params=B04, headers={"x-cache-bypass": "guess"}).headers["x-cache"]
            == "HIT"
        )
        assert (
            c.get(tile_path(), params=B04, headers={"x-cache-bypass": TOKEN}).headers["x-cache"]
            == "MISS"
        )


def test_no_admin_route_without_a_token(sample_store, redis_cache):
    with TestClient(create_app(TilerSettings(store_url=str(sample_store)), cache=redis_cache)) as c:
        for method, path, body in ADMIN_CALLS:
            assert c.request(
                method, path, json=body, headers={"authorization": f"Bearer {TOKEN}"}
            ).status_code in (404, 405)
        assert not [p for p in c.get("/openapi.json").json()["paths"] if p.startswith("/admin")]
        # the bypass header does nothing without a configured token
        c.get(tile_path(), params=B04)
        assert (
            c.get(tile_path(), params=B04, headers={"x-cache-bypass": ""}).headers["x-cache"]
            == "HIT"
        )


CACHED_ROUTES = [
    (tile_path(), B04),
    (f"{item()}/WebMercatorQuad/tilejson.json", B04),
    (f"{item()}/info", []),
    (f"{item()}/statistics", B04[:1]),
    (f"{item()}/preview.png", B04),
    (f"{item(COLLECTION_GEOZARR)}/WebMercatorQuad/tilejson.json", B04),
]


@pytest.mark.parametrize(("path", "params"), CACHED_ROUTES)
def test_no_cached_body_carries_another_clients_host(sample_store, redis_cache, path, params):
    with TestClient(create_app(TilerSettings(store_url=str(sample_store)), cache=redis_cache)) as c:
        evil = c.get(
            path,
            params=params,
            headers={
                "host": "evil.example",
                "x-forwarded-host": "evil.example",
                "x-forwarded-proto": "https",
            },
        )
        assert evil.status_code == 200
        for _ in range(2):
            honest = c.get(path, params=params)
            assert honest.status_code == 200
            assert b"evil.example" not in honest.content and b"https://" not in honest.content


@pytest.mark.parametrize(
    "bad_item",
    [
        f"..%2F{ITEM_ID}",
        f"x%2F..%2F..%2F{COLLECTION_GEOZARR}%2Fitems%2F{ITEM_ID}",
        "*",
        "%2A",
        "%3F",
        ".hidden",
        "a" * 300,
    ],
)
def test_ids_cannot_steer_keys(sample_store, redis_cache, redis_db, bad_item):
    with TestClient(create_app(TilerSettings(store_url=str(sample_store)), cache=redis_cache)) as c:
        good = c.get(tile_path(), params=B04)
        before = set(redis_db.keys("cache:tile/*")) | set(redis_db.keys("cache:meta/*"))
        resp = c.get(
            f"/collections/{COLLECTION_NATIVE}/items/{bad_item}/tiles/WebMercatorQuad/12/0/0.png",
            params=B04,
        )
        assert 400 <= resp.status_code < 500
        info = c.get(f"/collections/{COLLECTION_NATIVE}/items/{bad_item}/info")
        assert 400 <= info.status_code < 500
        after = set(redis_db.keys("cache:tile/*")) | set(redis_db.keys("cache:meta/*"))
        assert after == before  # nothing stored under a steered key
        again = c.get(tile_path(), params=B04)
        assert again.headers["x-cache"] == "HIT" and again.content == good.content


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "item", "collection": "*", "item": "*"},
        {"scope": "collection", "collection": "../x"},
        {
            "scope": "tiles",
            "collection": "sentinel-2-l2a",
            "item": "a/b",
            "minzoom": 0,
            "maxzoom": 3,
        },
        {"scope": "pattern", "pattern": "*"},
        {"scope": "key", "key": "cache:lock/anything"},
    ],
)
def test_admin_scopes_cannot_reach_other_entries(sample_store, admin_cache, redis_db, body):
    with TestClient(create_app(TilerSettings(store_url=str(sample_store)), cache=admin_cache)) as c:
        c.get(tile_path(), params=B04)
        resp = c.post(
            "/admin/cache/invalidate", json=body, headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert resp.status_code in (400, 422), resp.text
        assert c.get(tile_path(), params=B04).headers["x-cache"] == "HIT"
