"""ASGI entry point for the cross-process stampede test: the stand-in behind the cache,
configured only by TITILER_EOPF_CACHE_* environment variables (the names existing
deployments use). ``uvicorn tests.support.standin_server:app`` from the repository root."""

from tests.support.standin import create_app
from titiler_eopf.cache import CacheMiddleware, build_cache

app = CacheMiddleware(app_factory=create_app, cache=build_cache())
