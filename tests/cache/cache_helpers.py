"""App builders shared by the cache tests."""

from __future__ import annotations

import cache_standin as standin
from starlette.testclient import TestClient

from titiler_eopf.cache import CacheMiddleware
from titiler_eopf.main import _compression  # the deployed compression (starlette-cramjam)

RGB = (
    "variables=/measurements/reflectance:b04&variables=/measurements/reflectance:b03"
    "&variables=/measurements/reflectance:b02&rescale=0,1"
    "&color_formula=gamma rgb 1.3, sigmoidal rgb 6 0.1, saturation 1.2"
)
ITEM = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
BASE = f"/collections/sentinel-2-l2a/items/{ITEM}"


def tile_url(z=12, x=2138, y=1505, ext=".png", query=RGB, base=BASE):
    return f"{base}/tiles/WebMercatorQuad/{z}/{x}/{y}{ext}" + (f"?{query}" if query else "")


def cached_app(cache, *, compress_outer=True, compress_inner=False):
    """``Compression -> CacheMiddleware -> stand-in``: the production order and compression."""
    app = CacheMiddleware(standin.create_app(compress=compress_inner), cache=cache)
    return _compression(app) if compress_outer else app


def client_for(cache, **kwargs) -> TestClient:
    return TestClient(cached_app(cache, **kwargs))
