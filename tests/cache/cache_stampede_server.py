"""ASGI entry point for the cross-process stampede test: the stand-in behind
the cache, configured only by TITILER_EOPF_CACHE_* environment variables
(the names existing deployments use)."""

import cache_standin

from titiler_eopf.cache import CacheMiddleware, build_cache

app = CacheMiddleware(app_factory=cache_standin.create_app, cache=build_cache())
