"""Fixtures shared by every test package: sample products and local servers.

Servers are real processes started by the tests themselves on free ports, one of each per
test session (with ``-n 2`` each xdist worker has its own session, hence its own servers):
moto's S3 server, one redis-server, and the STAC API of the mosaic tests. Tests that kill
or pause a server to inject a fault start their own (``tests.support.servers``).
"""

from __future__ import annotations

import os

import pytest

from tests.support.redis_cluster import RedisClusterProcess, uses_redis_cluster
from tests.support.samples import sample_products
from tests.support.servers import MotoProcess, RedisProcess


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Groups for ``pytest -n 2 --dist loadgroup`` (make test): every test of the STAC API
    runs on one worker (one PostgreSQL + STAC API per run), so does every test of the Lambda
    bundle (one build, one build cache), so does every test on the local Redis Cluster (one
    cluster per run), and so do a module's tests when they share a
    module-scoped fixture (built once); any other test goes to whichever worker is free."""
    for item in items:
        if "stac_api" in item.fixturenames:
            group = "stac-api"
        elif item.path.name == "test_infra_bundle.py":
            group = "bundle"
        elif uses_redis_cluster(item):
            group = "redis-cluster"  # one cluster (6 redis-servers) per run, not per worker
        elif _uses_module_fixture(item):
            group = item.nodeid.split("::")[0]
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))


def _uses_module_fixture(item) -> bool:
    definitions = getattr(item, "_fixtureinfo", None)
    if definitions is None:
        return False
    return any(
        defs and defs[-1].scope in ("module", "package", "class")
        for defs in definitions.name2fixturedefs.values()
    )


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory):
    """Directory holding both sample products and the mosaic collection (the tiler's store
    root); read-only for tests (copy it to rewrite products)."""
    return sample_products(tmp_path_factory)


@pytest.fixture(scope="session")
def redis_server():
    """The session's redis-server (``RedisProcess``); tests flush it before use."""
    server = RedisProcess().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """The session's moto S3 server (``MotoProcess``); tests make a bucket of their own."""
    server = MotoProcess().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server(s3_server) -> str:
    """The session's moto S3 server's endpoint URL."""
    return s3_server.url


@pytest.fixture(scope="session")
def stac_api(sample_store):
    """A real STAC API (stac-fastapi-pgstac over PostgreSQL + PostGIS) holding the sample
    mosaic collection (``eopf_sample.mosaic``); yields the running ``StacApiProcess``."""
    from eopf_sample.mosaic import COLLECTION_MOSAIC
    from tests.support.stacapi import StacApiProcess, wait_ready

    server = StacApiProcess(sample_store / COLLECTION_MOSAIC / "stac")
    try:
        server.start()
        wait_ready(server.url)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster():
    """A local Redis Cluster (3 masters + 3 replicas, ``RedisClusterProcess``) for the
    session, started on first use; tests flush it (``redis_cluster_flushed``) and may kill
    and restart its nodes."""
    cluster = RedisClusterProcess().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_flushed(redis_cluster):
    redis_cluster.wait_healthy()  # a failover test may have left a node rejoining
    redis_cluster.flush()
    return redis_cluster


@pytest.fixture
def test_aws_env(monkeypatch):
    """This test's environment: moto's dummy credentials, no real AWS profile or token, and
    no ``TITILER_EOPF_*`` setting from the machine (tests configure the app explicitly).
    Undone after the test by monkeypatch."""
    for var in list(os.environ):
        if var.startswith("TITILER_EOPF_") or var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
