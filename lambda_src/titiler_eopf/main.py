"""The application as deployed: CORS -> compression -> cache -> tiler.

The cache sits inside the compression middleware: it stores identity bytes and
compression is applied per client after it (a gzip body is never cached).
The tiler is built lazily, on the first request the cache cannot answer.
"""

from __future__ import annotations

from titiler_eopf.settings import TilerSettings


def load_settings() -> tuple[TilerSettings]:
    """Read every settings object from the environment (entry points only)."""
    return (TilerSettings(),)


def create_app(settings: TilerSettings | None = None):
    """Return the ASGI app for ``settings``."""
    from titiler_eopf.app import create_tiler_app

    settings = settings or TilerSettings()
    return create_tiler_app(settings)
