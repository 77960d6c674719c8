"""Cache benchmark: MISS vs HIT vs 304 latency per backend, side by side, and
the HIT against its floors: a bare ASGI app serving the same bytes through the
same client and compression (``floor``), and a bare Redis GET of the same bytes.

Starts its own redis-server and moto S3 server on free ports, runs the same
workload through ``Compression -> CacheMiddleware -> renderer`` for each
backend, and prints medians and ratios measured in one run (absolute times
depend on the machine; the ratios are the point).

    .venv/bin/python -m bench.bench_cache [--n 200] [--render-ms 20] [--size 60000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.support.servers import MotoProcess, RedisProcess
from titiler_eopf.cache import CacheMiddleware, CacheSettings, build_cache

ROOT = Path(__file__).resolve().parents[1]


def renderer(render_ms: float, size: int):
    def tile(request):
        time.sleep(render_ms / 1000)  # stands for reading Zarr chunks + encoding
        seed = f"{request.url.path}?{request.url.query}".encode()
        return Response((seed * (size // len(seed) + 1))[:size], media_type="image/png")

    return Starlette(
        routes=[Route("/collections/{c}/items/{i}/tiles/{tms}/{z:int}/{x:int}/{y}", tile)]
    )


def timed(client, url, headers=None):
    t0 = time.perf_counter()
    resp = client.get(url, headers=headers or {})
    return (time.perf_counter() - t0) * 1000, resp


def run(backend: str, settings: CacheSettings, n: int, render_ms: float, size: int) -> dict:
    cache = build_cache(settings)
    app = GZipMiddleware(CacheMiddleware(renderer(render_ms, size), cache=cache), minimum_size=500)
    # One event loop for the whole run (as uvicorn and Mangum keep one): without the
    # context manager TestClient starts a loop per request, and the asyncio Redis path
    # would open a new client (and connection) for each.
    client = TestClient(app).__enter__()
    urls = [
        f"/collections/s2/items/{backend}-{time.time_ns()}/tiles/WebMercatorQuad/12/{x}/7.png?variables=b04"
        "&variables=b03&variables=b02"
        for x in range(n)
    ]
    timed(client, "/collections/s2/items/warm/tiles/WebMercatorQuad/1/1/1.png")  # connect clients
    miss, hit, nm, etags = [], [], [], []
    for url in urls:
        ms, resp = timed(client, url)
        assert resp.headers.get("x-cache") == "MISS", resp.headers
        miss.append(ms)
        etags.append(resp.headers["etag"])
    for url in urls:
        ms, resp = timed(client, url)
        assert resp.headers["x-cache"] == "HIT"
        hit.append(ms)
    for url, etag in zip(urls, etags, strict=True):
        ms, resp = timed(client, url, {"if-none-match": etag})
        assert resp.status_code == 304
        nm.append(ms)
    return {
        "miss": statistics.median(miss),
        "hit": statistics.median(hit),
        "304": statistics.median(nm),
        "hit_p95": sorted(hit)[int(len(hit) * 0.95) - 1],
    }


def floor_ms(n: int, size: int) -> float:
    """A bare ASGI app answering the same bytes: what a HIT cannot beat."""
    body = os.urandom(size)

    def tile(request):
        return Response(body, media_type="image/png", headers={"etag": '"x"'})

    app = GZipMiddleware(
        Starlette(routes=[Route("/collections/{c}/items/{i}/tiles/{tms}/{z}/{x}/{y}.png", tile)]),
        minimum_size=500,
    )
    client = TestClient(app).__enter__()  # one event loop, as in run()
    url = (
        "/collections/s2/items/floor/tiles/WebMercatorQuad/12/1/7.png"
        "?variables=b04&variables=b03&variables=b02"
    )
    timed(client, url)
    return statistics.median(timed(client, url)[0] for _ in range(n))


def redis_get_ms(port: int, n: int, size: int) -> float:
    import redis

    r = redis.Redis(port=port)
    r.set("bench:bare", os.urandom(size))
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r.get("bench:bare")
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--render-ms", type=float, default=20.0)
    ap.add_argument("--size", type=int, default=60_000, help="tile body bytes")
    args = ap.parse_args()

    redis_server, moto = RedisProcess(), MotoProcess()
    try:
        redis_server.start()
        moto.start()
        rport = redis_server.port
        import boto3

        endpoint = moto.url
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="bench")
        common = {
            "namespace": "bench",
            "redis_host": "127.0.0.1",
            "redis_port": rport,
            "redis_connect_timeout": 1,
            "redis_read_timeout": 1,
            "s3_bucket": "bench",
            "s3_endpoint_url": endpoint,
            "s3_aws_access_key_id": "bench",
            "s3_aws_secret_access_key": "bench",
            "s3_connect_timeout": 2,
            "s3_read_timeout": 5,
        }
        results = {}
        # "(thread)": the same backend with every Redis call in a worker thread
        # (TITILER_EOPF_CACHE_REDIS_ASYNC=false), beside the asyncio HIT path.
        for name in ("memory", "redis", "redis (thread)", "s3_redis", "s3_redis (thread)", "s3"):
            backend = name.split()[0]
            results[name] = run(
                backend,
                CacheSettings(
                    backend=backend,
                    redis_async="thread" not in name,
                    **(common | {"namespace": f"bench-{backend}"}),
                ),
                args.n,
                args.render_ms,
                args.size,
            )
        floor = floor_ms(args.n, args.size)
        bare_get = redis_get_ms(rport, args.n, args.size)
    finally:
        moto.stop()
        redis_server.stop()

    print(
        f"n={args.n} render={args.render_ms} ms body={args.size} B  "
        "(medians, ms; moto S3 is local, real S3 is slower)"
    )
    print(
        f"{'backend':18} {'MISS':>8} {'HIT':>8} {'HIT p95':>8} {'304':>8} {'MISS/HIT':>9} "
        f"{'HIT vs memory':>14}"
    )
    mem_hit = results["memory"]["hit"]
    for name, r in results.items():
        print(
            f"{name:18} {r['miss']:8.2f} {r['hit']:8.2f} {r['hit_p95']:8.2f} {r['304']:8.2f} "
            f"{r['miss'] / r['hit']:8.1f}x {r['hit'] / mem_hit:13.1f}x"
        )
    print()
    print(
        f"HIT against its floors: bare ASGI app serving the same bytes {floor:.2f} ms, "
        f"bare Redis GET of the same bytes {bare_get:.2f} ms (goal: hit/floor <= 1.5)"
    )
    print(
        f"{'backend':18} {'HIT':>8} {'hit/floor':>10} {'HIT - floor':>12} {'(HIT - floor)/GET':>18}"
    )
    for name, r in results.items():
        extra = r["hit"] - floor
        print(
            f"{name:18} {r['hit']:8.2f} {r['hit'] / floor:9.2f}x {extra:11.2f}  "
            f"{extra / bare_get:17.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
