"""What the store holds, for the landing page: ``{collection: [item, ...]}``.

Items are ``{store}/{collection}/{item}.zarr``. A local directory and an ``s3://``
store are listed (one delimiter listing per level); an ``https://`` store has no
listing API, so the page says so. Listings are bounded (``MAX_COLLECTIONS``,
``MAX_ITEMS`` per collection) and kept for ``LISTING_TTL_S`` in the process: a
landing page view costs at most one listing round per minute.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from titiler_eopf.paths import ID_PATTERN
from titiler_eopf.tiler.errors import native_panics
from titiler_eopf.tiler.settings import TilerSettings

log = logging.getLogger(__name__)

MAX_COLLECTIONS = 50
MAX_ITEMS = 100
LISTING_TTL_S = 60.0
ZARR_SUFFIX = ".zarr"


@dataclass
class Collection:
    id: str
    items: list[str] = field(default_factory=list)
    truncated: bool = False  # more items than MAX_ITEMS


@dataclass
class Listing:
    collections: list[Collection] = field(default_factory=list)
    truncated: bool = False  # more collections than MAX_COLLECTIONS
    note: str | None = None  # why nothing could be listed (https store, error)


def _valid(name: str) -> bool:
    return ID_PATTERN.match(name) is not None


def _items(names, limit: int) -> tuple[list[str], bool]:
    items = sorted(
        n[: -len(ZARR_SUFFIX)]
        for n in names
        if n.endswith(ZARR_SUFFIX) and _valid(n[: -len(ZARR_SUFFIX)])
    )
    return items[:limit], len(items) > limit


def _assemble(collection_names, list_items) -> Listing:
    names = sorted(n for n in collection_names if _valid(n))
    listing = Listing(truncated=len(names) > MAX_COLLECTIONS)
    for name in names[:MAX_COLLECTIONS]:
        items, truncated = _items(list_items(name), MAX_ITEMS)
        if items:
            listing.collections.append(Collection(name, items, truncated))
    return listing


def _list_local(root: Path) -> Listing:
    if not root.is_dir():
        return Listing(note=f"the store directory {root} does not exist")

    def children(path: Path) -> list[str]:
        return [p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]

    return _assemble(children(root), lambda c: children(root / c))


def _list_s3(settings: TilerSettings, bucket: str, prefix: str) -> Listing:
    import obstore

    from titiler_eopf.tiler.store import _s3_store

    store = _s3_store(settings, bucket, prefix.strip("/"))

    def children(path: str | None) -> list[str]:
        result = obstore.list_with_delimiter(store, path)
        return [p.rstrip("/").rsplit("/", 1)[-1] for p in result["common_prefixes"]]

    return _assemble(children(None), lambda c: children(c))


def list_store(settings: TilerSettings) -> Listing:
    url = settings.store_url
    parsed = urlparse(url)
    try:
        with native_panics():
            if "://" not in url or parsed.scheme == "file":
                return _list_local(Path(parsed.path if parsed.scheme else url).resolve())
            if parsed.scheme == "s3":
                return _list_s3(settings, parsed.netloc, parsed.path)
    except Exception as exc:  # noqa: BLE001 - the page says why instead of failing
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("cannot list the store %s: %s", url, text)
        return Listing(note=f"the store could not be listed: {type(exc).__name__}: {text[:300]}")
    return Listing(
        note=f"{parsed.scheme}:// stores cannot be listed: open an item's map by its URL, "
        "/collections/{collection}/items/{item}/map"
    )


class StoreListing:
    """``get()``: the listing, refreshed at most every ``LISTING_TTL_S``."""

    def __init__(self, settings: TilerSettings, ttl: float = LISTING_TTL_S):
        self.settings = settings
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: Listing | None = None
        self._at = 0.0

    def get(self) -> Listing:
        with self._lock:
            if self._value is None or time.monotonic() - self._at > self.ttl:
                self._value = list_store(self.settings)
                self._at = time.monotonic()
            return self._value
