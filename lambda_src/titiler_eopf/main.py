"""The application as deployed: origin check -> hosts -> public URL -> CORS -> request guard ->
compression -> cache -> response size gate -> tiler.

The cache sits inside the compression middleware: it stores identity bytes and
compression is applied per client after it (a gzip body is never cached and
never served to a client that did not ask for it). The tiler (rasterio, xarray,
zarr, titiler) is imported and built lazily, on the first request the cache
cannot answer, so a cold Lambda answers a cache HIT without importing it.

The tiler and the cache share one ``SourceVersions`` (a product rewritten in
place is noticed by both within ``source_revalidate_seconds``). In front of
everything, ``PublicURLMiddleware`` pins the base URL of every response to
``TITILER_EOPF_PUBLIC_URL`` when it is set, so no Host header can steer the
URLs a cached TileJSON embeds. Behind a CDN (``TITILER_EOPF_ORIGIN_VERIFY_SECRET_ARN``) the
origin check refuses, before anything else, every request that did not come through it. The
size gate sits between the cache and the tiler: a body Lambda could not return is a 422,
which the cache never stores.
"""

from __future__ import annotations

from titiler_eopf.cache import CacheMiddleware, CacheSettings, TileCache, build_cache
from titiler_eopf.cache.clock import SYSTEM_CLOCK, Clock
from titiler_eopf.cache.core import no_chunk_stats, unversioned
from titiler_eopf.settings import Settings, SettingsError, load_settings
from titiler_eopf.tiler.limits import RequestGuard, ResponseSizeGate
from titiler_eopf.tiler.settings import TilerSettings

__all__ = ["Settings", "SettingsError", "create_app", "load_settings"]

# Images are already compressed; compressing them again costs CPU for nothing.
INCOMPRESSIBLE = {
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/webp",
    "image/jp2",
}


def create_app(
    settings: Settings | TilerSettings | None = None,
    cache_settings: CacheSettings | None = None,
    *,
    cache: TileCache | None = None,
    clock: Clock | None = None,
):
    """The full ASGI app.

    ``settings`` is the whole :class:`Settings` (entry points: ``load_settings()``) or, as
    tests pass it, the tiler section alone with ``cache_settings`` or a built ``cache``.
    Nothing given is read from the environment. The admin routes are mounted when the
    cache's settings carry an admin token (``TITILER_EOPF_ADMIN_TOKEN``), and get it here.
    ``clock`` is where every time window of the app is read (the cache's breakers, entry
    ages and locks, the source-version window, the origin secret's refresh); by default the
    given ``cache``'s clock, else the system's. Tests pass a ``ManualClock`` and move it past
    a window instead of sleeping through it.
    """
    from titiler_eopf.tiler import chunkcache  # light: no numpy, zarr or rasterio
    from titiler_eopf.tiler.versions import SourceVersions

    if isinstance(settings, Settings):
        settings, cache_settings = settings.tiler, cache_settings or settings.cache
    settings = settings or TilerSettings()
    if clock is None:
        clock = cache.clock if cache is not None else SYSTEM_CLOCK
    versions = SourceVersions(settings, clock=clock.monotonic)
    if cache is None:
        cache = build_cache(
            cache_settings or CacheSettings(),
            source_version=versions,
            chunk_stats=chunkcache.stats,
            clock=clock,
        )
    else:
        if cache.source_version is unversioned:
            cache.source_version = versions
        if cache.chunk_stats is no_chunk_stats:
            cache.chunk_stats = chunkcache.stats
    cache.public_url = settings.public_url or ""
    admin_token = cache.settings.admin_token

    def build_tiler():
        from titiler_eopf.admin.routes import build_admin_router, build_status_router
        from titiler_eopf.admin.service import AdminService
        from titiler_eopf.tiler.app import create_tiler_app

        def cache_readiness() -> dict:
            # a cache that is down is bypassed (tiles are still served): state, not a veto
            return {
                "ready": True,
                "enabled": cache.enabled,
                "circuits": {b.name: b.state for b in cache.backend.breakers()}
                if cache.enabled
                else {},
            }

        app = create_tiler_app(
            settings,
            versions=versions,
            readiness={"cache": cache_readiness},
            metadata_store=CacheBlobs(cache),
        )
        app.include_router(build_status_router(cache))
        if admin_token is not None:
            service = AdminService(cache)
            app.include_router(build_admin_router(service, admin_token.get_secret_value()))
        return ResponseSizeGate(app, settings.max_response_bytes)

    cache_layer = app = CacheMiddleware(app_factory=build_tiler, cache=cache)
    app = _compression(app)
    # URL/body sizes and encodings checked before the cache keys or stores anything.
    app = RequestGuard(app, settings)
    app = _cors(app, settings.cors_origins)
    if settings.public_url:
        app = PublicURLMiddleware(app, settings.public_url)
    if settings.allowed_hosts != ["*"]:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app = TrustedHostMiddleware(app, allowed_hosts=settings.allowed_hosts)
    origin_secret = None
    if settings.origin_verify_secret_arn:
        from titiler_eopf.origin import OriginVerifyMiddleware, secret_from_settings

        origin_secret = secret_from_settings(
            settings.origin_verify_secret_arn,
            settings.origin_verify_refresh_seconds,
            clock=clock.monotonic,
        )
        app = OriginVerifyMiddleware(app, origin_secret)
    app.cache = cache  # for handlers and tests: the cache behind this app
    app.versions = versions
    app.origin_secret = origin_secret  # None without a CDN
    # Builds the tiler now instead of on the first request the cache cannot answer: a
    # SnapStart init calls it, so that the imports it costs are in the snapshot.
    app.prime = lambda: cache_layer.app
    return app


class CacheBlobs:
    """The tiler's ``metadata_cache.BlobStore`` over the cache tier (products' metadata shared
    across containers): the tiler never imports the cache."""

    def __init__(self, cache: TileCache):
        self.cache = cache
        # Chunk headers (one small blob per chunk, asked for before the store) are shared
        # only where a blob costs less than the store's own range read: Redis (sub-ms) or
        # this process's memory; an S3-only tier would add a round trip as slow as the store.
        backend = getattr(cache.backend, "name", None)
        self.chunk_headers = backend in ("memory", "redis", "s3_redis")

    def get(self, key: str) -> bytes | None:
        return self.cache.get_blob(key)

    def put(self, key: str, value: bytes) -> None:
        self.cache.put_blob(key, value)


class PublicURLMiddleware:
    """Rewrites scheme, host and root path of every request to the configured
    public URL (pure ASGI). The route the app sees does not change: only the
    base that ``request.base_url`` / ``url_for`` build absolute URLs from."""

    def __init__(self, app, public_url: str):
        from urllib.parse import urlsplit

        self.app = app
        parts = urlsplit(public_url)
        self.scheme = parts.scheme
        self.host = parts.netloc.encode("latin-1")
        self.root = parts.path.rstrip("/")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.server = (parts.hostname or "", port)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        old_root = scope.get("root_path", "") or ""
        path = scope.get("path", "")
        if old_root and path.startswith(old_root):
            path = path[len(old_root) :]
        headers = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"host"]
        headers.append((b"host", self.host))
        scope = {
            **scope,
            "scheme": self.scheme,
            "server": self.server,
            "root_path": self.root,
            "path": self.root + path,
            "headers": headers,
        }
        if "raw_path" in scope and scope["raw_path"] is not None:
            raw = scope["raw_path"]
            old = old_root.encode("latin-1")
            scope["raw_path"] = self.root.encode("latin-1") + (
                raw[len(old) :] if old and raw.startswith(old) else raw
            )
        await self.app(scope, receive, send)


def _compression(app):
    from starlette_cramjam.middleware import CompressionMiddleware

    return CompressionMiddleware(app, minimum_size=1024, exclude_mediatype=INCOMPRESSIBLE)


def _cors(app, origins):
    from starlette.middleware.cors import CORSMiddleware

    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["X-Cache", "ETag", "Age", "Content-Bbox", "Content-Crs"],
    )
