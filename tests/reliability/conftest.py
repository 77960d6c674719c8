"""The reliability suite: end to end, across requests, under faults and hostile input.

Everything is real and local: redis-server and moto's S3 server (the session's, from
``tests/conftest.py``; a test that kills or pauses one starts its own), the real app
(``create_app``) on the sample products, in-process or as a uvicorn server process on
loopback.
"""

from __future__ import annotations

import shutil
import uuid

import pytest

from tests.support.servers import s3_client


@pytest.fixture(autouse=True)
def _isolated_env(test_aws_env):
    """Per test (monkeypatch): nothing outlives the test or reaches other packages."""


@pytest.fixture
def redis_db(redis_server):
    import redis

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def bucket(s3_server):
    name = f"rel-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server.url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def product_copy(sample_store, tmp_path):
    """A private store holding copies of the sample products (tests rewrite them)."""
    for collection in sample_store.iterdir():
        if collection.is_dir():
            shutil.copytree(collection, tmp_path / collection.name)
    return tmp_path
