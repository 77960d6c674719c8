"""Load with faults, against the app as a real server process on loopback.

750 requests at concurrency 12 over 36 distinct URLs (three zooms, both
layouts, png/webp/jpg, two band orders and a single band, TileJSON, info). The
test's own Redis (or S3 server) is killed with SIGKILL once a third of the
requests completed and restarted at two thirds, while requests keep flowing.

Pass: no 5xx; every body's digest equals the uncached render of the same URL
(a second server with the cache off); afterwards no index entry points at
missing or different bytes. Figures per phase are printed (``-s``) and saved in
``tests/reliability/figures/`` for the closing note.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import morecantile
import pytest

from eopf_sample import BOUNDS_LONLAT, COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID
from tests.support.harness import (
    AppServer,
    LoadRun,
    kill9,
    reference_digests,
    restart,
    run_load,
)
from tests.support.servers import MotoProcess, RedisProcess, s3_client

# 250 requests per phase: every URL is missed, then hit several times, before the fault and
# after the restart; during the fault each request renders uncached (the phase's cost).
TOTAL = 750
CONCURRENCY = 12
HOST = "tiles.test"
FIGURES = Path(__file__).resolve().parent / "figures"


def load_urls() -> list[str]:
    tms = morecantile.tms.get("WebMercatorQuad")
    lon = (BOUNDS_LONLAT[0] + BOUNDS_LONLAT[2]) / 2
    lat = (BOUNDS_LONLAT[1] + BOUNDS_LONLAT[3]) / 2
    rgb = (
        "&".join(f"variables=/measurements/reflectance:{b}" for b in ("b04", "b03", "b02"))
        + "&rescale=0,1"
    )
    bgr = (
        "&".join(f"variables=/measurements/reflectance:{b}" for b in ("b02", "b03", "b04"))
        + "&rescale=0,1"
    )
    nir = "variables=/measurements/reflectance:b08&rescale=0,1&colormap_name=viridis"
    urls = []
    for collection in (COLLECTION_NATIVE, COLLECTION_GEOZARR):
        base = f"/collections/{collection}/items/{ITEM_ID}"
        for z, fmt in ((11, "png"), (12, "webp"), (13, "jpg")):
            t = tms.tile(lon, lat, z)
            for x in (t.x, t.x + 1):
                for query in (rgb, bgr):
                    urls.append(
                        f"{base}/tiles/WebMercatorQuad/{z}/{x}/{t.y}.{fmt}?{query}&tilesize=256"
                    )
            urls.append(f"{base}/tiles/WebMercatorQuad/{z}/{t.x}/{t.y}.png?{nir}&tilesize=256")
        urls.append(f"{base}/WebMercatorQuad/tilejson.json?{rgb}")
        urls.append(f"{base}/WebMercatorQuad/tilejson.json?{nir}")
        urls.append(f"{base}/info")
    return urls


@pytest.fixture(scope="module")
def reference(sample_store):
    """The same app with the cache off: what every response must equal."""
    server = AppServer(
        {"TITILER_EOPF_STORE_URL": str(sample_store), "TITILER_EOPF_CACHE_BACKEND": "none"}
    ).start()
    try:
        yield reference_digests(server.url, load_urls(), HOST)
    finally:
        server.stop()


def cached_server_env(sample_store, backend, redis_port, s3_url=None, bucket=None, **extra) -> dict:
    env = {
        "TITILER_EOPF_STORE_URL": str(sample_store),
        "TITILER_EOPF_CACHE_BACKEND": backend,
        "TITILER_EOPF_CACHE_NAMESPACE": f"load-{uuid.uuid4().hex[:6]}",
        "TITILER_EOPF_CACHE_REDIS_HOST": "127.0.0.1",
        "TITILER_EOPF_CACHE_REDIS_PORT": str(redis_port),
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": "0.2",
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": "0.5",
        "TITILER_EOPF_CACHE_BREAKER_FAILURES": "3",
        "TITILER_EOPF_CACHE_BREAKER_RESET": "1",
    }
    if s3_url:
        env |= {
            "TITILER_EOPF_CACHE_S3_BUCKET": bucket,
            "TITILER_EOPF_CACHE_S3_ENDPOINT_URL": s3_url,
            "TITILER_EOPF_CACHE_S3_AWS_ACCESS_KEY_ID": "testing",
            "TITILER_EOPF_CACHE_S3_AWS_SECRET_ACCESS_KEY": "testing",
            "TITILER_EOPF_CACHE_S3_CONNECT_TIMEOUT": "0.3",
            "TITILER_EOPF_CACHE_S3_READ_TIMEOUT": "1",
        }
    return env | {k: str(v) for k, v in extra.items()}


def check_run(name: str, run: LoadRun, reference: dict[str, str]) -> dict:
    wrong = [r for r in run.results if r.status != 200 or r.digest != reference[r.url]]
    figures = {
        "run": name,
        "all": LoadRun.summary(run.results),
        "before fault": LoadRun.summary(run.phase(0, TOTAL // 3)),
        "during fault": LoadRun.summary(run.phase(TOTAL // 3, 2 * TOTAL // 3)),
        "after restart": LoadRun.summary(run.phase(2 * TOTAL // 3, TOTAL)),
        "wrong bodies": sum(r.status == 200 and r.digest != reference[r.url] for r in run.results),
    }
    FIGURES.mkdir(exist_ok=True)
    (FIGURES / f"load-{name}.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures))
    assert figures["all"]["5xx"] == 0, [(r.url, r.status) for r in wrong][:5]
    assert not wrong, [(r.url, r.status, r.xcache) for r in wrong][:5]
    # the cache was really in use before the fault and came back after it
    assert figures["before fault"]["x_cache"].get("HIT", 0) > TOTAL // 6
    assert figures["after restart"]["x_cache"].get("HIT", 0) > TOTAL // 6
    return figures


def check_index(redis_port: int, s3_url: str | None, bucket: str | None) -> int:
    """Every entry in Redis has its bytes: inline with the right digest, or in S3."""
    import redis

    r = redis.Redis(port=redis_port)
    s3 = s3_client(s3_url) if s3_url else None
    checked = 0
    entries = [
        k
        for pattern in ("cache:tile/*", "cache:meta/*")
        for k in r.scan_iter(match=pattern, count=1000)
    ]
    for key in entries:
        rec = r.hgetall(key)
        if not rec:
            continue  # expired meanwhile
        sha = rec[b"sha256"].decode()
        body = rec.get(b"body")
        if body is None and s3 is not None:
            obj = s3.get_object(Bucket=bucket, Key=f"cache/{key.decode()[len('cache:') :]}")
            body = obj["Body"].read()
        assert body is not None and hashlib.sha256(body).hexdigest() == sha, key
        checked += 1
    return checked


def fault_at_thirds(server) -> dict:
    return {TOTAL // 3: lambda: kill9(server), 2 * TOTAL // 3: lambda: restart(server)}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["redis", "s3_redis"])
def test_redis_killed_and_restarted_under_load(sample_store, reference, backend, s3_server, bucket):
    redis = RedisProcess().start()
    app = None
    try:
        app = AppServer(
            cached_server_env(sample_store, backend, redis.port, s3_server.url, bucket)
        ).start()
        run = run_load(app.url, load_urls(), TOTAL, CONCURRENCY, HOST, at=fault_at_thirds(redis))
        check_run(f"{backend}-redis-killed", run, reference)
        assert check_index(redis.port, s3_server.url if backend == "s3_redis" else None, bucket) > 0
    finally:
        if app:
            app.stop()
        redis.stop()


@pytest.mark.timeout(240)
def test_s3_killed_and_restarted_under_load(sample_store, reference, redis_server):
    """Bodies in S3 only (``redis_body_max_bytes=0``), so that every HIT needs S3."""
    moto = MotoProcess().start()
    bucket = "load"
    s3_client(moto.url).create_bucket(Bucket=bucket)

    def back():
        restart(moto)
        s3_client(moto.url).create_bucket(Bucket=bucket)  # moto comes back empty

    app = None
    try:
        app = AppServer(
            cached_server_env(
                sample_store,
                "s3_redis",
                redis_server.port,
                moto.url,
                bucket,
                TITILER_EOPF_CACHE_REDIS_BODY_MAX_BYTES=0,
            )
        ).start()
        run = run_load(
            app.url,
            load_urls(),
            TOTAL,
            CONCURRENCY,
            HOST,
            at={TOTAL // 3: lambda: kill9(moto), 2 * TOTAL // 3: back},
        )
        check_run("s3_redis-s3-killed", run, reference)
        assert check_index(redis_server.port, moto.url, bucket) > 0
    finally:
        if app:
            app.stop()
        moto.stop()
