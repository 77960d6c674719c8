"""Responses Lambda could not return (6 MB once base64-encoded) are a clear 422, never stored:
uncompressed images refused before rendering, any body checked after it."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from tests.support.cdn import COLLECTION, ITEM, RGB, TILE
from titiler_eopf.cache import CacheSettings
from titiler_eopf.main import create_app
from titiler_eopf.tiler.limits import (
    LAMBDA_MAX_RESPONSE_BYTES,
    LAMBDA_RESPONSE_LIMIT,
    LimitSettings,
    ResponseSizeGate,
)
from titiler_eopf.tiler.settings import TilerSettings

PREVIEW = f"/collections/{COLLECTION}/items/{ITEM}/preview.png"


def test_the_default_is_the_largest_body_lambda_returns():
    assert LimitSettings().max_response_bytes == LAMBDA_MAX_RESPONSE_BYTES == 4_706_304
    body = base64.b64encode(bytes(LAMBDA_MAX_RESPONSE_BYTES)).decode()
    envelope = json.dumps(
        {
            "statusCode": 200,
            "headers": {"content-type": "image/png", "x-cache": "MISS", "etag": '"' + "f" * 64},
            "multiValueHeaders": {},
            "body": body,
            "isBase64Encoded": True,
        }
    )
    assert len(envelope) <= LAMBDA_RESPONSE_LIMIT - 15 * 1024  # room left for more headers
    assert len(base64.b64encode(bytes(LAMBDA_MAX_RESPONSE_BYTES + 3 * 4096))) + 16 * 1024 > (
        LAMBDA_RESPONSE_LIMIT
    )


@pytest.fixture
def small_limit_app(sample_store):
    settings = TilerSettings(store_url=str(sample_store), max_response_bytes=8192)
    return create_app(settings, CacheSettings(backend="memory"))


def test_a_rendered_body_over_the_limit_is_a_422_and_never_stored(small_limit_app):
    client = TestClient(small_limit_app)
    params = RGB + [("max_size", "2048")]  # an 11.6 kB PNG of the sample product
    first, second = client.get(PREVIEW, params=params), client.get(PREVIEW, params=params)
    for refused in (first, second):
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert "over the largest this server can return: 8,192 bytes" in detail
        assert "TITILER_EOPF_MAX_RESPONSE_BYTES" in detail and "6 MB" in detail
        assert refused.headers["cache-control"] == "no-store"
        assert refused.headers["x-cache"] == "MISS"  # rendered both times: not stored
    metrics = small_limit_app.cache.metrics.snapshot()
    assert metrics["writes"] == 0 and metrics["misses"] == 2
    # what fits is served and stored as before
    small = client.get(TILE, params=RGB)
    assert small.status_code == 200 and len(small.content) <= 8192
    assert client.get(TILE, params=RGB).headers["x-cache"] == "HIT"


def test_uncompressed_images_are_refused_before_rendering(small_limit_app):
    client = TestClient(small_limit_app)
    for suffix in (".npy", ".tif"):
        refused = client.get(TILE.removesuffix(".png") + suffix, params=RGB)
        assert refused.status_code == 422
        # 3 bands x 256 x 256, one byte each at least: known without reading anything
        assert "at least 196,608 bytes" in refused.json()["detail"]
    npy = TILE.removesuffix(".png") + ".npy"
    # 64 x 64 x 1 passes the bound (4,096 bytes at least) but renders float64 + mask: 65,664
    # bytes, refused after rendering by the gate
    rendered = client.get(npy, params=RGB[:1] + [("tilesize", "64")])
    assert rendered.status_code == 422
    assert "would be 65,664 bytes" in rendered.json()["detail"]
    fits = client.get(npy, params=RGB[:1] + [("tilesize", "16")])
    assert fits.status_code == 200 and len(fits.content) <= 8192
    assert small_limit_app.cache.metrics.snapshot()["writes"] == 1


# --- the gate on its own ------------------------------------------------------------------
def _app(body: bytes, *, length: bool, chunks: int = 1):
    async def app(scope, receive, send):
        headers = [(b"content-type", b"image/png")]
        if length:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        step = max(1, len(body) // chunks)
        parts = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
        for n, part in enumerate(parts):
            more = n < len(parts) - 1
            await send({"type": "http.response.body", "body": part, "more_body": more})

    return app


@pytest.mark.parametrize("length", [True, False])
@pytest.mark.parametrize("chunks", [1, 7])
def test_gate_with_and_without_content_length(length, chunks):
    fits, too_big = b"a" * 1000, b"b" * 1001
    ok = TestClient(ResponseSizeGate(_app(fits, length=length, chunks=chunks), 1000)).get("/")
    assert ok.status_code == 200 and ok.content == fits
    assert ok.headers["content-type"] == "image/png"
    over = TestClient(ResponseSizeGate(_app(too_big, length=length, chunks=chunks), 1000)).get("/")
    assert over.status_code == 422 and over.headers["cache-control"] == "no-store"
    assert "1,000 bytes" in over.json()["detail"]
