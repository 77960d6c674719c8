"""``TileCache``: the facade the middleware, the admin routes and the admin
Lambda share (settings, backend, metrics, key building)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from urllib.parse import urlsplit

from .backends import Backend, Lookup, make_backend
from .keys import CacheKey, build_key
from .metrics import CacheMetrics
from .routes import RouteMatch, match_path
from .settings import CacheSettings, load_settings

log = logging.getLogger("titiler_eopf.cache")


class TileCache:
    def __init__(self, settings: CacheSettings, backend: Backend | None = None):
        self.settings = settings
        self.backend = backend if backend is not None else make_backend(settings)
        self.metrics = CacheMetrics()
        self.excluded = frozenset(settings.excluded_params)
        self.started = time.time()

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    async def run(self, fn, *args, **kwargs):
        """Run a backend call; blocking clients go to a worker thread so the
        event loop never waits on the network."""
        if not getattr(self.backend, "blocking", True):
            return fn(*args, **kwargs)
        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    # --- keys ----------------------------------------------------------------
    def key_for(self, match: RouteMatch, query_string: bytes | str) -> CacheKey:
        gens = self.backend.generations(match.collection, match.item)
        return build_key(self.settings.namespace, match, query_string, self.excluded, gens)

    def key_for_url(self, url: str) -> CacheKey | None:
        """The current key of a request URL (path relative to the app root)."""
        parts = urlsplit(url)
        match = match_path(parts.path)
        return None if match is None else self.key_for(match, parts.query)

    def key_and_lookup(self, match: RouteMatch, query_string: bytes, want_body: bool) -> tuple[CacheKey, Lookup | None]:
        """Generations + lookup in one worker-thread hop."""
        key = self.key_for(match, query_string)
        return key, self.backend.lookup(key, want_body)

    # --- policy --------------------------------------------------------------
    def ttl(self, kind: str, status: int) -> int | None:
        """Freshness lifetime for a response, or None when it must not be stored."""
        if status == 200:
            return self.settings.ttl_for(kind)
        if kind == "tile" and status in (204, 404) and self.settings.empty_ttl > 0:
            return self.settings.empty_ttl
        return None

    def is_admin_bypass(self, value: str | None) -> bool:
        token = self.settings.admin_token
        if not value or token is None:
            return False
        return hmac.compare_digest(value.encode(), token.get_secret_value().encode())

    @staticmethod
    def digest(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    # --- status --------------------------------------------------------------
    def public_status(self) -> dict:
        out = {
            "enabled": self.enabled,
            **self.settings.public_summary(),
            "metrics": self.metrics.snapshot(),
            "chunks": chunk_cache_stats(),
        }
        if self.enabled:
            out["circuits"] = {b.name: b.state for b in self.backend.breakers()}
        return out

    def admin_status(self) -> dict:
        out = self.public_status()
        if self.enabled:
            out["backend_status"] = self.backend.status()
        out["uptime_s"] = int(time.time() - self.started)
        return out


def chunk_cache_stats() -> dict | None:
    """The tiler's decoded-chunk cache counters (None until the tiler has read pixels)."""
    from titiler_eopf.tiler import chunkcache  # light module: no numpy, zarr or rasterio

    return chunkcache.stats()


def build_cache(settings: CacheSettings | None = None, *, backend: Backend | None = None) -> TileCache:
    """Build the cache from settings (``CacheSettings()`` reads the environment).
    Clients are created lazily at first use and reused."""
    return TileCache(settings if settings is not None else load_settings(), backend)
