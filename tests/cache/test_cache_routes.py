"""The cache's routes are the tiler's: every cacheable template is a route of the real app,
every variant the app registers is recognised as its kind, and keys stay what they were."""

from __future__ import annotations

import itertools
import re

import pytest
from titiler.core.resources.enums import ImageType

from titiler_eopf.cache import CacheSettings
from titiler_eopf.cache.keys import build_key
from titiler_eopf.cache.routes import KINDS, ROUTES, match_path
from titiler_eopf.main import create_app
from titiler_eopf.paths import IMAGE_FORMATS
from titiler_eopf.tiler.settings import TilerSettings

# A value each path parameter accepts, to turn an app's route path into a request path.
SAMPLE = {
    "collection_id": "sentinel-2-l2a",
    "item_id": "S2A_X",
    "tileMatrixSetId": "WebMercatorQuad",
    "z": "3",
    "x": "4",
    "y": "5",
    "scale": "2",
    "format": "png",
    "width": "64",
    "height": "32",
    "minx": "10.5",
    "miny": "-45",
    "maxx": "11.25",
    "maxy": "46.1",
    "render_id": "vv-vh-descending",
}


@pytest.fixture(scope="module")
def app_paths(sample_store) -> set[str]:
    """The GET route paths of the real app, mosaic routes included (a STAC API URL is
    configured; nothing asks it anything), as its OpenAPI schema lists them (FastAPI keeps
    included routers' routes behind private objects)."""
    settings = TilerSettings(store_url=str(sample_store), stac_api_url="http://127.0.0.1:9/stac")
    app = create_app(settings, CacheSettings(_env_file=None, backend="memory"))
    while not hasattr(app, "openapi"):  # middlewares down to the tiler (built on demand)
        app = app.app
    return {path for path, operations in app.openapi()["paths"].items() if "get" in operations}


def variants(route) -> set[str]:
    """The template with each combination of its optional suffixes left out."""
    suffixes = ("@{scale}x", ".{format}", "/{width}x{height}")  # template_regex's default
    optional = route.optional if route.optional is not None else suffixes
    out = set()
    for n in range(len(optional) + 1):
        for dropped in itertools.combinations(optional, n):
            path = route.template
            if any(suffix not in path for suffix in dropped):
                continue
            for suffix in dropped:
                path = path.replace(suffix, "")
            out.add(path)
    return out


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)


def test_every_cacheable_template_is_a_route_of_the_app(app_paths):
    missing = [route.template for route in ROUTES if route.template not in app_paths]
    assert not missing, f"the tiler no longer serves these cacheable templates: {missing}"
    assert set(KINDS) == {route.kind for route in ROUTES}


def test_every_variant_the_app_serves_is_recognised_as_its_kind(app_paths):
    checked = 0
    for route in ROUTES:
        for path in variants(route) & app_paths:
            match = match_path(fill(path))
            assert match is not None and match.kind == route.kind, (path, match)
            checked += 1
    # tile x4 and mosaic tile x4, tilejson x2, info x3, statistics, preview x3, bbox x2,
    # renders x2
    assert checked >= 21, checked


def test_every_image_format_of_titiler_is_recognised():
    assert {t.name for t in ImageType} <= set(IMAGE_FORMATS)
    for fmt in IMAGE_FORMATS:
        assert match_path(f"/collections/c/items/i/tiles/WebMercatorQuad/1/0/0.{fmt}") is not None


# Digests written by the cache before its patterns were built from the templates (keys of
# deployed caches must not change): path after /collections/sentinel-2-l2a/items/S2A_X.
ITEM = "/collections/sentinel-2-l2a/items/S2A_X"
KEYS = [
    ("/tiles/WebMercatorQuad/03/4/5", "tile", "0cbf23c45077d1de"),
    ("/tiles/WebMercatorQuad/3/4/5@2x.webp", "tile", "83cb94a1fd3fe341"),
    ("/tiles/WebMercatorQuad/3/4/5.png", "tile", "ffbd061a8f5c911f"),
    ("/WebMercatorQuad/tilejson.json", "tilejson", "14a60a8e7aae4476"),
    ("/info", "info", "9ed815936d27a6a9"),
    ("/info.geojson", "info", "587b24cc13d2406b"),
    ("/statistics", "statistics", "8f2e0e7417e0cc45"),
    ("/preview", "preview", "3d2f2f982e951635"),
    ("/preview.jpg", "preview", "a29f878e4fc16018"),
    ("/preview/256x128.png", "preview", "b1e8ef2158ce6a5f"),
    ("/bbox/10.5,-45,11.25,46.1.png", "bbox", "282e6046b42b4f82"),
    ("/bbox/-10,-5.5,1e1,5/0512x512.tif", "bbox", "87cd096eb89c335c"),
    ("/collections/c/tiles/WebMercatorQuad/3/4/5.png", "mosaic_tile", "a845d76048ca0099"),
    ("/collections/c/WebMercatorQuad/tilejson.json", "mosaic_tilejson", "bf02d18ad4010199"),
    ("/collections/c/info", "mosaic_info", "eee27f4151a607ef"),
]


@pytest.mark.parametrize("path,kind,digest", KEYS)
def test_keys_are_those_written_before(path, kind, digest):
    match = match_path(path if path.startswith("/collections/c/") else ITEM + path)
    assert match.kind == kind
    key = build_key("ns", match, b"a=1&b=2", frozenset(), "http://h")
    assert key.digest.startswith(digest)
