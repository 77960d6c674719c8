"""The behavioural suite, run against every backend (memory, redis, s3, s3_redis, and
redis/s3_redis on a Redis Cluster)."""

from __future__ import annotations

import pytest

from tests.support.cache import (
    BASE,
    RGB,
    base_backend,
    client_for,
    redis_of,
    tile_url,
    uses_redis,
    uses_s3,
)
from titiler_eopf.cache.clock import ManualClock


@pytest.fixture
def cache(cache_for, backend_name):
    return cache_for(backend_name)


@pytest.fixture
def client(cache, standin):
    with client_for(cache, standin=standin) as c:
        yield c


def test_miss_then_hit_identical_bytes(client, cache, standin):
    before = standin.renders
    first = client.get(tile_url())
    second = client.get(tile_url())
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert first.content == second.content and len(first.content) == 2048
    assert second.headers["content-type"] == "image/png"
    assert second.headers["etag"] == first.headers["etag"] and second.headers["etag"].startswith(
        '"'
    )
    assert int(second.headers["age"]) >= 0
    # the CDN keeps it for the tile TTL, browsers for browser_max_age (then revalidate)
    tile_ttl = cache.settings.tile_ttl
    assert second.headers["cache-control"] == f"public, max-age=60, s-maxage={tile_ttl}"
    assert first.headers["cache-control"] == second.headers["cache-control"]
    assert standin.renders - before == 1
    m = cache.metrics.snapshot()
    assert (m["hits"], m["misses"], m["writes"]) == (1, 1, 1)
    assert m["hit_ratio"] == 0.5 and m["bytes_served"] == 2048


def test_if_none_match_answers_304(client, standin):
    etag = client.get(tile_url()).headers["etag"]
    before = standin.renders
    resp = client.get(tile_url(), headers={"if-none-match": etag})
    assert resp.status_code == 304 and resp.content == b""
    assert resp.headers["x-cache"] == "HIT" and resp.headers["etag"] == etag
    other = client.get(tile_url(), headers={"if-none-match": '"nope"'})
    assert (
        other.status_code == 200
        and other.headers["x-cache"] == "HIT"
        and len(other.content) == 2048
    )
    assert standin.renders == before


def test_head_answered_from_cache(client, standin):
    cold = client.head(tile_url(z=5, x=1, y=2))  # a HEAD miss renders the GET and stores it
    assert cold.status_code == 200 and cold.headers["x-cache"] == "MISS" and cold.content == b""
    before = standin.renders
    warm = client.head(tile_url(z=5, x=1, y=2))
    assert warm.status_code == 200 and warm.headers["x-cache"] == "HIT" and warm.content == b""
    assert warm.headers["content-length"] == "2048"
    got = client.get(tile_url(z=5, x=1, y=2))
    assert got.headers["x-cache"] == "HIT" and len(got.content) == 2048
    assert standin.renders == before


def test_defect1_repeated_params_keep_their_order(client):
    """RGB, BGR and single-band requests of one tile never share an entry."""
    b = "variables=/measurements/reflectance:"
    queries = [
        RGB,
        f"{b}b02&{b}b03&{b}b04&rescale=0,1",
        f"{b}b04&rescale=0,1",
        f"{b}b02&rescale=0,1",
    ]
    first = [client.get(tile_url(query=q)) for q in queries]
    assert [r.headers["x-cache"] for r in first] == ["MISS"] * 4
    assert len({r.content for r in first}) == 4
    again = [client.get(tile_url(query=q)) for q in reversed(queries)]
    assert [r.headers["x-cache"] for r in again] == ["HIT"] * 4
    assert [r.content for r in again] == [r.content for r in reversed(first)]


def test_defect2_format_is_part_of_the_key(client):
    exts = {
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".webp": "image/webp",
        "": "image/png",
        "@2x.png": "image/png",
    }
    first = {e: client.get(tile_url(ext=e)) for e in exts}
    assert len({r.content for r in first.values()}) == len(exts)
    for ext, ctype in exts.items():
        again = client.get(tile_url(ext=ext))
        assert again.headers["x-cache"] == "HIT"
        assert again.headers["content-type"] == ctype
        assert again.content == first[ext].content


def test_name_order_and_excluded_params_do_not_split_entries(client):
    a = client.get(tile_url(query="rescale=0,1&variables=b04&variables=b03"))
    b = client.get(tile_url(query="variables=b04&token=secret&variables=b03&_=123&rescale=0,1"))
    assert (
        a.headers["x-cache"] == "MISS" and b.headers["x-cache"] == "HIT" and a.content == b.content
    )


def test_errors_never_stored_and_empty_tiles_briefly(client, cache, standin):
    boom = "/collections/c/items/boom/tiles/WebMercatorQuad/1/0/0.png"
    before = standin.renders
    assert [client.get(boom).status_code for _ in range(2)] == [500, 500]
    assert standin.renders - before == 2
    outside = "/collections/c/items/outside/tiles/WebMercatorQuad/1/0/0.png"
    first, second = client.get(outside), client.get(outside)
    assert first.status_code == second.status_code == 404
    assert second.headers["x-cache"] == "HIT" and second.json() == {"detail": "Tile outside bounds"}
    empty_ttl = cache.settings.empty_ttl
    assert second.headers["cache-control"] == f"public, max-age={empty_ttl}, s-maxage={empty_ttl}"
    # an unknown item's 404 is never stored (anonymous ids must not fill the cache)
    missing = "/collections/c/items/missing/tiles/WebMercatorQuad/1/0/0.png"
    assert [client.get(missing).headers["x-cache"] for _ in range(2)] == ["MISS", "MISS"]
    empty = "/collections/c/items/empty/tiles/WebMercatorQuad/1/0/0.png"
    assert client.get(empty).status_code == 204
    again = client.get(empty)
    assert again.status_code == 204 and again.headers["x-cache"] == "HIT" and again.content == b""
    # a 404 of a non-tile route is an error, never stored
    info = "/collections/c/items/missing/info"
    assert [client.get(info).headers["x-cache"] for _ in range(2)] == ["MISS", "MISS"]


def test_per_kind_ttls_are_applied(cache_for, backend_name):
    cache = cache_for(
        backend_name, tile_ttl=111, metadata_ttl=222, preview_ttl=333, default_ttl=999, empty_ttl=44
    )
    with client_for(cache) as client:
        urls = {
            tile_url(): 111,
            f"{BASE}/WebMercatorQuad/tilejson.json": 222,
            f"{BASE}/info": 222,
            f"{BASE}/statistics": 222,
            f"{BASE}/preview.png": 333,
            f"{BASE}/bbox/1,2,3,4.png": 333,
            "/collections/c/items/empty/tiles/WebMercatorQuad/1/0/0.png": 44,
        }
        for url, ttl in urls.items():
            assert client.get(url).headers["x-cache"] == "MISS"
            # TileJSON is keyed by the base URL it embeds: the test client's.
            key = cache.key_for_url("http://testserver" + url)
            meta = cache.backend.describe(key.id)
            assert meta is not None and meta.ttl == ttl, url
            if uses_redis(backend_name):
                r, keys = redis_of(cache)
                assert ttl - 5 <= r.ttl(keys.entry(key.id)) <= ttl


def test_entries_expire_after_their_ttl(cache_for, backend_name):
    # The cache's clock moves, not time: the stores keep the entry (60 s) while it expires.
    clock = ManualClock()
    cache = cache_for(backend_name, tile_ttl=60, clock=clock)
    with client_for(cache) as client:
        assert client.get(tile_url()).headers["x-cache"] == "MISS"
        clock.advance(59)
        assert client.get(tile_url()).headers["x-cache"] == "HIT"
        clock.advance(1)
        assert client.get(tile_url()).headers["x-cache"] == "MISS"


def test_client_no_cache_is_ignored_by_default(client, standin):
    """Defect 2: a hard reload (Cache-Control: no-cache) from any client used
    to re-render and rewrite the entry: three requests, three renders."""
    url = tile_url(z=7, x=1, y=1)
    first = client.get(url)
    before = standin.renders
    for header in (
        {"cache-control": "no-cache"},
        {"cache-control": "max-age=0, no-cache"},
        {"pragma": "no-cache"},
    ):
        resp = client.get(url, headers=header)
        assert resp.headers["x-cache"] == "HIT" and resp.content == first.content
    assert standin.renders == before


def test_client_no_cache_honoured_when_configured(cache_for, backend_name, standin):
    cache = cache_for(backend_name, honor_no_cache=True)
    with client_for(cache, standin=standin) as client:
        url = tile_url(z=7, x=1, y=1)
        client.get(url)
        before = standin.renders
        fresh = client.get(url, headers={"cache-control": "no-cache"})
        assert fresh.headers["x-cache"] == "MISS" and standin.renders == before + 1
        assert client.get(url).headers["x-cache"] == "HIT"


def test_admin_bypass_header_needs_the_token(cache_for, backend_name, standin):
    cache = cache_for(backend_name, admin_token="s3cret", honor_no_cache=False)
    with client_for(cache, standin=standin) as client:
        url = tile_url(z=7, x=2, y=2)
        client.get(url)
        assert client.get(url, headers={"cache-control": "no-cache"}).headers["x-cache"] == "HIT"
        assert client.get(url, headers={"x-cache-bypass": "wrong"}).headers["x-cache"] == "HIT"
        before = standin.renders
        assert client.get(url, headers={"x-cache-bypass": "s3cret"}).headers["x-cache"] == "MISS"
        assert standin.renders == before + 1


def test_uncacheable_routes_pass_through(client, standin):
    for url in [f"{BASE}/point/1,2", f"{BASE}/map", "/healthz", "/tileMatrixSets"]:
        resp = client.get(url)
        assert resp.status_code == 200 and "x-cache" not in resp.headers, url
    before = standin.renders
    post = client.post(f"{BASE}/statistics")
    assert (
        post.status_code == 200 and "x-cache" not in post.headers and standin.renders == before + 1
    )


def test_oversize_body_streams_and_is_not_stored(cache_for, backend_name):
    cache = cache_for(backend_name, max_body_bytes=10_000)
    with client_for(cache) as client:
        big = tile_url(query="size=50000")
        first, second = client.get(big), client.get(big)
        assert (
            len(first.content) == len(second.content) == 50_000 and first.content == second.content
        )
        assert [first.headers["x-cache"], second.headers["x-cache"]] == ["MISS", "MISS"]
        small = tile_url(query="size=9000")
        client.get(small)
        assert client.get(small).headers["x-cache"] == "HIT"


def test_generation_bump_makes_next_request_a_miss(client, cache, backend_name, s3, standin):
    from titiler_eopf.cache.invalidation import invalidate_scope

    url = tile_url(z=9, x=3, y=3)
    old = client.get(url)
    key_before = cache.key_for_url(url)
    result = invalidate_scope(cache, "sentinel-2-l2a", None)
    assert result.generation and result.generation["collection"] == "sentinel-2-l2a"
    standin.version = 2  # a re-render is now recognisably different
    try:
        new = client.get(url)
    finally:
        standin.version = 1
    assert new.headers["x-cache"] == "MISS" and new.content != old.content
    again = client.get(url)
    assert again.headers["x-cache"] == "HIT" and again.content == new.content
    # One key per request: the entry was overwritten in place, no orphan left behind.
    assert cache.key_for_url(url).id == key_before.id
    if uses_s3(backend_name):
        obj = s3.get_object(Bucket=cache.settings.s3_bucket, Key=f"cache/{key_before.id}")
        assert obj["Body"].read() == new.content


def test_item_bump_leaves_other_items_cached(client, cache):
    from titiler_eopf.cache.invalidation import invalidate_scope

    a = tile_url(base="/collections/c/items/a")
    b = tile_url(base="/collections/c/items/b")
    client.get(a), client.get(b)
    invalidate_scope(cache, "c", "a")
    assert client.get(a).headers["x-cache"] == "MISS"
    assert client.get(b).headers["x-cache"] == "HIT"


def corrupt_entry(cache, backend_name, key_id: str, s3):
    """Flip the stored body without touching its metadata."""
    if backend_name == "memory":
        meta, body, exp = cache.backend._entries[key_id]
        cache.backend._entries[key_id] = (meta, b"X" + body[1:], exp)
    elif base_backend(backend_name) == "redis":
        r, keys = redis_of(cache)
        body = r.hget(keys.entry(key_id), "body")
        r.hset(keys.entry(key_id), "body", b"X" + body[1:])
    else:
        bucket, key = cache.settings.s3_bucket, f"cache/{key_id}"
        obj = s3.get_object(Bucket=bucket, Key=key)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=b"X" + obj["Body"].read()[1:],
            Metadata=obj["Metadata"],
            ContentType=obj["ContentType"],
        )


def test_corrupted_entry_is_a_miss_and_repaired(cache_for, backend_name, s3):
    # s3_redis: bodies in S3 only here, so that the S3 copy is the one served
    cache = cache_for(backend_name, redis_body_max_bytes=0)
    with client_for(cache) as client:
        _corrupted_entry_is_a_miss_and_repaired(client, cache, backend_name, s3)


def _corrupted_entry_is_a_miss_and_repaired(client, cache, backend_name, s3):
    url = tile_url(z=10, x=5, y=5)
    good = client.get(url).content
    corrupt_entry(cache, backend_name, cache.key_for_url(url).id, s3)
    resp = client.get(url)
    assert resp.headers["x-cache"] == "MISS" and resp.content == good
    again = client.get(url)
    assert again.headers["x-cache"] == "HIT" and again.content == good
    assert cache.metrics.corrupt == 1


def test_stale_served_only_when_render_fails(cache_for, backend_name, standin):
    clock = ManualClock()
    cache = cache_for(backend_name, tile_ttl=60, stale_if_error=60, clock=clock)
    with client_for(cache, standin=standin) as client:
        url = tile_url(z=11, x=1, y=1)
        good = client.get(url).content
        clock.advance(61)
        standin.fail = True
        try:
            stale = client.get(url)
        finally:
            standin.fail = False
        assert (
            stale.status_code == 200
            and stale.headers["x-cache"] == "STALE"
            and stale.content == good
        )
        fresh = client.get(url)
        assert fresh.headers["x-cache"] == "MISS" and fresh.content == good
