"""The origin locked to its CDN: ``X-Origin-Verify`` checked against the Secrets Manager value
(moto's server), a rotated secret picked up, Secrets Manager unreachable = closed."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.support.cdn import COLLECTION, ITEM, RGB, TILE, LiveServer
from titiler_eopf.admin.actions import SeedRequest
from titiler_eopf.admin.service import AdminService
from titiler_eopf.cache import CacheSettings
from titiler_eopf.cache.clock import ManualClock
from titiler_eopf.main import create_app
from titiler_eopf.origin import OriginSecret, OriginVerifyMiddleware, secret_from_settings
from titiler_eopf.tiler.settings import TilerSettings

HEADER = "X-Origin-Verify"


REFRESH_SECONDS = 1


def locked_app(sample_store, arn: str, clock=None):
    """The app behind its origin check; ``clock``: a ``ManualClock`` to move past the
    secret's refresh interval instead of sleeping through it."""
    settings = TilerSettings(
        store_url=str(sample_store),
        origin_verify_secret_arn=arn,
        origin_verify_refresh_seconds=REFRESH_SECONDS,
    )
    return create_app(settings, CacheSettings(backend="memory"), clock=clock)


def test_only_requests_with_the_cdn_header_reach_the_app(sample_store, origin_secret):
    arn, value = origin_secret
    app = locked_app(sample_store, arn)
    client = TestClient(app)
    for headers in ({}, {HEADER: "wrong"}, {HEADER: value[:-1]}, {HEADER: value + "x"}):
        refused = client.get(TILE, params=RGB, headers=headers)
        assert refused.status_code == 403, headers
        assert "through its CDN only" in refused.json()["detail"]
        assert "X-Origin-Verify" in refused.json()["detail"]
        assert refused.headers["cache-control"] == "no-store"
        assert "x-cache" not in refused.headers  # refused before the cache
    assert client.get("/cache/status").status_code == 403
    assert app.cache.metrics.snapshot()["misses"] == 0
    allowed = client.get(TILE, params=RGB, headers={HEADER: value})
    assert allowed.status_code == 200 and allowed.content.startswith(b"\x89PNG")
    assert allowed.headers["x-cache"] == "MISS"
    assert client.get("/cache/status", headers={HEADER: value}).status_code == 200


def test_a_rotated_secret_is_read_again(sample_store, origin_secret, secrets):
    arn, old = origin_secret
    clock = ManualClock()
    client = TestClient(locked_app(sample_store, arn, clock))
    assert client.get("/cache/status", headers={HEADER: old}).status_code == 200
    new = old[::-1]
    secrets.put_secret_value(SecretId=arn, SecretString=new)
    # inside the refresh interval the value read stays: the rotated header is refused
    assert client.get("/cache/status", headers={HEADER: new}).status_code == 403
    clock.advance(REFRESH_SECONDS)  # past it, a differing header reads the secret again
    assert client.get("/cache/status", headers={HEADER: new}).status_code == 200
    assert client.get("/cache/status", headers={HEADER: old}).status_code == 403


def test_unreachable_secrets_manager_fails_closed_and_recovers(
    sample_store, origin_secret, monkeypatch, caplog, aws_env
):
    arn, value = origin_secret
    from tests.support.servers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    clock = ManualClock()
    client = TestClient(locked_app(sample_store, arn, clock))
    with caplog.at_level(logging.ERROR, logger="titiler_eopf.origin"):
        closed = client.get("/cache/status", headers={HEADER: value})
    assert closed.status_code == 503
    assert "could not be read" in closed.json()["detail"]
    assert "TITILER_EOPF_ORIGIN_VERIFY_SECRET_ARN" in closed.json()["detail"]
    assert closed.headers["retry-after"] == "1"
    (record,) = [r for r in caplog.records if "origin-verify secret" in r.getMessage()]
    assert record.secret == arn and "EndpointConnectionError" in record.error
    # without the header: refused as always, and Secrets Manager is not asked
    assert client.get("/cache/status").status_code == 403
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env)  # reachable again
    # not asked again inside the retry interval: still closed
    assert client.get("/cache/status", headers={HEADER: value}).status_code == 503
    clock.advance(REFRESH_SECONDS)
    assert client.get("/cache/status", headers={HEADER: value}).status_code == 200


class Reads:
    def __init__(self, value: str):
        self.value, self.count = value, 0

    def __call__(self) -> str:
        self.count += 1
        return self.value


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_wrong_headers_read_the_secret_at_most_once_per_interval():
    reads, clock = Reads("right"), Clock()
    secret = OriginSecret(reads, refresh_seconds=60, clock=clock)
    client = TestClient(OriginVerifyMiddleware(_ok, secret))
    assert client.get("/", headers={HEADER: "right"}).status_code == 200
    assert [client.get("/", headers={HEADER: "wrong"}).status_code for _ in range(20)] == [403] * 20
    assert reads.count == 1  # the first read only: the interval has not passed
    clock.now += 61
    reads.value = "rotated"
    assert client.get("/", headers={HEADER: "rotated"}).status_code == 200
    assert client.get("/", headers={HEADER: "right"}).status_code == 403
    assert reads.count == 2
    assert [client.get("/").status_code for _ in range(5)] == [403] * 5  # no header: no read
    assert reads.count == 2


def test_the_comparison_is_constant_time(monkeypatch):
    """The header is compared with hmac.compare_digest (no early exit on the first byte)."""
    import hmac

    import titiler_eopf.origin as origin

    calls, real = [], hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(origin.hmac, "compare_digest", spy)
    client = TestClient(OriginVerifyMiddleware(_ok, OriginSecret(Reads("s"), refresh_seconds=60)))
    assert client.get("/", headers={HEADER: "s"}).status_code == 200
    assert calls == [(b"s", b"s")]


def test_the_seeder_sends_the_header(sample_store, origin_secret):
    """The admin Lambda seeds through the API URL (not the CDN): its requests carry the
    header the tile app checks; without it every request is refused."""
    arn, _ = origin_secret
    request = SeedRequest(collection=COLLECTION, item=ITEM, minzoom=9, maxzoom=9)
    with LiveServer(locked_app(sample_store, arn)) as server:
        seeding = AdminService(
            cache=None, seed_api_url=server.url, origin_secret=secret_from_settings(arn, 60)
        )
        result = seeding.seed(request)  # no bbox: the product's bounds from its TileJSON
        assert result["counts"]["failed"] == 0 and result["counts"]["rendered"] >= 1, result
        from titiler_eopf.admin.actions import BadRequest

        with pytest.raises(BadRequest, match="HTTP 403"):
            AdminService(cache=None, seed_api_url=server.url).seed(request)
        bbox = SeedRequest(
            collection=COLLECTION, item=ITEM, minzoom=9, maxzoom=9, bbox=result["bbox"]
        )
        refused = AdminService(cache=None, seed_api_url=server.url).seed(bbox)
        assert refused["counts"]["failed"] == result["total"]
        assert all(f["status"] == 403 for f in refused["failures"])
