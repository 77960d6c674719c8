"""Test servers and settings helpers for the cache tests (importable by name:
``conftest`` is ambiguous when several test packages have one)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.servers import MotoProcess, RedisProcess, free_port, wait_port  # noqa: F401 (re-exported)
from titiler_eopf.cache import CacheSettings

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BACKENDS = ["memory", "redis", "s3", "s3_redis"]


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
    backend: str, *, redis_port=None, s3_endpoint=None, bucket=None, **overrides
) -> CacheSettings:
    kwargs: dict = {"backend": backend, "namespace": "test"}
    if backend in ("redis", "s3_redis"):
        kwargs |= {
            "redis_host": "127.0.0.1",
            "redis_port": redis_port,
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
