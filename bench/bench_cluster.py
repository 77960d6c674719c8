"""The cache on a Redis Cluster beside one Redis node: HIT latency (p50/p95),
HITs per second from concurrent clients, entries per master, and what a
collection bump costs.

Starts its own redis-server (one node), a local Redis Cluster (3 masters + 3
replicas, ``tests/support/redis_cluster.py``) and a moto S3 server, and runs the same
workload through ``GZip -> CacheMiddleware -> renderer`` (bench_cache's
renderer) for ``redis`` and ``s3_redis`` on each: ``--items`` items of one
collection, ``--tiles`` tiles each, cached once, then read back sequentially
(latency) and by ``--threads`` clients at once (throughput; the ASGI app runs
in-process, so the figure is the cache path's, GIL included).

    .venv/bin/python -m bench.bench_cluster [--items 40] [--tiles 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from starlette.middleware.gzip import GZipMiddleware
from starlette.testclient import TestClient

from bench.bench_cache import renderer, timed
from tests.support.redis_cluster import RedisClusterProcess
from tests.support.servers import MotoProcess, RedisProcess
from titiler_eopf.cache import CacheMiddleware, CacheSettings, build_cache
from titiler_eopf.cache import invalidation as inv


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[max(0, int(len(values) * p) - 1)]


def run(name: str, settings: CacheSettings, args) -> dict:
    cache = build_cache(settings)
    app = GZipMiddleware(
        CacheMiddleware(renderer(args.render_ms, args.size), cache=cache), minimum_size=500
    )
    client = TestClient(app).__enter__()  # one event loop (as uvicorn and Mangum keep)
    urls = [
        f"/collections/s2/items/item-{i:03d}/tiles/WebMercatorQuad/12/{x}/7.png?variables=b04"
        for i in range(args.items)
        for x in range(args.tiles)
    ]
    for url in urls:
        assert timed(client, url)[1].headers["x-cache"] == "MISS"
    hits = []
    for url in urls:
        ms, resp = timed(client, url)
        assert resp.headers["x-cache"] == "HIT", resp.headers
        hits.append(ms)

    def worker(offset: int) -> int:
        with TestClient(app) as c:
            n = 0
            for k in range(args.per_thread):
                resp = c.get(urls[(offset * 7 + k) % len(urls)])
                assert resp.headers["x-cache"] == "HIT"
                n += 1
            return n

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        done = sum(pool.map(worker, range(args.threads)))
    rps = done / (time.perf_counter() - t0)

    bumps = []
    for _ in range(20):
        t = time.perf_counter()
        inv.invalidate_scope(cache, "s2")
        bumps.append((time.perf_counter() - t) * 1000)
    return {
        "hit_p50": statistics.median(hits),
        "hit_p95": pct(hits, 0.95),
        "rps": rps,
        "bump_ms": statistics.median(bumps),
    }


def entries_per_master(cluster: RedisClusterProcess, namespace: str) -> list[int]:
    return [
        sum(1 for _ in cluster.node(p).client().scan_iter(f"cache:tile/{{{namespace}/*", 1000))
        for p in cluster.masters()
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--tiles", type=int, default=5)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--per-thread", type=int, default=150)
    ap.add_argument("--render-ms", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=60_000, help="tile body bytes")
    args = ap.parse_args()

    redis_server, moto = RedisProcess(), MotoProcess()
    cluster = RedisClusterProcess()
    results, spread = {}, {}
    try:
        cluster.start()
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
            "redis_host": "127.0.0.1",
            "redis_connect_timeout": 1,
            "redis_read_timeout": 1,
            "s3_bucket": "bench",
            "s3_endpoint_url": endpoint,
            "s3_aws_access_key_id": "bench",
            "s3_aws_secret_access_key": "bench",
            "s3_connect_timeout": 2,
            "s3_read_timeout": 5,
        }
        for backend in ("redis", "s3_redis"):
            for where, port, clustered in (("node", rport, False), ("cluster", cluster.port, True)):
                name = f"{backend} ({where})"
                ns = f"bench-{backend}-{where}"
                settings = CacheSettings(
                    backend=backend,
                    namespace=ns,
                    redis_port=port,
                    redis_cluster=clustered,
                    **common,
                )
                results[name] = run(name, settings, args)
                if clustered:
                    spread[name] = entries_per_master(cluster, ns)
    finally:
        cluster.stop()
        moto.stop()
        redis_server.stop()

    print(
        f"{args.items} items x {args.tiles} tiles of one collection, body {args.size} B, "
        f"{args.threads} threads x {args.per_thread} HITs (in-process ASGI; ms)"
    )
    print(
        f"{'backend':22} {'HIT p50':>8} {'HIT p95':>8} {'HIT/s':>8} {'bump':>7}  entries per master"
    )
    for name, r in results.items():
        print(
            f"{name:22} {r['hit_p50']:8.2f} {r['hit_p95']:8.2f} {r['rps']:8.0f} "
            f"{r['bump_ms']:7.2f}  {spread.get(name, '-')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
