"""The cache's policy functions on their own: what is stored, for how long, what clients get."""

from __future__ import annotations

import pytest

from titiler_eopf.cache import CacheSettings
from titiler_eopf.cache.policy import (
    cache_control,
    client_no_cache,
    etag_matches,
    render_headers,
    storable_ttl,
    ttl_for,
)


@pytest.fixture(scope="module")
def settings():
    return CacheSettings(
        _env_file=None,
        tile_ttl=100,
        default_ttl=50,
        mosaic_ttl=30,
        empty_ttl=10,
        max_body_bytes=1000,
    )


def test_ttl_per_route_kind_and_status(settings):
    assert ttl_for(settings, "tile", 200) == 100
    assert ttl_for(settings, "info", 200) == ttl_for(settings, "bbox", 200) == 50
    assert ttl_for(settings, "mosaic_tile", 200) == 30
    assert ttl_for(settings, "tile", 204) == ttl_for(settings, "tile", 404) == 10
    assert ttl_for(settings, "mosaic_tile", 404) is None  # only item tiles keep "no data"
    assert ttl_for(settings, "tile", 500) is None and ttl_for(settings, "info", 404) is None
    assert ttl_for(settings.model_copy(update={"empty_ttl": 0}), "tile", 204) is None


@pytest.mark.parametrize(
    "status,headers,stored",
    [
        (200, [("content-type", "image/png")], True),
        (200, [("content-encoding", "gzip")], False),
        (200, [("set-cookie", "a=b")], False),
        (200, [("cache-control", "no-store")], False),
        (200, [("cache-control", "Private, max-age=3")], False),
        (200, [("vary", "Accept-Encoding")], True),
        (200, [("vary", "accept-encoding, Origin")], False),
        (200, [("content-length", "1000")], True),
        (200, [("content-length", "1001")], False),
        (404, [], False),  # an unknown item: anonymous requests must not fill the cache
        (404, [("x-tile-empty", "1")], True),
        (204, [], True),
    ],
)
def test_storable(settings, status, headers, stored):
    ttl = storable_ttl(settings, "tile", status, headers)
    assert (ttl is not None) == stored


def test_cache_control_by_stored_status(settings):
    """Split between the CDN (s-maxage = the entry's TTL) and browsers: images kept
    browser_max_age (at most their TTL), documents revalidated with the ETag on every use."""
    assert cache_control(settings, "tile", 200) == "public, max-age=60, s-maxage=100"
    assert cache_control(settings, "preview", 200) == "public, max-age=50, s-maxage=50"
    assert cache_control(settings, "mosaic_tile", 200) == "public, max-age=30, s-maxage=30"
    assert cache_control(settings, "tile", 204) == "public, max-age=10, s-maxage=10"
    assert cache_control(settings, "tile", 404) == "public, max-age=10, s-maxage=10"
    for kind in ("info", "tilejson", "statistics", "mosaic_tilejson", "mosaic_info"):
        ttl = settings.ttl_for(kind)
        assert cache_control(settings, kind, 200) == (
            f"public, max-age=0, must-revalidate, s-maxage={ttl}"
        )


def test_cache_control_configured_is_sent_as_it_is():
    settings = CacheSettings(
        _env_file=None,
        cache_control_tile="public, max-age=3600",
        cache_control_metadata="",
        cache_control_empty="no-store",
        browser_max_age=5,
    )
    assert cache_control(settings, "tile", 200) == "public, max-age=3600"
    assert cache_control(settings, "info", 200) == ""  # configured empty: none sent
    assert cache_control(settings, "tile", 204) == "no-store"
    assert cache_control(settings, "preview", 200) == "public, max-age=5, s-maxage=3600"


def test_etag_and_no_cache_and_stripped_headers():
    assert etag_matches('W/"abc", "x"', '"abc"') and etag_matches("*", '"abc"')
    assert not etag_matches('"abd"', '"abc"') and not etag_matches(None, '"abc"')
    assert client_no_cache({"headers": [(b"cache-control", b"max-age=0, No-Cache")]})
    assert client_no_cache({"headers": [(b"pragma", b"no-cache")]})
    assert not client_no_cache({"headers": [(b"cache-control", b"no-cache-please")]})
    scope = {"headers": [(b"accept-encoding", b"gzip"), (b"range", b"0-1"), (b"x-a", b"1")]}
    assert render_headers(scope, storing=True) == [(b"x-a", b"1")]
    assert render_headers(scope, storing=False) == scope["headers"]
