"""Fail-open: Redis or S3 stopped mid-test, or hanging. Each test runs its own
server instance so it can kill it without disturbing the others.

The breakers read a ``ManualClock``: a breaker stays open until the test moves the clock
past ``breaker_reset``, so its states are asserted exactly, with no sleep and no margin."""

from __future__ import annotations

import inspect
import os
import signal
import time

import pytest

from tests.support.cache import client_for, make_settings, s3_client, tile_url
from tests.support.servers import MotoProcess, RedisProcess
from titiler_eopf.cache import build_cache
from titiler_eopf.cache.clock import ManualClock

FAST = {"breaker_failures": 2, "breaker_reset": 5.0}


def xcache(client, url):
    resp = client.get(url)
    assert resp.status_code == 200 and len(resp.content) == 2048
    return resp.headers["x-cache"]


@pytest.mark.parametrize("backend", ["redis", "s3_redis"])
def test_redis_stopped_then_back(backend, cache_moto, bucket):
    redis = RedisProcess().start()
    try:
        settings = make_settings(
            backend,
            redis_port=redis.port,
            s3_endpoint=cache_moto.url,
            bucket=bucket,
            redis_connect_timeout=0.2,
            redis_read_timeout=0.2,
            **FAST,
        )
        clock = ManualClock()
        cache = build_cache(settings, clock=clock)
        with client_for(cache) as client:
            url = tile_url()
            assert [xcache(client, url), xcache(client, url)] == ["MISS", "HIT"]
            redis.stop()
            seen = [xcache(client, url) for _ in range(5)]
            assert seen[:2] == ["ERROR", "ERROR"] and seen[2:] == ["BYPASS"] * 3
            assert cache.public_status()["circuits"]["redis"] == "open"
            redis.start()
            clock.advance(settings.breaker_reset - 0.01)
            assert cache.public_status()["circuits"]["redis"] == "open"
            assert xcache(client, url) == "BYPASS"  # still open: Redis is not even asked
            clock.advance(0.01)
            assert cache.public_status()["circuits"]["redis"] == "half-open"
            assert [xcache(client, url), xcache(client, url)] == ["MISS", "HIT"]
            assert cache.public_status()["circuits"]["redis"] == "closed"
            m = cache.metrics.snapshot()
            assert m["bypasses"] == 3 + 1 and m["errors"] == 2  # the 1: asked while still open
    finally:
        redis.stop()


@pytest.mark.parametrize("backend", ["s3", "s3_redis"])
def test_s3_down_then_back(backend, redis_client, cache_redis):
    moto = MotoProcess().start()
    try:
        s3_client(moto.url).create_bucket(Bucket="faults")
        # Bodies in S3 only (redis_body_max_bytes=0): every HIT needs S3 here.
        settings = make_settings(
            backend,
            redis_port=cache_redis.port,
            s3_endpoint=moto.url,
            bucket="faults",
            s3_connect_timeout=0.3,
            s3_read_timeout=0.5,
            redis_body_max_bytes=0,
            **FAST,
        )
        clock = ManualClock()
        cache = build_cache(settings, clock=clock)
        with client_for(cache) as client:
            url = tile_url()
            assert [xcache(client, url), xcache(client, url)] == ["MISS", "HIT"]
            moto.stop()
            seen = [xcache(client, url) for _ in range(5)]
            assert seen[:2] == ["ERROR", "ERROR"] and seen[2:] == ["BYPASS"] * 3
            assert cache.public_status()["circuits"]["s3"] == "open"
            # a cold tile while S3 is down: rendered, the failed write does not fail it
            other = client.get(tile_url(z=3, x=1, y=1))
            assert other.status_code == 200 and len(other.content) == 2048
            moto.start()
            s3_client(moto.url).create_bucket(Bucket="faults")  # moto restarts empty
            clock.advance(settings.breaker_reset)
            assert cache.public_status()["circuits"]["s3"] == "half-open"
            assert [xcache(client, url), xcache(client, url)] == ["MISS", "HIT"]
            assert cache.public_status()["circuits"]["s3"] == "closed"
    finally:
        moto.stop()


def redis_calls(monkeypatch) -> list[str]:
    """Every connect and every command the cache's Redis clients (blocking and asyncio)
    start, recorded by a spy on redis-py's connections (the real calls are still made)."""
    import redis.asyncio.connection
    import redis.connection

    calls: list[str] = []
    for cls in (redis.connection.AbstractConnection, redis.asyncio.connection.AbstractConnection):
        for name in ("connect", "send_packed_command"):
            original = getattr(cls, name)
            if inspect.iscoroutinefunction(original):

                async def spy(self, *args, _original=original, _name=name, **kwargs):
                    calls.append(_name)
                    return await _original(self, *args, **kwargs)

            else:

                def spy(self, *args, _original=original, _name=name, **kwargs):
                    calls.append(_name)
                    return _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, spy)
    return calls


def test_hanging_redis_costs_one_timeout_then_nothing(cache_moto, bucket, monkeypatch):
    """SIGSTOP: connections hang. Each of the first calls pays the read
    timeout; once the breaker is open a request does not even ask Redis."""
    redis = RedisProcess().start()
    try:
        settings = make_settings(
            "redis",
            redis_port=redis.port,
            redis_connect_timeout=0.3,
            redis_read_timeout=0.3,
            **FAST,
        )
        cache = build_cache(settings, clock=ManualClock())  # open until the clock moves
        calls = redis_calls(monkeypatch)
        with client_for(cache) as client:
            url = tile_url()
            assert xcache(client, url) == "MISS"
            os.kill(redis.proc.pid, signal.SIGSTOP)
            requests = []  # (X-Cache, seconds, Redis calls started)
            for _ in range(4):
                before, t0 = len(calls), time.perf_counter()
                answer = xcache(client, url)
                requests.append((answer, time.perf_counter() - t0, len(calls) - before))
            assert [r[0] for r in requests] == ["ERROR", "ERROR", "BYPASS", "BYPASS"]
            assert cache.public_status()["circuits"]["redis"] == "open"
            # the first two asked the stopped Redis and waited out the read timeout (a
            # lower bound: a loaded machine makes a request slower, never faster)...
            assert all(r[2] >= 1 for r in requests[:2]), requests
            assert min(r[1] for r in requests[:2]) >= settings.redis_read_timeout * 0.9
            # ...once open, a request starts no Redis call at all: no timeout to pay
            assert [r[2] for r in requests[2:]] == [0, 0], requests
    finally:
        if redis.proc:
            os.kill(redis.proc.pid, signal.SIGCONT)
        redis.stop()


def test_missing_s3_body_behind_redis_hit_is_repaired(cache_for, s3):
    cache = cache_for("s3_redis", redis_body_max_bytes=0)
    with client_for(cache) as client:
        url = tile_url()
        good = client.get(url).content
        key = cache.key_for_url(url)
        s3.delete_object(Bucket=cache.settings.s3_bucket, Key=f"cache/{key.id}")
        resp = client.get(url)
        assert resp.headers["x-cache"] == "MISS" and resp.content == good
        assert (
            s3.get_object(Bucket=cache.settings.s3_bucket, Key=f"cache/{key.id}")["Body"].read()
            == good
        )
        assert client.get(url).headers["x-cache"] == "HIT"
        assert cache.metrics.corrupt == 1


def test_304_needs_no_s3_read(cache_for, s3):
    cache = cache_for("s3_redis")
    with client_for(cache) as client:
        url = tile_url()
        etag = client.get(url).headers["etag"]
        key = cache.key_for_url(url)
        s3.delete_object(Bucket=cache.settings.s3_bucket, Key=f"cache/{key.id}")
        resp = client.get(url, headers={"if-none-match": etag})
        assert resp.status_code == 304 and resp.headers["x-cache"] == "HIT"
