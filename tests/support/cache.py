"""Cache settings on the test servers, and the stand-in app behind the cache middleware."""

from __future__ import annotations

from starlette.testclient import TestClient
from starlette_cramjam.middleware import CompressionMiddleware

from tests.support.servers import s3_client  # noqa: F401 (re-exported for the cache tests)
from tests.support.standin import StandIn
from titiler_eopf.cache import CacheMiddleware, CacheSettings
from titiler_eopf.main import INCOMPRESSIBLE

BACKENDS = ["memory", "redis", "s3", "s3_redis", "redis_cluster", "s3_redis_cluster"]
# Test backend names on the session's Redis Cluster -> the cache's backend setting.
CLUSTER_BACKENDS = {"redis_cluster": "redis", "s3_redis_cluster": "s3_redis"}
RGB = (
    "variables=/measurements/reflectance:b04&variables=/measurements/reflectance:b03"
    "&variables=/measurements/reflectance:b02&rescale=0,1"
    "&color_formula=gamma rgb 1.3, sigmoidal rgb 6 0.1, saturation 1.2"
)
ITEM = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
BASE = f"/collections/sentinel-2-l2a/items/{ITEM}"


def tile_url(z=12, x=2138, y=1505, ext=".png", query=RGB, base=BASE):
    return f"{base}/tiles/WebMercatorQuad/{z}/{x}/{y}{ext}" + (f"?{query}" if query else "")


def base_backend(name: str) -> str:
    """``redis_cluster`` -> ``redis``: the setting behind a test backend name."""
    return CLUSTER_BACKENDS.get(name, name)


def uses_redis(name: str) -> bool:
    return base_backend(name) in ("redis", "s3_redis")


def uses_s3(name: str) -> bool:
    return base_backend(name) in ("s3", "s3_redis")


def redis_of(cache):
    """The cache's own Redis client (a node or a cluster) and its key layout: tests
    reach the stored records as ``client.hget(layout.entry(key_id), ...)``."""
    return cache.backend.conn.client, cache.backend.keys


def make_settings(
    backend: str, *, redis_port=None, s3_endpoint=None, bucket=None, cluster_port=None, **overrides
) -> CacheSettings:
    """Settings for a test backend name (``redis_cluster``/``s3_redis_cluster``: the
    ``redis``/``s3_redis`` backend on the Redis Cluster whose seed is ``cluster_port``)."""
    cluster = backend in CLUSTER_BACKENDS
    backend = base_backend(backend)
    kwargs: dict = {"backend": backend, "namespace": "test"}
    if backend in ("redis", "s3_redis"):
        kwargs |= {
            "redis_host": "127.0.0.1",
            "redis_port": cluster_port if cluster else redis_port,
            "redis_cluster": cluster,
            # Generous for a loaded 2-core CI box: at 0.5 s a lookup timed out in 3 of 300
            # runs at load ~16 (failing open, uncached: an X-Cache assertion then fails).
            # Tests of timeouts set their own; a killed Redis refuses at once anyway.
            "redis_connect_timeout": 1.0,
            "redis_read_timeout": 1.0,
        }
    if backend in ("s3", "s3_redis"):
        kwargs |= {
            "s3_bucket": bucket,
            "s3_endpoint_url": s3_endpoint,
            "s3_aws_access_key_id": "testing",
            "s3_aws_secret_access_key": "testing",
            "s3_connect_timeout": 1.0,
            "s3_read_timeout": 2.0,
            "s3_generation_refresh": 0,
        }
    kwargs.update(overrides)
    return CacheSettings(_env_file=None, **kwargs)


def cached_app(cache, *, standin: StandIn | None = None, compress_outer=True, compress_inner=False):
    """``Compression -> CacheMiddleware -> stand-in``, the production order (``main.py``
    puts starlette-cramjam's CompressionMiddleware outside the cache)."""
    standin = standin or StandIn()
    app = CacheMiddleware(standin.app(compress=compress_inner), cache=cache)
    if not compress_outer:
        return app
    return CompressionMiddleware(app, minimum_size=1024, exclude_mediatype=INCOMPRESSIBLE)


def client_for(cache, **kwargs) -> TestClient:
    return TestClient(cached_app(cache, **kwargs))


def store(client, cache, url: str, attempts: int = 5) -> str:
    """GET ``url`` until its entry is in the cache; the X-Cache that showed it (a MISS
    that was written, or a HIT).

    One GET does not prove a write: on a loaded machine a lookup can time out, and the
    cache then fails open by design (``ERROR``: rendered, not stored). The write counter
    says whether the entry landed. Bounded: a cache that never stores fails here, with the
    answers it gave."""
    answers = []
    for _ in range(attempts):
        writes = cache.metrics.writes
        answer = client.get(url).headers.get("x-cache")
        answers.append(answer)
        if answer == "HIT" or (answer == "MISS" and cache.metrics.writes > writes):
            return answer
    raise AssertionError(f"{url} was not stored after {attempts} GETs: {answers}")
