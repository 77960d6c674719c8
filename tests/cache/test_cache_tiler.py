"""The real tiler behind the cache, on the sample products, in the production order
(compression outside the cache, as ``main.py`` builds it)."""

from __future__ import annotations

import morecantile
import pytest
from fastapi.testclient import TestClient
from starlette_cramjam.middleware import CompressionMiddleware

import eopf_sample
from titiler_eopf.cache import CacheMiddleware
from titiler_eopf.main import INCOMPRESSIBLE
from titiler_eopf.tiler import app as app_module
from titiler_eopf.tiler.settings import TilerSettings

RGB = [("variables", f"/measurements/reflectance:{b}") for b in ("b04", "b03", "b02")] + [
    ("rescale", "0,1")
]
ONE = [("variables", "/measurements/reflectance:b04"), ("rescale", "0,1")]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(params=["memory", "s3_redis"])
def client(request, sample_store, cache_for):
    settings = TilerSettings(store_url=str(sample_store))
    built = []

    def factory():
        built.append(1)
        return app_module.create_tiler_app(settings)

    cache = cache_for(request.param)
    app = CompressionMiddleware(
        CacheMiddleware(app_factory=factory, cache=cache),
        minimum_size=1024,
        exclude_mediatype=INCOMPRESSIBLE,
    )
    with TestClient(app) as c:
        c.built = built
        c.cache = cache
        yield c


def base(collection=eopf_sample.COLLECTION_NATIVE):
    return f"/collections/{collection}/items/{eopf_sample.ITEM_ID}"


def centre_tile(z=13):
    minx, miny, maxx, maxy = eopf_sample.BOUNDS_LONLAT
    return morecantile.tms.get("WebMercatorQuad").tile((minx + maxx) / 2, (miny + maxy) / 2, z)


def test_real_tiles_miss_then_hit(client):
    t = centre_tile()
    url = f"{base()}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
    first, second = client.get(url, params=RGB), client.get(url, params=RGB)
    assert first.status_code == 200 and first.content.startswith(PNG)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.content == second.content and second.headers["content-type"] == "image/png"
    single = client.get(url, params=ONE)
    assert single.headers["x-cache"] == "MISS" and single.content != first.content
    jpg = client.get(url.replace(".png", ".jpg"), params=RGB)
    assert jpg.headers["x-cache"] == "MISS" and jpg.headers["content-type"].startswith("image/jp")


def test_real_metadata_routes_are_cached(client):
    minx, miny, maxx, maxy = eopf_sample.BOUNDS_LONLAT
    lon, lat, d = (minx + maxx) / 2, (miny + maxy) / 2, 0.01
    for path, params in [
        (f"{base()}/WebMercatorQuad/tilejson.json", RGB),
        (f"{base()}/info", []),
        (f"{base()}/preview.png", RGB + [("max_size", "128")]),
        (f"{base()}/bbox/{lon - d},{lat - d},{lon + d},{lat + d}/64x64.png", RGB),
    ]:
        first, second = client.get(path, params=params), client.get(path, params=params)
        assert first.status_code == 200, (path, first.text)
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT"), path
        assert first.content == second.content


def test_real_errors_are_not_cached_and_outside_tiles_briefly(client):
    bad = client.get(f"{base()}/info", params=[("variables", "/nope:b99")])
    again = client.get(f"{base()}/info", params=[("variables", "/nope:b99")])
    assert bad.status_code >= 400 and again.headers["x-cache"] == "MISS"
    url = f"{base()}/tiles/WebMercatorQuad/13/0/0.png"  # far outside the product
    first, second = client.get(url, params=RGB), client.get(url, params=RGB)
    assert first.status_code == second.status_code
    if first.status_code in (204, 404):
        assert second.headers["x-cache"] == "HIT"


def test_hit_does_not_build_the_tiler(client, sample_store):
    t = centre_tile(12)
    url = f"{base()}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
    assert client.get(url, params=RGB).headers["x-cache"] == "MISS"
    # a second middleware (a new Lambda container) sharing the same cache
    if client.cache.settings.backend == "memory":
        pytest.skip("memory cache is per process")
    fresh = CacheMiddleware(
        app_factory=lambda: pytest.fail("tiler built on a HIT"), cache=client.cache
    )
    resp = TestClient(fresh).get(url, params=RGB)
    assert resp.headers["x-cache"] == "HIT" and resp.content.startswith(PNG)
