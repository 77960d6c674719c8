"""``TileCache``: the facade the middleware, the admin routes and the admin
Lambda share (settings, backend, metrics, key building)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

from .backends import BROKEN, Backend, Lookup, make_backend
from .backends.base import NEEDS_THREAD
from .clock import SYSTEM_CLOCK, Clock
from .keys import CacheKey, build_key
from .metrics import CacheMetrics
from .routes import RouteMatch, match_path
from .settings import CacheSettings, load_settings

log = logging.getLogger("titiler_eopf.cache")


# ``source_version(collection, item, fresh=False) -> str``: the version of the
# product's root metadata, remembered for a few seconds (``fresh`` asks the
# store again). Provided by the tiler room (``titiler_eopf.tiler.versions``).
SourceVersion = Callable[..., str]


def unversioned(collection: str, item: str, fresh: bool = False) -> str:
    return ""


# ``chunk_stats() -> dict | None``: counters of a cache the renderer keeps (the tiler's
# decoded chunks), shown under ``chunks`` in the status. The app passes the tiler's
# (``titiler_eopf.tiler.chunkcache.stats``): the cache never imports the tiler.
ChunkStats = Callable[[], dict | None]


def no_chunk_stats() -> dict | None:
    return None


class TileCache:
    def __init__(
        self,
        settings: CacheSettings,
        backend: Backend | None = None,
        source_version: SourceVersion | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        chunk_stats: ChunkStats | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.backend = backend if backend is not None else make_backend(settings, clock)
        self.metrics = CacheMetrics()
        self.excluded = frozenset(settings.excluded_params)
        self.started = time.time()
        self.source_version = source_version or unversioned
        self.chunk_stats = chunk_stats or no_chunk_stats
        # The configured public base URL (``TITILER_EOPF_PUBLIC_URL``), for
        # ``key_for_url`` given a relative URL of a kind keyed by base URL.
        self.public_url = ""
        # The admin token (bypass header); the app passes its own when the
        # cache settings were built without one (one token for both).
        self.admin_token = settings.admin_token

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

    # --- raw blobs -----------------------------------------------------------
    def get_blob(self, key: str) -> bytes | None:
        """Bytes by key for the tiler's shared product metadata (blocking; fail-open: the
        cache tier down means the tiler reads the store)."""
        if self.backend is None:
            return None
        try:
            return self.backend.get_blob(key)
        except Exception as exc:  # noqa: BLE001 - never fails the request that opens a product
            self._blob_failed("cache blob read failed; reading the store", key, exc)
            return None

    def put_blob(self, key: str, value: bytes) -> None:
        if self.backend is None:
            return
        try:
            self.backend.put_blob(
                key, value, self.settings.metadata_ttl or self.settings.default_ttl
            )
        except Exception as exc:  # noqa: BLE001 - sharing is an optimisation
            self._blob_failed("cache blob write failed; not shared", key, exc)

    def _blob_failed(self, msg: str, key: str, exc: Exception) -> None:
        self.metrics.incr("blob_errors")
        log.warning(msg, extra={"key": key, "backend": self.backend.name, "error": repr(exc)})

    # --- keys ----------------------------------------------------------------
    def key_for(self, match: RouteMatch, query_string: bytes | str, base_url: str = "") -> CacheKey:
        return build_key(self.settings.namespace, match, query_string, self.excluded, base_url)

    def key_for_url(self, url: str) -> CacheKey | None:
        """The key of a request URL: a path relative to the app root, or an
        absolute URL (whose base is used for kinds keyed by the base URL)."""
        parts = urlsplit(url)
        match = match_path(parts.path)
        if match is None:
            return None
        base = (
            f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else self.public_url
        )
        return self.key_for(match, parts.query, base)

    def key_and_lookup(
        self, match: RouteMatch, query_string: bytes, want_body: bool, base_url: str = ""
    ) -> tuple[CacheKey, Lookup | None]:
        """Key, lookup and validity in one worker-thread hop.

        The entry counts only if it was written under the scope's current
        generations and the product's current source version. When its source
        version differs from the one this process remembers, another process
        may have seen the product change first: ask the store again (once)
        before calling it a miss.
        """
        key = self.key_for(match, query_string, base_url)
        found, gens = self.backend.lookup(key, want_body)
        source = self.source_version(match.collection, match.item)
        if self._version_moved(found, gens, source):
            source = self.source_version(match.collection, match.item, fresh=True)
        return self._validated(key, found, gens, source)

    async def lookup(
        self, match: RouteMatch, query_string: bytes, want_body: bool, base_url: str = ""
    ) -> tuple[CacheKey, Lookup | None]:
        """``key_and_lookup`` for the middleware: on the event loop when the backend
        has an asyncio path and the product's version is known without asking the
        store (a HIT without a worker-thread hop), else in a worker thread."""
        source = self._known_version(match) if self.backend.async_lookup else None
        if source is not None:
            key = self.key_for(match, query_string, base_url)
            got = await self.backend.lookup_async(key, want_body)
            if got is not NEEDS_THREAD:
                found, gens = got
                if not self._version_moved(found, gens, source):
                    return self._validated(key, found, gens, source)
        return await self.run(self.key_and_lookup, match, query_string, want_body, base_url)

    def _known_version(self, match: RouteMatch) -> str | None:
        """The product's source version if known without a store request, else None."""
        if self.source_version is unversioned:
            return ""
        known = getattr(self.source_version, "known", None)
        return known(match.collection, match.item) if known is not None else None

    @staticmethod
    def _version_moved(found: Lookup | None, gens, source: str) -> bool:
        """An otherwise valid entry written under another source version: ask the store."""
        return (
            found is not None
            and found.meta is not BROKEN
            and found.meta.src != source
            and found.meta.gens == f"{gens[0]}/{gens[1]}"  # else outdated anyway
        )

    def _validated(self, key: CacheKey, found: Lookup | None, gens, source: str):
        key = replace(key, generations=gens, source=source)
        if (
            found is not None
            and found.meta is not BROKEN
            and not found.meta.written_under(gens, source)
        ):
            self.metrics.incr("outdated")
            found = None
        return key, found

    def release_later(self, key_id: str, token: str, delays=(0.1, 0.5, 1.5)) -> None:
        """Retry a stampede-lock release that failed (compare-and-delete: it
        never removes another worker's lock). Without this the lock would stay
        until its TTL and make every waiter of that URL wait for it."""
        import threading

        def attempt(i: int) -> None:
            try:
                self.backend.unlock(key_id, token)
            except Exception:  # noqa: BLE001 - Redis still down: try again, then leave it to the TTL
                if i + 1 < len(delays):
                    schedule(i + 1)

        def schedule(i: int) -> None:
            timer = threading.Timer(delays[i], attempt, args=(i,))
            timer.daemon = True
            timer.start()

        schedule(0)

    # --- policy --------------------------------------------------------------
    def now(self) -> float:
        """Epoch seconds, as entries record them."""
        return self.clock.wall()

    def is_admin_bypass(self, value: str | None) -> bool:
        token = self.admin_token
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
            "chunks": self.chunk_stats(),
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


def build_cache(
    settings: CacheSettings | None = None,
    *,
    backend: Backend | None = None,
    source_version: SourceVersion | None = None,
    clock: Clock = SYSTEM_CLOCK,
    chunk_stats: ChunkStats | None = None,
) -> TileCache:
    """Build the cache from settings (``CacheSettings()`` reads the environment).
    Clients are created lazily at first use and reused; every backend client and its
    circuit breaker read the time from ``clock``."""
    return TileCache(
        settings if settings is not None else load_settings(),
        backend,
        source_version,
        clock=clock,
        chunk_stats=chunk_stats,
    )
