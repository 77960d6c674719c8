"""The asyncio lookup path: a Redis HIT is answered on the event loop, with no
worker-thread hop, on one node and on a cluster; it keeps failing open and
shares the circuit breaker with the blocking client."""

from __future__ import annotations

import anyio.to_thread
import pytest

from tests.support.cache import client_for, make_settings, tile_url
from tests.support.servers import RedisProcess
from titiler_eopf.cache import build_cache
from titiler_eopf.cache.clock import ManualClock


@pytest.fixture
def thread_hops(monkeypatch):
    """Counts the calls the cache sends to a worker thread."""
    calls: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(fn, *args, **kwargs):
        calls.append(getattr(getattr(fn, "func", fn), "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return calls


@pytest.mark.parametrize("backend", ["redis", "s3_redis", "redis_cluster", "s3_redis_cluster"])
@pytest.mark.parametrize("redis_async", [True, False])
def test_a_hit_takes_no_worker_thread(cache_for, backend, redis_async, thread_hops):
    cache = cache_for(backend, redis_async=redis_async)
    with client_for(cache) as client:
        url = tile_url(z=7, x=3, y=3)
        first = client.get(url)
        assert first.headers["x-cache"] == "MISS"
        thread_hops.clear()
        hit = client.get(url)
        assert hit.headers["x-cache"] == "HIT" and hit.content == first.content
        cond = client.get(url, headers={"if-none-match": hit.headers["etag"]})
        assert cond.status_code == 304
    lookups = [c for c in thread_hops if c == "key_and_lookup"]
    if redis_async:
        assert lookups == [], thread_hops
    else:  # the blocking path, for comparison: one hop per request
        assert len(lookups) == 2, thread_hops


def test_an_s3_body_is_the_only_blocking_read_of_its_hit(cache_for, thread_hops, redis_client):
    """s3_redis: a body kept in S3 only needs boto3, off the event loop; the Redis
    record read on the loop stands (one lookup pipeline per HIT, none again in the thread)."""
    cache = cache_for("s3_redis", redis_body_max_bytes=0)
    with client_for(cache) as client:
        url = tile_url(z=7, x=4, y=3)
        first = client.get(url)
        thread_hops.clear()
        redis_client.config_resetstat()
        hit = client.get(url)
        assert hit.headers["x-cache"] == "HIT" and hit.content == first.content
    assert thread_hops == ["_body"]
    assert redis_client.info("commandstats")["cmdstat_hmget"]["calls"] == 1


def test_an_inline_body_hit_asks_s3_nothing(cache_for, monkeypatch):
    """s3_redis: a body inline in the Redis record is served like the redis backend's."""
    cache = cache_for("s3_redis")
    s3_calls = []
    real_call = cache.backend.s3.call

    def counting(fn, *args, **kwargs):
        s3_calls.append(fn)
        return real_call(fn, *args, **kwargs)

    monkeypatch.setattr(cache.backend.s3, "call", counting)
    with client_for(cache) as client:
        url = tile_url(z=7, x=5, y=3)
        first = client.get(url)
        assert first.headers["x-cache"] == "MISS" and len(s3_calls) == 1  # the durable copy
        s3_calls.clear()
        hit = client.get(url)
        assert hit.headers["x-cache"] == "HIT" and hit.content == first.content
    assert s3_calls == []


def test_async_path_fails_open_and_shares_the_breaker(thread_hops):
    redis = RedisProcess().start()
    try:
        settings = make_settings(
            "redis",
            redis_port=redis.port,
            redis_connect_timeout=0.2,
            redis_read_timeout=0.2,
            breaker_failures=2,
            breaker_reset=5.0,
        )
        clock = ManualClock()
        cache = build_cache(settings, clock=clock)
        with client_for(cache) as client:
            url = tile_url(z=7, x=5, y=3)

            def xcache():
                resp = client.get(url)
                assert resp.status_code == 200
                return resp.headers["x-cache"]

            assert [xcache(), xcache()] == ["MISS", "HIT"]
            redis.stop()
            thread_hops.clear()
            assert [xcache() for _ in range(4)] == ["ERROR", "ERROR", "BYPASS", "BYPASS"]
            assert "key_and_lookup" not in thread_hops  # the failures were the asyncio path's
            assert cache.public_status()["circuits"]["redis"] == "open"
            redis.start()
            clock.advance(settings.breaker_reset)
            # the probe (asyncio) reconnects and closes the breaker for both paths
            assert [xcache(), xcache()] == ["MISS", "HIT"]
            assert cache.public_status()["circuits"]["redis"] == "closed"
    finally:
        redis.stop()
