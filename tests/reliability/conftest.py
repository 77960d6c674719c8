"""The reliability suite: end to end, across requests, under faults and hostile input.

Everything is real and local: redis-server and moto's S3 server started by the
tests (some are killed or paused on purpose), the real app (``create_app``) on
the sample products, in-process or as a uvicorn server process on loopback.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from tests.cache.cache_servers import make_settings, s3_client  # noqa: F401 (s3_client re-exported)
from tests.servers import MotoProcess, RedisProcess


@pytest.fixture(scope="session", autouse=True)
def _isolated_env():
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for var in [
        v
        for v in os.environ
        if v.startswith("TITILER_EOPF_") or v in ("AWS_PROFILE", "AWS_SESSION_TOKEN")
    ]:
        os.environ.pop(var)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisProcess().start()
    yield server
    server.stop()


@pytest.fixture
def redis_db(redis_server):
    import redis

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def s3_server():
    server = MotoProcess().start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server):
    name = f"rel-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server.url).create_bucket(Bucket=name)
    return name


def cache_settings(backend: str, *, redis_port=None, s3_url=None, bucket=None, **overrides):
    """The cache tests' settings helper, in the suite's own namespace."""
    return make_settings(
        backend,
        redis_port=redis_port,
        s3_endpoint=s3_url,
        bucket=bucket,
        **{"namespace": "rel", **overrides},
    )


@pytest.fixture
def product_copy(sample_store, tmp_path):
    """A private store holding copies of the sample products (tests rewrite them)."""
    for collection in sample_store.iterdir():
        if collection.is_dir():
            shutil.copytree(collection, tmp_path / collection.name)
    return tmp_path
