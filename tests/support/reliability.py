"""Requests and cache settings the reliability suite's modules share."""

from __future__ import annotations

import morecantile

from eopf_sample import BOUNDS_LONLAT, COLLECTION_NATIVE, ITEM_ID
from tests.support.cache import make_settings

B04 = [("variables", "/measurements/reflectance:b04"), ("rescale", "0,1")]
RGB = [("variables", f"/measurements/reflectance:{b}") for b in ("b04", "b03", "b02")] + [
    ("rescale", "0,1")
]


def item(collection=COLLECTION_NATIVE, item_id=ITEM_ID) -> str:
    return f"/collections/{collection}/items/{item_id}"


def centre_tile(z=12):
    minx, miny, maxx, maxy = BOUNDS_LONLAT
    return morecantile.tms.get("WebMercatorQuad").tile((minx + maxx) / 2, (miny + maxy) / 2, z)


def tile_path(collection=COLLECTION_NATIVE, z=12, fmt="png") -> str:
    t = centre_tile(z)
    return f"{item(collection)}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.{fmt}"


def cache_settings(backend: str, *, redis_port=None, s3_url=None, bucket=None, **overrides):
    """The cache tests' settings helper, in the suite's own namespace."""
    return make_settings(
        backend,
        redis_port=redis_port,
        s3_endpoint=s3_url,
        bucket=bucket,
        **{"namespace": "rel", **overrides},
    )
