"""``/readyz``'s part about the store: does it answer?

A local store must be a directory; an ``s3://`` store must answer a listing of its root (one
delimiter listing, no object read); an ``http(s)://`` store has no listing, so any HTTP answer
below 500 to its root counts (a 403 or 404 there still says the server is up).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

from titiler_eopf.tiler.errors import native_panics
from titiler_eopf.tiler.settings import TilerSettings


def store_readiness(settings: TilerSettings) -> dict:
    url = settings.store_url
    parsed = urlparse(url)
    started = time.monotonic()
    with native_panics():
        if "://" not in url or parsed.scheme == "file":
            ready = Path(parsed.path if parsed.scheme else url).is_dir()
        elif parsed.scheme == "s3":
            import obstore

            from titiler_eopf.tiler.store import _s3_store

            store = _s3_store(settings, parsed.netloc, parsed.path.strip("/"))
            obstore.list_with_delimiter(store, None)
            ready = True
        else:
            import httpx2

            timeout = httpx2.Timeout(settings.store_read_timeout)
            ready = httpx2.head(url, timeout=timeout).status_code < 500
    return {
        "ready": ready,
        "scheme": parsed.scheme or "file",
        "seconds": round(time.monotonic() - started, 3),
    }
