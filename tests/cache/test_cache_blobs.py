"""Raw blobs (the tiler's shared product metadata) in every backend: bytes by key with an
expiry, and fail-open. S3 has no TTL: the S3 backend keeps the expiry in the object's
metadata and honours it on read (the bucket's lifecycle rule deletes the objects)."""

from __future__ import annotations

import logging

import pytest

from tests.support.cache import make_settings
from tests.support.servers import free_port
from titiler_eopf.cache import build_cache
from titiler_eopf.cache.clock import ManualClock

KEY = "product-metadata/v1/sentinel-2-l2a/S2A_ITEM/0123456789abcdef0123456789abcdef"
VALUE = bytes(range(256)) * 64  # binary, not UTF-8: stored as bytes, never as text


@pytest.mark.parametrize("backend", ["memory", "redis", "s3", "s3_redis"])
def test_a_blob_round_trips_by_key(cache_for, backend):
    cache = cache_for(backend)
    assert cache.get_blob(KEY) is None
    cache.put_blob(KEY, VALUE)
    assert cache.get_blob(KEY) == VALUE
    assert cache.get_blob(KEY.replace("S2A_ITEM", "S2B_ITEM")) is None
    cache.put_blob(KEY, b"newer")
    assert cache.get_blob(KEY) == b"newer"
    assert cache.metrics.blob_errors == 0


@pytest.mark.parametrize("backend", ["memory", "s3"])
def test_a_blob_expires_after_the_metadata_ttl(cache_for, backend):
    # a start between two milliseconds: an expiry rounded up when written would outlive the TTL
    clock = ManualClock(start=1_800_000_000.0006)
    cache = cache_for(backend, clock=clock, metadata_ttl=60)
    cache.put_blob(KEY, VALUE)
    clock.advance(59)
    assert cache.get_blob(KEY) == VALUE
    clock.advance(1)
    assert cache.get_blob(KEY) is None


@pytest.mark.parametrize("backend", ["redis", "s3_redis"])
def test_a_redis_blob_carries_the_metadata_ttl(cache_for, backend, redis_client):
    cache = cache_for(backend, metadata_ttl=60)
    cache.put_blob(KEY, VALUE)
    assert redis_client.get(f"cache:blob/test/{KEY}") == VALUE
    assert 55 <= redis_client.ttl(f"cache:blob/test/{KEY}") <= 60


def test_an_s3_blob_is_an_object_under_blob_with_its_expiry(cache_for, s3):
    clock = ManualClock(start=1_800_000_000)
    cache = cache_for("s3", clock=clock, metadata_ttl=3600)
    cache.put_blob(KEY, VALUE)
    obj = s3.get_object(Bucket=cache.settings.s3_bucket, Key=f"cache/blob/test/{KEY}")
    assert obj["Body"].read() == VALUE
    assert obj["Metadata"] == {"expires": "1800003600.000"}


def test_an_s3_object_without_an_expiry_is_not_a_blob(cache_for, s3):
    """Something else wrote there (or a half-configured copy): never trusted."""
    cache = cache_for("s3")
    s3.put_object(Bucket=cache.settings.s3_bucket, Key=f"cache/blob/test/{KEY}", Body=VALUE)
    assert cache.get_blob(KEY) is None


@pytest.mark.parametrize(
    "backend, down",
    [
        ("s3", {"s3_endpoint": f"http://127.0.0.1:{free_port()}", "bucket": "cache"}),
        ("redis", {"redis_port": free_port()}),
    ],
)
def test_a_failing_blob_store_fails_open_and_says_so(backend, down, caplog):
    """Nothing listens where the backend is pointed (a closed port)."""
    cache = build_cache(make_settings(backend, **down))
    with caplog.at_level(logging.WARNING, logger="titiler_eopf.cache"):
        assert cache.get_blob(KEY) is None
        assert cache.put_blob(KEY, VALUE) is None
    failures = [r for r in caplog.records if r.name == "titiler_eopf.cache"]
    assert [r.getMessage() for r in failures] == [
        "cache blob read failed; reading the store",
        "cache blob write failed; not shared",
    ]
    assert all(r.key == KEY and r.backend == backend and r.error for r in failures)
    assert cache.metrics.blob_errors == 2
