"""Tile cache layer for TiTiler-EOPF.

Importing this package is cheap on purpose: no tiler, raster or array library
and no redis/boto3 until a backend is first used, so the Lambda can answer a
cache HIT on a cold start without importing the tiler.

    cache = build_cache(CacheSettings())
    app = CacheMiddleware(app_factory=lambda: create_tiler_app(settings), cache=cache)
"""

from .core import TileCache, build_cache
from .middleware import CacheMiddleware
from .settings import CacheConfigError, CacheSettings, load_settings

__all__ = [
    "CacheConfigError",
    "CacheMiddleware",
    "CacheSettings",
    "TileCache",
    "build_cache",
    "load_settings",
]
