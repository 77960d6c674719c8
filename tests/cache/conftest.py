"""Servers the cache tests need, started by the tests themselves.

* one ``redis-server`` on a free port for the session (flushed per test), so
  nothing depends on, or pollutes, the Redis on 6379;
* one moto S3 server on a free port for the session, one bucket per test;
* helpers to start extra Redis/moto instances that a fault test may kill.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lambda_src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cache_servers import (  # noqa: E402
    BACKENDS,
    CLUSTER_BACKENDS,
    MotoProcess,
    RedisProcess,
    make_settings,
    s3_client,
    uses_redis,
    uses_s3,
)

from titiler_eopf.cache import CacheSettings, build_cache  # noqa: E402
from titiler_eopf.cache.clock import SYSTEM_CLOCK  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _aws_env():
    saved = dict(os.environ)
    # moto accepts any credentials; never let a test reach real AWS credentials.
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    # The tests configure the cache explicitly; the machine's environment must not leak in.
    for var in [v for v in os.environ if v.startswith("TITILER_EOPF_")]:
        os.environ.pop(var)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def cache_redis():
    server = RedisProcess().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cache_moto():
    server = MotoProcess().start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(cache_redis):
    import redis

    client = redis.Redis(port=cache_redis.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def bucket(cache_moto):
    name = f"cache-{uuid.uuid4().hex[:12]}"
    s3_client(cache_moto.url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(cache_moto):
    return s3_client(cache_moto.url)


@pytest.fixture
def settings_for(request, cache_redis, cache_moto):
    """``settings_for(backend, **overrides)`` wired to this test's servers (the cluster
    is started, once per session, by the first test that asks for a cluster backend)."""
    made = {}

    def factory(backend: str, **overrides) -> CacheSettings:
        cluster = backend in CLUSTER_BACKENDS
        if uses_redis(backend) and not cluster and "redis" not in made:
            request.getfixturevalue("redis_client")  # flush
            made["redis"] = True
        if cluster and "cluster" not in made:
            made["cluster"] = request.getfixturevalue("redis_cluster_flushed").port
        if uses_s3(backend) and "bucket" not in made:
            made["bucket"] = request.getfixturevalue("bucket")
        return make_settings(
            backend,
            redis_port=cache_redis.port,
            s3_endpoint=cache_moto.url,
            bucket=made.get("bucket"),
            cluster_port=made.get("cluster"),
            **overrides,
        )

    return factory


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    return request.param


@pytest.fixture
def cache_for(settings_for):
    """``cache_for(backend, clock=None, **overrides)``; ``clock``: a ``ManualClock`` to
    move the cache's time (breakers, entry ages) without sleeping."""

    def factory(backend: str, *, clock=None, **overrides):
        return build_cache(settings_for(backend, **overrides), clock=clock or SYSTEM_CLOCK)

    return factory


def pytest_collection_modifyitems(items):
    # No cache test may hang the suite: each gets a hard time limit.
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here and not item.get_closest_marker(
            "timeout"
        ):
            item.add_marker(pytest.mark.timeout(120))
