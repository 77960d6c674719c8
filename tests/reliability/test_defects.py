"""The defects that only show across requests (issue 10), each reproduced on the
real app and the real backends.

1. Host poisoning of cached TileJSON.   2. Anonymous cache busting (no-cache).
3. Stale after a product changes in place.   4. Orphaned stampede locks.
5. Unbounded generation keys.   6. Cursor 500, S3 generation bound, zero-padded tiles.
And the HIT path: one Redis round trip.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from eopf_sample import BOUNDS_LONLAT, COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID
from tests.support.reliability import B04, RGB, cache_settings, centre_tile, item, tile_path
from tests.support.servers import RedisProcess, s3_client
from titiler_eopf.cache import build_cache
from titiler_eopf.cache.clock import ManualClock
from titiler_eopf.main import create_app
from titiler_eopf.tiler.settings import TilerSettings


def client_for(store, cache, **tiler):
    app = create_app(TilerSettings(store_url=str(store), **tiler), cache=cache)
    return TestClient(app)


@pytest.fixture(params=["memory", "redis"])
def backend(request, redis_db, redis_server):
    return request.param


def make_cache(backend, redis_server=None, **overrides):
    port = redis_server.port if redis_server else None
    return build_cache(cache_settings(backend, redis_port=port, **overrides))


# --- 1. host poisoning -------------------------------------------------------------------
def test_tilejson_never_carries_another_clients_host(sample_store, backend, redis_server):
    cache = make_cache(backend, redis_server)
    url = f"{item()}/WebMercatorQuad/tilejson.json"
    with client_for(sample_store, cache) as client:
        evil = client.get(url, params=B04, headers={"host": "evil.example"})
        assert evil.status_code == 200 and evil.headers["x-cache"] == "MISS"
        assert evil.json()["tiles"][0].startswith("http://evil.example/")
        honest = client.get(url, params=B04)
        assert honest.json()["tiles"][0].startswith("http://testserver/collections/")
        assert honest.headers["x-cache"] == "MISS"  # its own entry, not the evil one
        again = client.get(url, params=B04)
        assert again.headers["x-cache"] == "HIT" and again.json() == honest.json()
        # localhost and 127.0.0.1 each get their own URLs too
        local = client.get(url, params=B04, headers={"host": "127.0.0.1:8000"})
        assert local.json()["tiles"][0].startswith("http://127.0.0.1:8000/")
        assert client.get(url, params=B04).json()["tiles"][0].startswith("http://testserver/")


def test_public_url_pins_every_embedded_url(sample_store, backend, redis_server):
    cache = make_cache(backend, redis_server)
    url = f"{item()}/WebMercatorQuad/tilejson.json"
    with client_for(sample_store, cache, public_url="https://tiles.example.com/v1/") as client:
        first = client.get(
            url, params=B04, headers={"host": "evil.example", "x-forwarded-proto": "http"}
        )
        second = client.get(url, params=B04)
        for resp in (first, second):
            assert resp.status_code == 200
            tiles = resp.json()["tiles"][0]
            assert tiles.startswith(
                f"https://tiles.example.com/v1{item()}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"
            )
        # one base URL, so one shared entry whatever Host the clients send
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
        # the routes themselves still answer under the app's own paths
        assert client.get(tile_path(), params=B04).status_code == 200


def test_public_url_is_validated_at_start():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="TITILER_EOPF_PUBLIC_URL"):
        TilerSettings(public_url="tiles.example.com")


# --- 2. anonymous cache busting ---------------------------------------------------------------
def test_client_no_cache_does_not_rerender(sample_store, backend, redis_server):
    cache = make_cache(backend, redis_server)
    with client_for(sample_store, cache) as client:
        first = client.get(tile_path(), params=B04)
        for _ in range(3):
            resp = client.get(
                tile_path(), params=B04, headers={"cache-control": "no-cache", "pragma": "no-cache"}
            )
            assert resp.headers["x-cache"] == "HIT" and resp.content == first.content
        assert cache.metrics.writes == 1


# --- 3. a product rewritten in place ------------------------------------------------------------
def rewrite_band(store, collection=COLLECTION_NATIVE, band="b04", factor=0.5):
    """Rewrite a band of the product in place (every level holding it), and its
    root metadata, as a producer re-publishing the item under the same id would."""
    import zarr

    root = store / collection / f"{ITEM_ID}.zarr"
    group = zarr.open_group(str(root), mode="r+")
    refl = group["measurements/reflectance"]
    for _name, level in refl.groups():
        if band in level:
            arr = level[band]
            arr[...] = (arr[...] * factor).astype(arr.dtype)
    meta = root / (".zmetadata" if (root / ".zmetadata").exists() else "zarr.json")
    doc = json.loads(meta.read_text())
    doc.setdefault("metadata" if "metadata" in doc else "attributes", {})
    meta.write_text(json.dumps(doc, indent=1) + "\n")  # new size and mtime
    os.utime(meta, None)


def test_rewritten_product_serves_new_bytes_within_the_window(product_copy, backend, redis_server):
    """Inside ``source_revalidate_seconds`` a HIT asks the store nothing (the rewrite is not
    seen yet); once the window has passed the next request sees it: new bytes. The window
    is moved by the app's ``ManualClock``, so a loaded machine cannot reach it early."""
    clock = ManualClock()
    cache = build_cache(cache_settings(backend, redis_port=redis_server.port), clock=clock)
    window = 2.0
    with client_for(product_copy, cache, source_revalidate_seconds=window) as client:
        versions = client.app.versions
        old = client.get(tile_path(), params=B04)
        assert old.status_code == 200 and old.headers["x-cache"] == "MISS"
        checks = versions.checks
        hit = client.get(tile_path(), params=B04)
        assert hit.headers["x-cache"] == "HIT"
        assert versions.checks == checks  # inside the window a HIT asks the store nothing
        rewrite_band(product_copy)
        clock.advance(window - 0.5)
        inside = client.get(tile_path(), params=B04)
        assert inside.headers["x-cache"] == "HIT" and inside.content == old.content
        assert versions.checks == checks  # the rewrite is not looked for yet
        clock.advance(0.5)  # the window has passed: the next request asks the store
        resp = client.get(tile_path(), params=B04)
        assert resp.headers["x-cache"] == "MISS" and resp.content != old.content
        assert versions.checks > checks  # the store was asked for the version again
        again = client.get(tile_path(), params=B04)
        assert again.headers["x-cache"] == "HIT" and again.content == resp.content
        # the opened product was replaced too: an uncached read shows the new data
        point = client.get(
            f"{item()}/point/{sum(BOUNDS_LONLAT[::2]) / 2},{sum(BOUNDS_LONLAT[1::2]) / 2}",
            params=B04[:1],
        )
        assert point.status_code == 200


# --- 4. orphaned stampede locks -------------------------------------------------------------------
def test_waiters_recover_after_a_lost_lock_release():
    """Redis pauses while the lock holder finishes: its store and its release fail. The
    lock it leaves lives on for ``lock_ttl`` at most (not the 30 s of the defect), so a
    later request for the URL takes it over instead of waiting out ``lock_wait``.

    Events order the steps (the render has started under the lock, Redis is stopped, the
    render ends, Redis resumes) and the breaker reads a ``ManualClock``: no step depends on
    how long another one took."""
    import redis as redis_py

    from tests.support.redis_cluster import wait_for
    from tests.support.standin import StandIn
    from titiler_eopf.cache import CacheMiddleware

    redis = RedisProcess().start()
    try:
        clock = ManualClock()
        settings = cache_settings(
            "redis",
            redis_port=redis.port,
            breaker_failures=1,
            breaker_reset=0.3,
            lock_ttl=1.0,
            lock_wait=10,
        )
        cache = build_cache(settings, clock=clock)
        standin = StandIn(finish=threading.Event())
        client = TestClient(CacheMiddleware(standin.app(), cache=cache))
        url = "/collections/c/items/slow/tiles/WebMercatorQuad/3/1/1.png"
        lock_key = cache.backend.keys.lock(cache.key_for_url(url).id)
        direct = redis_py.Redis(port=redis.port, socket_timeout=5)
        answers = []
        holder = threading.Thread(target=lambda: answers.append(client.get(url)))
        holder.start()
        assert standin.rendering.wait(30), "the holder never started rendering"
        assert direct.get(lock_key) is not None  # it renders under the stampede lock
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            standin.finish.set()  # the render ends while Redis is stopped
            holder.join(30)
            assert not holder.is_alive()
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        assert answers[0].status_code == 200  # the cache failed open
        assert (cache.metrics.writes, cache.metrics.write_errors) == (0, 1)
        assert [b.state for b in cache.backend.breakers()] == ["open"]
        # the lock the holder could not release: at most lock_ttl left (-2: already expired)
        assert direct.pttl(lock_key) <= 1000
        clock.advance(settings.breaker_reset)
        # One probe closes the breaker. The holder's background release retries may be
        # probing at this moment (a refused call): poll until one of ours succeeds.
        wait_for("the breaker closed", lambda: cache.backend.conn.call(lambda r: r.ping()), 10)
        resp = client.get(url)
        assert resp.status_code == 200 and resp.headers["x-cache"] == "MISS"
        # the orphaned lock was taken over (expired or released late), not waited out
        assert cache.metrics.lock_timeouts == 0 and cache.metrics.writes == 1
        assert client.get(url).headers["x-cache"] == "HIT"
        assert direct.exists(lock_key) == 0  # released after the store
    finally:
        redis.proc.send_signal(signal.SIGCONT)
        redis.stop()


# --- 5. nothing an anonymous request does grows the cache ---------------------------------------
@pytest.mark.parametrize("backend_name", ["memory", "redis", "s3"])
def test_unknown_ids_create_nothing(
    sample_store, backend_name, redis_db, redis_server, s3_server, bucket
):
    cache = build_cache(
        cache_settings(
            backend_name, redis_port=redis_server.port, s3_url=s3_server.url, bucket=bucket
        )
    )
    statuses = {}
    with client_for(sample_store, cache) as client:
        # 50 random ids x 3 routes: each one a lookup and a 404 (more would only repeat them)
        for _ in range(50):
            rid = uuid.uuid4().hex
            for url in (
                f"/collections/{COLLECTION_NATIVE}/items/{rid}/tiles/WebMercatorQuad/3/1/1.png",
                f"/collections/c{rid[:8]}/items/{rid}/info",
                f"/collections/{COLLECTION_NATIVE}/items/{rid}/WebMercatorQuad/tilejson.json",
            ):
                code = client.get(url, params=B04).status_code
                statuses[code] = statuses.get(code, 0) + 1
        for bad in ("a" * 300, "..", "x%2Fy", "*"):
            client.get(f"/collections/{COLLECTION_NATIVE}/items/{bad}/info")
    assert set(statuses) == {404}, statuses
    if backend_name == "redis":
        assert redis_db.dbsize() == 0, redis_db.keys("*")[:10]
    elif backend_name == "s3":
        listed = s3_client(s3_server.url).list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        assert listed == 0
    else:
        st = cache.backend.status()
        assert st["entries"] == 0 and st["scopes"] == 0


def test_every_redis_key_expires(sample_store, redis_db, redis_server):
    cache = make_cache("redis", redis_server, admin_token="tok")  # the cache section reads it
    with client_for(sample_store, cache) as client:
        client.get(tile_path(), params=B04)
        client.get(f"{item()}/info")
        client.post(
            "/admin/cache/invalidate",
            json={"scope": "item", "collection": COLLECTION_NATIVE, "item": ITEM_ID},
            headers={"authorization": "Bearer tok"},
        )
        client.get(tile_path(), params=B04)
    keys = redis_db.keys("*")
    assert keys and all(redis_db.ttl(k) > 0 for k in keys), [(k, redis_db.ttl(k)) for k in keys]


# --- 6. smaller ones ------------------------------------------------------------------------
def test_admin_cursor_must_be_a_cursor(sample_store, redis_db, redis_server):
    cache = make_cache("redis", redis_server, admin_token="tok")  # the cache section reads it
    with client_for(sample_store, cache) as client:
        for cursor in ("null", "abc", "-1", "1e9"):
            resp = client.get(
                "/admin/cache/keys",
                params={"cursor": cursor},
                headers={"authorization": "Bearer tok"},
            )
            assert resp.status_code == 400 and "cursor" in resp.json()["detail"], (
                cursor,
                resp.text,
            )
        ok = client.get(
            "/admin/cache/keys", params={"cursor": "0"}, headers={"authorization": "Bearer tok"}
        )
        assert ok.status_code == 200


def test_zero_padded_tile_coordinates_share_the_entry(sample_store, backend, redis_server):
    cache = make_cache(backend, redis_server)
    t = centre_tile(12)
    with client_for(sample_store, cache) as client:
        plain = client.get(f"{item()}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png", params=B04)
        padded = client.get(f"{item()}/tiles/WebMercatorQuad/0{t.z}/00{t.x}/0{t.y}.png", params=B04)
        assert plain.status_code == padded.status_code == 200
        assert padded.headers["x-cache"] == "HIT" and padded.content == plain.content
        assert cache.metrics.writes == 1


def test_s3_invalidation_reaches_other_processes_within_the_refresh(
    sample_store, s3_server, bucket
):
    """Another process keeps the generations it read for ``s3_generation_refresh`` (no S3
    request per lookup), then reads the bumped one. Both processes' caches read one
    ``ManualClock``, moved past the refresh instead of sleeping through it."""
    refresh = 0.5
    clock = ManualClock()
    one, other = (
        build_cache(
            cache_settings(
                "s3", s3_url=s3_server.url, bucket=bucket, s3_generation_refresh=refresh
            ),
            clock=clock,
        )
        for _ in range(2)
    )
    from titiler_eopf.cache.invalidation import invalidate_scope

    with client_for(sample_store, one) as a, client_for(sample_store, other) as b:
        assert a.get(tile_path(), params=B04).headers["x-cache"] == "MISS"
        assert b.get(tile_path(), params=B04).headers["x-cache"] == "HIT"
        seen_by_other = other.backend.generations(COLLECTION_NATIVE, ITEM_ID)
        invalidate_scope(one, COLLECTION_NATIVE, ITEM_ID)
        assert (
            a.get(tile_path(), params=B04).headers["x-cache"] == "MISS"
        )  # at once where it was bumped
        bumped = one.backend.generations(COLLECTION_NATIVE, ITEM_ID)
        assert bumped != seen_by_other
        # inside the refresh the other process still holds what it read (no S3 request)
        assert other.backend.generations(COLLECTION_NATIVE, ITEM_ID) == seen_by_other
        clock.advance(refresh)
        # the other process re-read the generation: a's new entry is valid for it too
        assert other.backend.generations(COLLECTION_NATIVE, ITEM_ID) == bumped
        assert b.get(tile_path(), params=B04).headers["x-cache"] == "HIT"


# --- the HIT path: one round trip -----------------------------------------------------------
@pytest.mark.parametrize("backend_name", ["redis", "s3_redis", "redis_cluster", "s3_redis_cluster"])
def test_a_hit_is_one_redis_round_trip(
    sample_store, backend_name, redis_db, redis_server, s3_server, bucket, request
):
    """One pipeline: one round trip on a node, at most two in parallel on a cluster (the
    collection's slot and the item's), on the asyncio path (no worker thread)."""
    cluster = (
        request.getfixturevalue("redis_cluster_flushed").port if "cluster" in backend_name else None
    )
    cache = build_cache(
        cache_settings(
            backend_name,
            redis_port=redis_server.port,
            s3_url=s3_server.url,
            bucket=bucket,
            cluster_port=cluster,
        )
    )
    with client_for(sample_store, cache) as client:
        first = client.get(tile_path(), params=RGB)
        calls = []
        original = cache.backend.conn.call
        original_async = cache.backend.aio.call

        def counting(
            fn, *args, **kwargs
        ):  # each call is one command or one pipeline: one round trip
            calls.append(fn)
            return original(fn, *args, **kwargs)

        async def counting_async(fn):
            calls.append(fn)
            return await original_async(fn)

        cache.backend.conn.call = counting
        cache.backend.aio.call = counting_async
        if hasattr(cache.backend, "s3"):
            s3_calls = []
            s3_original = cache.backend.s3.call
            cache.backend.s3.call = lambda fn, *a, **k: (
                s3_calls.append(fn),
                s3_original(fn, *a, **k),
            )[1]
        hit = client.get(tile_path(), params=RGB)
        assert hit.headers["x-cache"] == "HIT" and hit.content == first.content
        assert len(calls) == 1
        if hasattr(cache.backend, "s3"):
            assert s3_calls == []  # the hot body came inline from Redis


def test_s3_redis_rewarms_redis_from_s3(sample_store, redis_db, redis_server, s3_server, bucket):
    cache = build_cache(
        cache_settings(
            "s3_redis", redis_port=redis_server.port, s3_url=s3_server.url, bucket=bucket
        )
    )
    with client_for(sample_store, cache) as client:
        first = client.get(tile_path(), params=RGB)
        key = cache.key_for_url(tile_path() + "?" + "&".join(f"{k}={v}" for k, v in RGB))
        assert redis_db.exists(f"cache:{key.id}")
        redis_db.delete(f"cache:{key.id}")  # evicted from Redis; generations survive
        warm = client.get(tile_path(), params=RGB)
        assert warm.headers["x-cache"] == "HIT" and warm.content == first.content
        assert redis_db.hget(f"cache:{key.id}", "body") == first.content  # re-warmed
        # after a bump, the S3 copy is outdated and never served
        from titiler_eopf.cache.invalidation import invalidate_scope

        invalidate_scope(cache, COLLECTION_NATIVE, ITEM_ID)
        redis_db.delete(f"cache:{key.id}")
        assert client.get(tile_path(), params=RGB).headers["x-cache"] == "MISS"


# --- concurrent first renders of a new item -----------------------------------------------------
@pytest.mark.parametrize("backend_name", ["memory", "redis", "s3", "s3_redis"])
def test_concurrent_first_writes_of_a_new_item_are_all_stored(
    backend_name, redis_db, redis_server, s3_server, bucket
):
    """Renders that all started before the item's first entry existed ("no
    generation") must all be stored: only an invalidation may refuse them."""
    from titiler_eopf.cache.backends import EntryMeta
    from titiler_eopf.cache.invalidation import invalidate_scope
    from titiler_eopf.cache.routes import match_path

    cache = build_cache(
        cache_settings(
            backend_name, redis_port=redis_server.port, s3_url=s3_server.url, bucket=bucket
        )
    )
    keys = []
    for x in range(4):  # four lookups, all before any write
        match = match_path(f"{item()}/tiles/WebMercatorQuad/12/{x}/1.png")
        key, found = cache.key_and_lookup(match, b"", True)
        assert found is None and key.generations[:2] == ("0", "0")
        keys.append(key)

    def meta():
        return EntryMeta(
            status=200,
            content_type="image/png",
            size=3,
            sha256=cache.digest(b"abc"),
            created=time.time(),
            ttl=60,
            kind="tile",
        )

    assert [cache.backend.put(k, meta(), b"abc", 60) for k in keys] == [True] * 4
    for k in keys:
        assert (
            cache.key_and_lookup(
                match_path(f"{item()}/tiles/WebMercatorQuad/12/{k.tile[2]}/1.png"), b"", True
            )[1]
            is not None
        )
    # but a render that saw "no generation" before an invalidation is still refused
    match = match_path(
        f"/collections/{COLLECTION_GEOZARR}/items/{ITEM_ID}/tiles/WebMercatorQuad/12/0/1.png"
    )
    stale_key, _ = cache.key_and_lookup(match, b"", True)
    invalidate_scope(cache, COLLECTION_GEOZARR, ITEM_ID)
    assert cache.backend.put(stale_key, meta(), b"abc", 60) is False
