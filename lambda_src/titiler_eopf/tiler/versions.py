"""Source versions: has a product been rewritten in place?

The version of an item is a token built from its root metadata (see
``store.root_version``). It is remembered per process for
``source_revalidate_seconds``, so a cache HIT costs no store request inside
that window, and a product rewritten under the same id is noticed within it:
the tile cache folds the version into every entry's validity, and the
catalog reopens a product whose version moved.

The window is read from ``clock`` (a ``() -> seconds`` callable, ``time.monotonic`` by
default): the app passes its own, so a test moves past the window instead of sleeping.

Light module (no numpy, zarr or rasterio): the cache's HIT path uses it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cachetools import LRUCache

from titiler_eopf.paths import ID_PATTERN
from titiler_eopf.tiler.settings import TilerSettings
from titiler_eopf.tiler.store import locate, root_version

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"  # the store could not be asked (yet)


class SourceVersions:
    """``versions(collection, item, fresh=False) -> str``, thread-safe and bounded."""

    def __init__(
        self,
        settings: TilerSettings,
        maxsize: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.interval = settings.source_revalidate_seconds
        self.clock = clock
        self._memo: LRUCache = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self.checks = 0  # store requests made (for tests and metrics)

    def __call__(self, collection: str, item: str, fresh: bool = False) -> str:
        if not (ID_PATTERN.match(collection) and ID_PATTERN.match(item)):
            return "absent"
        key = (collection, item)
        now = self.clock()
        with self._lock:
            known = self._memo.get(key)
        if known is not None and not fresh and now - known[1] < self.interval:
            return known[0]
        try:
            self.checks += 1
            version = root_version(self.settings, locate(self.settings, collection, item))
        except BaseException as exc:  # noqa: BLE001 - obstore errors can be pyo3 panics
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            # The store is failing: keep what we knew (the tiler will report the
            # failure if it needs the product) and ask again after the interval.
            logger.warning("source version of %s/%s unavailable: %r", collection, item, exc)
            version = known[0] if known is not None else UNKNOWN
        with self._lock:
            self._memo[key] = (version, now)
        return version

    def known(self, collection: str, item: str) -> str | None:
        """The remembered version while it is fresh, without asking the store (None
        otherwise): the cache's asyncio HIT path reads it on the event loop."""
        if not (ID_PATTERN.match(collection) and ID_PATTERN.match(item)):
            return "absent"
        with self._lock:
            known = self._memo.get((collection, item))
        if known is not None and self.clock() - known[1] < self.interval:
            return known[0]
        return None

    def forget(self, collection: str, item: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._memo if k[0] == collection and item in (None, k[1])]:
                del self._memo[key]
