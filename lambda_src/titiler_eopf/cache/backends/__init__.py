"""Backend factory: one interface, chosen by ``TITILER_EOPF_CACHE_BACKEND``.

Imports are lazy so that choosing ``memory`` never imports redis or boto3.
"""

from __future__ import annotations

from ..clock import SYSTEM_CLOCK, Clock
from .base import BROKEN, Backend, EntryMeta, IndexedEntry, Lookup


def make_backend(settings, clock: Clock = SYSTEM_CLOCK) -> Backend | None:
    """The configured backend, or ``None`` when caching is disabled. ``clock`` reaches
    every client's circuit breaker (and the memory backend's expiry)."""
    kind = settings.backend
    if kind in ("none", "disabled"):
        return None
    if kind == "memory":
        from .memory import MemoryBackend

        return MemoryBackend(settings.memory_max_bytes, clock=clock)
    if kind == "redis":
        from .redis import RedisBackend

        return RedisBackend(settings, clock=clock)
    if kind == "s3":
        from .s3 import S3Backend

        return S3Backend(settings, clock=clock)
    if kind == "s3_redis":
        from .s3_redis import S3RedisBackend

        return S3RedisBackend(settings, clock=clock)
    raise ValueError(f"unknown cache backend {kind!r}")


__all__ = ["BROKEN", "Backend", "EntryMeta", "IndexedEntry", "Lookup", "make_backend"]
