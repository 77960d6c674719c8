"""Test servers and settings helpers for the cache tests (importable by name:
``conftest`` is ambiguous when several test packages have one)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.servers import MotoProcess, RedisProcess, free_port, wait_port  # noqa: F401 (re-exported)
from titiler_eopf.cache import CacheSettings

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BACKENDS = ["memory", "redis", "s3", "s3_redis", "redis_cluster", "s3_redis_cluster"]
# Test backend name -> (the cache's backend setting, on a Redis Cluster?)
CLUSTER_BACKENDS = {"redis_cluster": "redis", "s3_redis_cluster": "s3_redis"}


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


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


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
            # generous enough for a loaded 2-core CI box, still fails fast
            "redis_connect_timeout": 0.5,
            "redis_read_timeout": 0.5,
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
