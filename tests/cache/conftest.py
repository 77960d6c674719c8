"""Fixtures of the cache tests, on the session's servers (``tests/conftest.py``):

* the session's redis-server, flushed per test, so nothing depends on, or pollutes, the
  Redis on 6379;
* the session's moto S3 server, one bucket per test;
* each test's own stand-in app (``standin``) and an environment without the machine's
  AWS or ``TITILER_EOPF_*`` settings.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.cache import (
    BACKENDS,
    CLUSTER_BACKENDS,
    make_settings,
    s3_client,
    uses_redis,
    uses_s3,
)
from tests.support.standin import StandIn
from titiler_eopf.cache import CacheSettings, build_cache
from titiler_eopf.cache.clock import SYSTEM_CLOCK


@pytest.fixture(autouse=True)
def _aws_env(test_aws_env):
    """Per test (monkeypatch): nothing outlives the test or reaches other packages."""


@pytest.fixture(scope="session")
def cache_redis(redis_server):
    return redis_server


@pytest.fixture(scope="session")
def cache_moto(s3_server):
    return s3_server


@pytest.fixture
def standin() -> StandIn:
    """This test's stand-in: its switches and render count belong to this test alone."""
    return StandIn()


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
        if item.path.parent == here and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(120))
