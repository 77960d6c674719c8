"""Cache benchmark: MISS vs HIT vs 304 latency per backend, side by side, and
the HIT against its floors: a bare ASGI app serving the same bytes through the
same client and compression (``floor``), and a bare Redis GET of the same bytes.

Starts its own redis-server and moto S3 server on free ports, runs the same
workload through ``Compression -> CacheMiddleware -> renderer`` for each
backend, and prints medians and ratios measured in one run (absolute times
depend on the machine; the ratios are the point).

The machine is shared, so its load drifts during a run: requests are interleaved,
round by round, over every backend, the floor and a bare Redis GET (in a new random order
each round: a request never always follows the same one), so that a busy second costs them
all alike. ``hit/floor`` is the ratio of the medians; ``paired`` is the median over rounds
of each round's HIT / floor, and ``passes`` its range over the ``--passes`` passes of the
HIT phase (the noise of the run).

The tile body (``--size``, 60 000 B by default) is below ``redis_body_max_bytes``
(256 KiB): ``s3_redis`` serves it from the Redis record, like ``redis``;
``s3_redis (S3 body)`` (``redis_body_max_bytes=0``) reads every body from S3.

    .venv/bin/python -m bench.bench_cache [--n 200] [--passes 3] [--render-ms 20] [--size 60000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
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
TILE_ROUTE = "/collections/{c}/items/{i}/tiles/{tms}/{z:int}/{x:int}/{y}"
QUERY = "?variables=b04&variables=b03&variables=b02"

# (name, backend, settings beside the common ones). "(thread)": every Redis call in a
# worker thread (TITILER_EOPF_CACHE_REDIS_ASYNC=false), beside the asyncio HIT path.
CONFIGS = (
    ("memory", "memory", {}),
    ("redis", "redis", {}),
    ("redis (thread)", "redis", {"redis_async": False}),
    ("s3_redis", "s3_redis", {}),
    ("s3_redis (thread)", "s3_redis", {"redis_async": False}),
    ("s3_redis (S3 body)", "s3_redis", {"redis_body_max_bytes": 0}),
    ("s3", "s3", {}),
)


def tile_body(url: str, size: int) -> bytes:
    """The bytes of a tile: incompressible like a PNG, and the same for the same URL."""
    return random.Random(url).randbytes(size)


def renderer(render_ms: float, size: int):
    def tile(request):
        time.sleep(render_ms / 1000)  # stands for reading Zarr chunks + encoding
        body = tile_body(f"{request.url.path}?{request.url.query}", size)
        return Response(body, media_type="image/png")

    return Starlette(routes=[Route(TILE_ROUTE, tile)])


def floor_app(bodies: dict[str, bytes]):
    """A bare ASGI app answering the bytes a HIT answers, already in memory: what a
    HIT cannot beat."""

    def tile(request):
        body = bodies[f"{request.url.path}?{request.url.query}"]
        return Response(body, media_type="image/png", headers={"etag": '"x"'})

    return GZipMiddleware(Starlette(routes=[Route(TILE_ROUTE, tile)]), minimum_size=500)


def timed(client, url, headers=None):
    t0 = time.perf_counter()
    resp = client.get(url, headers=headers or {})
    return (time.perf_counter() - t0) * 1000, resp


def tile_urls(tag: str, n: int) -> list[str]:
    return [
        f"/collections/s2/items/{tag}-{time.time_ns()}/tiles/WebMercatorQuad/12/{x}/7.png{QUERY}"
        for x in range(n)
    ]


def shuffled(names: list[str], rng: random.Random) -> list[str]:
    out = list(names)
    rng.shuffle(out)
    return out


def measure(
    settings: dict[str, CacheSettings],
    n: int,
    passes: int,
    render_ms: float,
    size: int,
    redis_port: int,
):
    """MISS, then ``passes`` HIT passes, then 304, each interleaved round by round over
    every backend (and, for HITs, the floor and a bare Redis GET of the same bytes)."""
    import redis

    bare = redis.Redis(port=redis_port)
    bare.set("bench:bare", os.urandom(size))
    clients, urls = {}, {}
    for name, cfg in settings.items():
        app = CacheMiddleware(renderer(render_ms, size), cache=build_cache(cfg))
        # One event loop per client for the whole run (as uvicorn and Mangum keep one):
        # without the context manager TestClient starts a loop per request, and the
        # asyncio Redis path would open a new client (and connection) for each.
        clients[name] = TestClient(GZipMiddleware(app, minimum_size=500)).__enter__()
        urls[name] = tile_urls(name.split()[0], n)
        timed(clients[name], "/collections/s2/items/warm/tiles/WebMercatorQuad/1/1/1.png")
    urls["floor"] = tile_urls("floor", n)
    bodies = {url: tile_body(url, size) for url in urls["floor"]}
    clients["floor"] = TestClient(floor_app(bodies)).__enter__()
    timed(clients["floor"], urls["floor"][0])

    names = list(settings)
    rng = random.Random(0)
    miss = {name: [] for name in names}
    hit = {name: [[] for _ in range(passes)] for name in [*names, "floor", "GET"]}
    nm = {name: [] for name in names}
    etags = {name: [] for name in names}
    for i in range(n):
        for name in shuffled(names, rng):
            ms, resp = timed(clients[name], urls[name][i])
            assert resp.headers.get("x-cache") == "MISS", (name, resp.headers)
            assert resp.content == tile_body(urls[name][i], size)
            miss[name].append(ms)
            etags[name].append(resp.headers["etag"])
    gc.collect()
    for p in range(passes):
        for i in range(n):
            for name in shuffled([*names, "floor", "GET"], rng):
                if name == "GET":
                    t0 = time.perf_counter()
                    bare.get("bench:bare")
                    hit[name][p].append((time.perf_counter() - t0) * 1000)
                    continue
                ms, resp = timed(clients[name], urls[name][i])
                assert name == "floor" or resp.headers["x-cache"] == "HIT", (name, resp.headers)
                hit[name][p].append(ms)
    for i in range(n):
        for name in shuffled(names, rng):
            ms, resp = timed(clients[name], urls[name][i], {"if-none-match": etags[name][i]})
            assert resp.status_code == 304
            nm[name].append(ms)
    for client in clients.values():
        client.__exit__(None, None, None)

    floor_all = [ms for one in hit["floor"] for ms in one]
    results = {}
    for name in names:
        hits = [ms for one in hit[name] for ms in one]
        per_pass = [
            statistics.median(h / f for h, f in zip(hit[name][p], hit["floor"][p], strict=True))
            for p in range(passes)
        ]
        results[name] = {
            "miss": statistics.median(miss[name]),
            "hit": statistics.median(hits),
            "hit_p95": sorted(hits)[int(len(hits) * 0.95) - 1],
            "304": statistics.median(nm[name]),
            "paired": statistics.median(h / f for h, f in zip(hits, floor_all, strict=True)),
            "passes": (min(per_pass), max(per_pass)),
        }
    bare_get = statistics.median(ms for one in hit["GET"] for ms in one)
    return results, statistics.median(floor_all), bare_get


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--passes", type=int, default=3, help="HIT passes over the n tiles")
    ap.add_argument("--render-ms", type=float, default=20.0)
    ap.add_argument("--size", type=int, default=60_000, help="tile body bytes")
    args = ap.parse_args()

    redis_server, moto = RedisProcess(), MotoProcess()
    try:
        redis_server.start()
        moto.start()
        import boto3

        boto3.client(
            "s3",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="bench")
        common = {
            "redis_host": "127.0.0.1",
            "redis_port": redis_server.port,
            "redis_connect_timeout": 1,
            "redis_read_timeout": 1,
            "s3_bucket": "bench",
            "s3_endpoint_url": moto.url,
            "s3_aws_access_key_id": "bench",
            "s3_aws_secret_access_key": "bench",
            "s3_connect_timeout": 2,
            "s3_read_timeout": 5,
        }
        settings = {
            name: CacheSettings(backend=backend, namespace=f"bench-{index}", **(common | overrides))
            for index, (name, backend, overrides) in enumerate(CONFIGS)
        }
        results, floor, bare_get = measure(
            settings, args.n, args.passes, args.render_ms, args.size, redis_server.port
        )
    finally:
        moto.stop()
        redis_server.stop()

    print(
        f"n={args.n} x {args.passes} HIT passes, render={args.render_ms} ms body={args.size} B  "
        "(medians, ms; moto S3 is local, real S3 is slower)"
    )
    print(
        f"{'backend':19} {'MISS':>8} {'HIT':>8} {'HIT p95':>8} {'304':>8} {'MISS/HIT':>9} "
        f"{'HIT vs memory':>14}"
    )
    mem_hit = results["memory"]["hit"]
    for name, r in results.items():
        print(
            f"{name:19} {r['miss']:8.2f} {r['hit']:8.2f} {r['hit_p95']:8.2f} {r['304']:8.2f} "
            f"{r['miss'] / r['hit']:8.1f}x {r['hit'] / mem_hit:13.2f}x"
        )
    print()
    print(
        f"HIT against its floors: bare ASGI app serving the same bytes {floor:.2f} ms, "
        f"bare Redis GET of the same bytes {bare_get:.2f} ms (goal: hit/floor <= 1.2)"
    )
    print(
        f"{'backend':19} {'HIT':>8} {'hit/floor':>10} {'paired':>8} {'passes':>12} "
        f"{'HIT - floor':>12} {'(HIT - floor)/GET':>18}"
    )
    for name, r in results.items():
        extra = r["hit"] - floor
        low, high = r["passes"]
        print(
            f"{name:19} {r['hit']:8.2f} {r['hit'] / floor:9.2f}x {r['paired']:7.2f}x "
            f"{low:5.2f}-{high:4.2f}x {extra:11.2f}  {extra / bare_get:17.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
