"""The fault run through the tile Lambda handler: API Gateway v2 events into one
warm handler (as deployed: s3_redis, public URL set), Redis killed between
invocations and restarted. No 5xx, and every body equals the uncached render.
"""

from __future__ import annotations

import base64
import functools
import hashlib

import pytest
from fastapi.testclient import TestClient

from tests.support.events import FakeContext, http_api_event
from tests.support.harness import kill9, restart
from tests.support.reliability import B04, RGB, item, tile_path
from tests.support.servers import RedisProcess
from titiler_eopf.cache.clock import ManualClock
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

PUBLIC = "https://abc123.execute-api.eu-west-1.amazonaws.com"
REQUESTS = [
    (tile_path(z=11), RGB),
    (tile_path(z=12), RGB),
    (tile_path(z=13, fmt="webp"), B04),
    (tile_path(z=12, fmt="jpg"), B04),
    (f"{item()}/info", []),
    (f"{item()}/WebMercatorQuad/tilejson.json", B04),
]


def body(response) -> bytes:
    raw = response.get("body") or ""
    return base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()


@pytest.mark.timeout(120)
def test_warm_handler_survives_redis_killed_between_invocations(
    sample_store, s3_server, bucket, monkeypatch
):
    from titiler_eopf.handlers import tile

    redis = RedisProcess().start()
    env = {
        "TITILER_EOPF_STORE_URL": str(sample_store),
        "TITILER_EOPF_PUBLIC_URL": PUBLIC,
        "TITILER_EOPF_CACHE_BACKEND": "s3_redis",
        "TITILER_EOPF_CACHE_NAMESPACE": "lambda-faults",
        "TITILER_EOPF_CACHE_REDIS_HOST": "127.0.0.1",
        "TITILER_EOPF_CACHE_REDIS_PORT": str(redis.port),
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": "0.25",
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": "0.25",
        "TITILER_EOPF_CACHE_BREAKER_RESET": "0.5",
        "TITILER_EOPF_CACHE_S3_BUCKET": bucket,
        "TITILER_EOPF_CACHE_S3_ENDPOINT_URL": s3_server.url,
        "TITILER_EOPF_CACHE_S3_AWS_ACCESS_KEY_ID": "testing",
        "TITILER_EOPF_CACHE_S3_AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "TiTilerEOPFTest",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(tile, "_adapter", None)
    monkeypatch.setattr(tile, "_cache", None)
    # The handler builds its app as deployed, on a ManualClock: the breakers open when Redis
    # dies and stay open until the test moves the clock past breaker_reset.
    clock = ManualClock()
    monkeypatch.setattr(tile, "_build", functools.partial(tile._build, clock=clock))
    # The uncached truth: the tiler alone, with the same public URL.
    reference = TestClient(
        create_tiler_app(TilerSettings(store_url=str(sample_store), public_url=PUBLIC))
    )
    from titiler_eopf.main import PublicURLMiddleware  # the reference embeds the same base URL

    reference = TestClient(PublicURLMiddleware(reference.app, PUBLIC))
    expected = {}
    for path, query in REQUESTS:
        resp = reference.get(path, params=query)
        assert resp.status_code == 200
        expected[path] = hashlib.sha256(resp.content).hexdigest()

    seen = []

    def round_(label):
        for path, query in REQUESTS:
            response = tile.handler(
                http_api_event(path, query, headers={"accept-encoding": "identity"}), FakeContext()
            )
            assert response["statusCode"] < 500, (
                label,
                path,
                response["statusCode"],
                body(response)[:300],
            )
            assert hashlib.sha256(body(response)).hexdigest() == expected[path], (label, path)
            seen.append((label, response["headers"].get("x-cache")))

    try:
        round_("cold")
        round_("warm")
        kill9(redis)
        round_("redis down")
        round_("redis down")
        assert _breakers(tile) == {"redis": "open", "s3": "closed"}  # Redis alone was down
        restart(redis)
        clock.advance(0.5)  # breaker_reset: the next call is the probe
        round_("redis back")
        assert _breakers(tile) == {"redis": "closed", "s3": "closed"}
        round_("redis back")
    finally:
        redis.stop()
    by_phase = {}
    for label, xc in seen:
        by_phase.setdefault(label, []).append(xc)
    print(by_phase)
    assert set(by_phase["warm"]) == {"HIT"}
    assert "HIT" not in by_phase["redis down"]
    assert by_phase["redis back"][-len(REQUESTS) :] == ["HIT"] * len(REQUESTS)


def _breakers(tile) -> dict[str, str]:
    return {b.name: b.state for b in tile._cache.backend.breakers()}
