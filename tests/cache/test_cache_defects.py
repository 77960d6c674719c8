"""One regression test per defect of the public TiTiler-EOPF cache
(/work/shared/REFERENCE.md, last section). Defects 1 and 2 are also covered
for every backend in test_cache_behaviour.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support import standin
from tests.support.cache import BASE, RGB, client_for, tile_url
from titiler_eopf.admin.routes import build_admin_router, build_status_router
from titiler_eopf.cache import CacheMiddleware
from titiler_eopf.cache.invalidation import invalidate_pattern
from titiler_eopf.cache.routes import match_path

PACKAGE = Path(__file__).resolve().parents[2] / "lambda_src" / "titiler_eopf" / "cache"


# --- 1 ---------------------------------------------------------------------------
def test_defect1_rgb_and_single_band_never_share_a_key(cache_for):
    cache = cache_for("memory")
    single = "variables=/measurements/reflectance:b04&rescale=0,1"
    last_only = (
        "variables=/measurements/reflectance:b02&rescale=0,1"
        "&color_formula=gamma rgb 1.3, sigmoidal rgb 6 0.1, saturation 1.2"
    )
    keys = {cache.key_for_url(tile_url(query=q)).id for q in (RGB, single, last_only)}
    assert len(keys) == 3
    with client_for(cache) as client:
        rgb, one = client.get(tile_url(query=RGB)), client.get(tile_url(query=single))
        assert one.headers["x-cache"] == "MISS" and rgb.content != one.content
        assert b"b04" in rgb.content and b"b03" in rgb.content and b"b03" not in one.content


# --- 2 ---------------------------------------------------------------------------
def test_defect2_each_format_gets_its_own_entry(cache_for):
    cache = cache_for("memory")
    ids = {
        cache.key_for_url(tile_url(ext=e)).id
        for e in (".png", ".jpg", ".jpeg", ".webp", "", "@2x", "@2x.png")
    }
    assert len(ids) == 7


# --- 3 ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["memory", "s3_redis"])
def test_defect3_gzip_never_served_to_identity_client(cache_for, backend):
    """Compression outside, an inner app that compresses whenever allowed: the
    cache strips Accept-Encoding, stores identity, compression happens after."""
    cache = cache_for(backend)
    url = f"{BASE}/WebMercatorQuad/tilejson.json"
    with client_for(cache, compress_inner=True) as client:
        gz = client.get(url, headers={"accept-encoding": "gzip"})
        assert gz.headers["x-cache"] == "MISS" and gz.headers["content-encoding"] == "gzip"
        ident = client.get(url, headers={"accept-encoding": "identity"})
        assert ident.headers["x-cache"] == "HIT" and "content-encoding" not in ident.headers
        assert json.loads(ident.content)["request"]["route"] == "tilejson"
        stored, _ = cache.backend.lookup(cache.key_for_url("http://testserver" + url), True)
        assert not stored.body.startswith(b"\x1f\x8b") and json.loads(stored.body) == json.loads(
            ident.content
        )
        gz_again = client.get(url, headers={"accept-encoding": "gzip"})
        assert (
            gz_again.headers["x-cache"] == "HIT" and gz_again.headers["content-encoding"] == "gzip"
        )


def test_defect3_encoded_response_is_never_stored(cache_for):
    """Even if the inner app ignores the stripped header and compresses."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    def always_gzip(request):
        return Response(
            gzip.compress(b"x" * 1000),
            media_type="application/json",
            headers={"content-encoding": "gzip"},
        )

    inner = Starlette(routes=[Route("/{path:path}", always_gzip)])
    cache = cache_for("memory")
    with TestClient(CacheMiddleware(inner, cache=cache)) as client:
        url = f"{BASE}/info"
        assert [client.get(url).headers["x-cache"] for _ in range(2)] == ["MISS", "MISS"]
    assert cache.backend.status()["entries"] == 0


# --- 4 ---------------------------------------------------------------------------
CACHED_PATHS = {
    f"{BASE}/tiles/WebMercatorQuad/3/4/5": "tile",
    f"{BASE}/tiles/WebMercatorQuad/3/4/5.png": "tile",
    f"{BASE}/tiles/WebMercatorQuad/3/4/5@2x": "tile",
    f"{BASE}/tiles/WebMercatorQuad/3/4/5@2x.webp": "tile",
    f"{BASE}/tiles/WebMercatorQuad/3/4/5.pngraw": "tile",
    f"{BASE}/WebMercatorQuad/tilejson.json": "tilejson",
    f"{BASE}/info": "info",
    f"{BASE}/info.geojson": "info",
    f"{BASE}/statistics": "statistics",
    f"{BASE}/preview": "preview",
    f"{BASE}/preview.jpg": "preview",
    f"{BASE}/preview/256x128.png": "preview",
    f"{BASE}/bbox/10.5,-45,11.25,46.1.png": "bbox",
    f"{BASE}/bbox/-10,-5.5,1e1,5/512x512.tif": "bbox",
}


@pytest.mark.parametrize("path,kind", CACHED_PATHS.items())
def test_defect4_every_real_route_is_cached(cache_for, path, kind):
    assert match_path(path).kind == kind
    cache = cache_for("memory")
    with client_for(cache) as client:
        first, second = client.get(path + "?rescale=0,1"), client.get(path + "?rescale=0,1")
        assert first.status_code == 200, path
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
        assert first.content == second.content


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/point/1,2",
        f"{BASE}/map",
        "/healthz",
        "/docs",
        "/openapi.json",
        "/tileMatrixSets/WebMercatorQuad",
        "/colorMaps/viridis",
        "/admin/cache/status",
        "/cache/status",
        f"{BASE}/tiles/WebMercatorQuad/3/4/5.gif",
        f"{BASE}/tiles/WebMercatorQuad/3/4",
        f"{BASE}/infox",
        f"/collections/c/items/{BASE}/info/extra",
    ],
)
def test_defect4_uncached_routes_do_not_match(path):
    assert match_path(path) is None


def test_defect4_stage_root_path_does_not_break_matching(cache_for):
    cache = cache_for("memory")
    app = CacheMiddleware(standin.create_app(), cache=cache)
    with TestClient(app, root_path="/prod") as client:
        first, second = client.get(f"/prod{tile_url()}"), client.get(f"/prod{tile_url()}")
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
        assert first.content == second.content


# --- 5 ---------------------------------------------------------------------------
def test_defect5_pattern_purge_removes_redis_and_s3_alike(cache_for, s3):
    cache = cache_for("s3_redis")
    import redis

    r = redis.Redis(port=cache.settings.redis_port)
    with client_for(cache) as client:
        for z in range(3):
            client.get(tile_url(z=z, x=0, y=0))
        client.get(tile_url(z=1, x=0, y=0, base="/collections/c/items/other"))
    bucket = cache.settings.s3_bucket
    ids = [cache.key_for_url(tile_url(z=z, x=0, y=0)).id for z in range(3)]
    for kid in ids:  # the same id names the Redis entry and the S3 object
        assert r.exists(f"cache:{kid}") and s3.head_object(Bucket=bucket, Key=f"cache/{kid}")
    result = invalidate_pattern(cache, "S2A_MSIL2A_*")
    assert result.deleted == {"redis": 3, "s3": 3} and result.cursor is None
    left = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="cache/tile/").get("Contents", [])
    ]
    assert left == [
        f"cache/{cache.key_for_url(tile_url(z=1, x=0, y=0, base='/collections/c/items/other')).id}"
    ]
    assert not any(r.exists(f"cache:{kid}") for kid in ids)


def test_defect5_pattern_purge_is_bounded_and_resumable(cache_for):
    cache = cache_for("redis")
    with client_for(cache) as client:
        for x in range(25):
            client.get(tile_url(z=6, x=x, y=0))
    total, cursor, calls = 0, None, 0
    while True:
        result = invalidate_pattern(cache, "tile/*", limit=10, cursor=cursor)
        assert result.deleted_total <= 10
        total += result.deleted_total
        calls += 1
        cursor = result.cursor
        if cursor is None:
            break
    assert total == 25 and calls >= 3


# --- 6 ---------------------------------------------------------------------------
def test_defect6_raw_bytes_right_ttl_honest_ratio_no_pickle(cache_for, s3):
    cache = cache_for("s3_redis", tile_ttl=1234, default_ttl=99, redis_body_max_bytes=1024)
    import redis

    r = redis.Redis(port=cache.settings.redis_port)
    with client_for(cache) as client:
        body = client.get(tile_url()).content
        for _ in range(3):
            assert client.get(tile_url()).headers["x-cache"] == "HIT"
    kid = cache.key_for_url(tile_url()).id
    stored = s3.get_object(Bucket=cache.settings.s3_bucket, Key=f"cache/{kid}")["Body"].read()
    assert stored == body  # raw bytes, same size: no base64, no envelope
    assert (
        r.hget(f"cache:{kid}", "body") is None
    )  # over redis_body_max_bytes: metadata only in Redis
    assert int(r.hget(f"cache:{kid}", "ttl")) == 1234 and 1200 < r.ttl(f"cache:{kid}") <= 1234
    m = cache.metrics.snapshot()
    assert m["writes"] == 1 and m["hit_ratio"] == 0.75  # 3 hits / (3 hits + 1 miss)

    redis_cache = cache_for("redis")
    with client_for(redis_cache) as client:
        body = client.get(tile_url()).content
    rkid = redis_cache.key_for_url(tile_url()).id
    assert r.hget(f"cache:{rkid}", "body") == body
    for src in PACKAGE.rglob("*.py"):
        text = src.read_text()
        assert "import pickle" not in text and "b64encode" not in text, src


# --- 7 ---------------------------------------------------------------------------
def test_defect7_admin_routes_enforce_the_token(cache_for):
    cache = cache_for("memory")
    with pytest.raises(ValueError):
        build_admin_router(cache, "")
    app = FastAPI()
    app.include_router(build_admin_router(cache, "t0ken"))
    app.include_router(build_status_router(cache))
    with TestClient(app) as client:
        routes = [
            ("get", "/admin/cache/status"),
            ("get", "/admin/cache/keys"),
            ("post", "/admin/cache/invalidate"),
            ("delete", "/admin/cache/invalidate/key/x"),
            ("post", "/admin/cache/invalidate/pattern/x"),
        ]
        for method, path in routes:
            assert getattr(client, method)(path).status_code == 401, path
            bad = getattr(client, method)(path, headers={"authorization": "Bearer nope"})
            assert bad.status_code == 403, path
        ok = client.get("/admin/cache/status", headers={"authorization": "Bearer t0ken"})
        assert ok.status_code == 200 and ok.json()["backend"] == "memory"
        assert client.get("/cache/status").status_code == 200


def test_defect7_admin_not_mounted_without_token(cache_for):
    """The composition mounts the router only with a token; with none the
    paths do not exist at all."""
    app = FastAPI()
    app.include_router(build_status_router(cache_for("memory")))
    with TestClient(app) as client:
        assert client.get("/admin/cache/status").status_code == 404
