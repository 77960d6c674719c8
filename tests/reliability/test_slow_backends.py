"""Slow backends: a delaying TCP proxy in front of Redis, then of S3, whose replies come
``DELAY`` seconds late (never, within a request's life). A tile costs the configured
timeout on top of its render instead of waiting for the reply, the circuit breaker opens
(then a request does not even ask the backend), and once the backend is fast again the
breaker closes and the cache serves HITs again.

The breakers read a ``ManualClock``: one stays open until the test moves the clock past
``breaker_reset`` (no sleep, and a loaded machine cannot reach the half-open probe early).
Whether a request asked the backend is counted by the proxy, not inferred from durations.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from tests.support.harness import DelayProxy
from tests.support.reliability import B04, cache_settings, tile_path
from titiler_eopf.cache import build_cache
from titiler_eopf.cache.clock import ManualClock
from titiler_eopf.main import create_app
from titiler_eopf.tiler.settings import TilerSettings

TIMEOUT = 0.2
RESET = 2.0
# The replies' delay: far longer than any request may take, so a request that waited for a
# reply instead of timing out would be unmistakable.
DELAY = 60.0
# A request costs its render plus at most a timeout per cache call on its path (3 x 0.2 s):
# about 1 s, 3 s on a 2-core machine running the suite beside other CPU hogs. Not a timing
# test: the bound is over 5x that, and a third of DELAY.
WAITED_NO_REPLY_S = 20.0


def timed(client, url, params):
    t0 = time.perf_counter()
    resp = client.get(url, params=params)
    return resp, time.perf_counter() - t0


def exercise(client, cache, clock, proxy, breaker: str):
    url = tile_path(z=12)
    first, _ = timed(client, url, B04)
    assert first.headers["x-cache"] == "MISS"
    hit, _ = timed(client, url, B04)
    assert hit.headers["x-cache"] == "HIT"

    proxy.delay = DELAY
    seen = []  # (X-Cache, seconds, chunks sent to the backend)
    states = []
    for _ in range(5):
        before = proxy.sent
        resp, took = timed(client, url, B04)
        assert resp.status_code == 200 and resp.content == first.content
        seen.append((resp.headers["x-cache"], took, proxy.sent - before))
        states.append(cache.public_status()["circuits"][breaker])
    # no request waited for a reply: each gave up at its timeouts
    assert all(took < WAITED_NO_REPLY_S for _, took, _ in seen), seen
    assert seen[0][0] == "ERROR" and seen[0][2] >= 1, seen  # it asked, and timed out
    assert seen[-1][0] == "BYPASS" and "open" in states, (seen, states)
    assert states[-1] == "open", states
    # an open breaker costs nothing: a BYPASS sends the backend nothing
    assert all(sent == 0 for xc, _, sent in seen if xc == "BYPASS"), seen

    proxy.delay = 0.0
    clock.advance(RESET)
    assert cache.public_status()["circuits"][breaker] == "half-open"
    back, _ = timed(client, url, B04)
    assert back.headers["x-cache"] == "HIT" and back.content == first.content
    assert cache.public_status()["circuits"][breaker] == "closed"
    return seen


@pytest.mark.timeout(90)
def test_slow_redis(sample_store, redis_db, redis_server):
    proxy = DelayProxy(redis_server.port).start()
    clock = ManualClock()
    try:
        cache = build_cache(
            cache_settings(
                "redis",
                redis_port=proxy.port,
                redis_read_timeout=TIMEOUT,
                redis_connect_timeout=TIMEOUT,
                breaker_failures=2,
                breaker_reset=RESET,
            ),
            clock=clock,
        )
        with TestClient(
            create_app(TilerSettings(store_url=str(sample_store)), cache=cache)
        ) as client:
            seen = exercise(client, cache, clock, proxy, "redis")
        print("slow redis:", seen)
    finally:
        proxy.stop()


@pytest.mark.timeout(90)
def test_slow_s3(sample_store, redis_db, redis_server, s3_server, bucket):
    """Bodies in S3 only (``redis_body_max_bytes=0``): every HIT reads S3."""
    proxy = DelayProxy(s3_server.port).start()
    clock = ManualClock()
    try:
        cache = build_cache(
            cache_settings(
                "s3_redis",
                redis_port=redis_server.port,
                s3_url=f"http://127.0.0.1:{proxy.port}",
                bucket=bucket,
                s3_connect_timeout=TIMEOUT,
                s3_read_timeout=TIMEOUT,
                breaker_failures=2,
                breaker_reset=RESET,
                redis_body_max_bytes=0,
            ),
            clock=clock,
        )
        with TestClient(
            create_app(TilerSettings(store_url=str(sample_store)), cache=cache)
        ) as client:
            seen = exercise(client, cache, clock, proxy, "s3")
        print("slow s3:", seen)
    finally:
        proxy.stop()
