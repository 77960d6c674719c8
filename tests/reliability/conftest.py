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

from tests.servers import MotoProcess, RedisProcess


@pytest.fixture(scope="session", autouse=True)
def _isolated_env():
    saved = dict(os.environ)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    for var in [v for v in os.environ if v.startswith("TITILER_EOPF_") or v in ("AWS_PROFILE", "AWS_SESSION_TOKEN")]:
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


def s3_client(url: str):
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def bucket(s3_server):
    name = f"rel-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server.url).create_bucket(Bucket=name)
    return name


def cache_settings(backend: str, *, redis_port=None, s3_url=None, bucket=None, **overrides):
    from titiler_eopf.cache import CacheSettings

    kwargs: dict = {"backend": backend, "namespace": "rel"}
    if backend in ("redis", "s3_redis"):
        kwargs |= {"redis_host": "127.0.0.1", "redis_port": redis_port,
                   "redis_connect_timeout": 0.5, "redis_read_timeout": 0.5}
    if backend in ("s3", "s3_redis"):
        kwargs |= {"s3_bucket": bucket, "s3_endpoint_url": s3_url, "s3_aws_access_key_id": "testing",
                   "s3_aws_secret_access_key": "testing", "s3_connect_timeout": 1.0, "s3_read_timeout": 2.0,
                   "s3_generation_refresh": 0}
    kwargs.update(overrides)
    return CacheSettings(_env_file=None, **kwargs)


@pytest.fixture
def product_copy(sample_store, tmp_path):
    """A private store holding copies of the sample products (tests rewrite them)."""
    for collection in sample_store.iterdir():
        if collection.is_dir():
            shutil.copytree(collection, tmp_path / collection.name)
    return tmp_path
