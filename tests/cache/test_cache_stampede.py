"""Stampede protection: concurrent misses of one key render once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import anyio
import httpx
import pytest

from tests.support.cache import cached_app, tile_url
from tests.support.servers import ROOT, free_port, wait_port

SLOW_TILE = tile_url(base="/collections/c/items/slow")


def fire(urls: list[str], transport=None) -> list[httpx.Response]:
    results: list = [None] * len(urls)

    async def main():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(transport=transport, limits=limits, timeout=30) as client:

            async def one(i, url):
                results[i] = await client.get(url if transport is None else "http://test" + url)

            async with anyio.create_task_group() as tg:
                for i, url in enumerate(urls):
                    tg.start_soon(one, i, url)

    anyio.run(main)
    return results


@pytest.mark.parametrize("backend", ["memory", "redis", "s3_redis"])
def test_concurrent_misses_in_one_process_render_once(cache_for, backend, standin):
    cache = cache_for(backend, lock_poll=0.02)
    before = standin.renders
    app = cached_app(cache, standin=standin)
    responses = fire([SLOW_TILE] * 20, transport=httpx.ASGITransport(app=app))
    assert {r.status_code for r in responses} == {200}
    assert standin.renders - before == 1
    assert len({r.content for r in responses}) == 1
    assert sorted(r.headers["x-cache"] for r in responses) == ["HIT"] * 19 + ["MISS"]


def test_lock_wait_is_bounded_then_renders_uncached(cache_for, redis_client):
    cache = cache_for("redis", lock_wait=0.3, lock_ttl=5)
    key = cache.key_for_url(SLOW_TILE)
    redis_client.set(f"cache:lock/{key.id}", "someone-else", px=5000)  # a stuck renderer
    t0 = time.perf_counter()
    (resp,) = fire([SLOW_TILE], transport=httpx.ASGITransport(app=cached_app(cache)))
    assert resp.status_code == 200 and resp.headers["x-cache"] == "MISS"
    assert time.perf_counter() - t0 >= 0.3  # a lower bound: load lengthens a wait, never cuts it
    assert cache.metrics.lock_timeouts == 1
    assert not redis_client.exists(f"cache:{key.id}")  # uncached render: not stored
    assert redis_client.get(f"cache:lock/{key.id}") == b"someone-else"  # not ours to release


def test_50_concurrent_misses_across_processes_render_once(
    redis_client, cache_redis, cache_moto, bucket, tmp_path
):
    log = tmp_path / "renders.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TITILER_EOPF_")}
    env |= {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lambda_src"), str(ROOT)]),
        "STANDIN_RENDER_LOG": str(log),
        "STANDIN_SLOW": "0.5",
        # the environment names existing deployments use
        "TITILER_EOPF_CACHE_BACKEND": "s3_redis",
        "TITILER_EOPF_CACHE_REDIS_HOST": "127.0.0.1",
        "TITILER_EOPF_CACHE_REDIS_PORT": str(cache_redis.port),
        "TITILER_EOPF_CACHE_S3_BUCKET": bucket,
        "TITILER_EOPF_CACHE_S3_PREFIX": "cache/",
        "TITILER_EOPF_CACHE_S3_ENDPOINT_URL": cache_moto.url,
        "TITILER_EOPF_CACHE_S3_AWS_ACCESS_KEY_ID": "testing",
        "TITILER_EOPF_CACHE_S3_AWS_SECRET_ACCESS_KEY": "testing",
        "TITILER_EOPF_CACHE_NAMESPACE": "xproc",
        "TITILER_EOPF_CACHE_TILE_TTL": "600",
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": "1",
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": "1",
        "TITILER_EOPF_CACHE_S3_CONNECT_TIMEOUT": "2",
        "TITILER_EOPF_CACHE_S3_READ_TIMEOUT": "5",
        "TITILER_EOPF_CACHE_LOCK_POLL": "0.02",
    }
    ports = [free_port() for _ in range(4)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.support.standin_server:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(p),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )
        for p in ports
    ]
    try:
        for p in ports:
            wait_port(p, 30)
        urls = [f"http://127.0.0.1:{ports[i % 4]}{SLOW_TILE}" for i in range(50)]
        responses = fire(urls)
        assert {r.status_code for r in responses} == {200}
        assert len({r.content for r in responses}) == 1 and len(responses[0].content) == 2048
        assert log.read_text().count("\n") == 1, log.read_text()
        assert sorted(r.headers["x-cache"] for r in responses) == ["HIT"] * 49 + ["MISS"]
        assert len({r.headers["x-render-pid"] for r in responses}) == 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
