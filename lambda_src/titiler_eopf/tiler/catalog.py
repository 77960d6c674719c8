"""Opened products, reused across requests (bounded LRU, in-process only).

Opened datasets hold live store clients and lazy arrays: they stay in this
process and are never pickled into a shared store. A product rewritten in
place is reopened: each opened product remembers its source version, checked
(at most every ``source_revalidate_seconds``) when it is reused.
"""

from __future__ import annotations

import logging
import threading

from cachetools import LRUCache

from titiler_eopf.tiler import chunkcache
from titiler_eopf.tiler.budget import ReadLimits
from titiler_eopf.tiler.errors import EOPFError, ItemNotFoundError, StoreError, StoreTimeoutError
from titiler_eopf.tiler.product import Product
from titiler_eopf.tiler.settings import TilerSettings
from titiler_eopf.tiler.store import ItemLocation, configure_zarr, locate, open_zarr_store
from titiler_eopf.tiler.versions import SourceVersions

logger = logging.getLogger(__name__)


class Catalog:
    """``open(collection, item)`` -> Product, cached."""

    def __init__(self, settings: TilerSettings, versions: SourceVersions | None = None):
        self.settings = settings
        self.versions = versions or SourceVersions(settings)
        self._cache: LRUCache = LRUCache(maxsize=max(settings.dataset_cache_size, 1))
        self._enabled = settings.dataset_cache_size > 0
        self._lock = threading.Lock()
        configure_zarr(settings)

    def open(
        self, collection_id: str, item_id: str, location: ItemLocation | None = None
    ) -> Product:
        """``location``: where the product is when not at the store's convention (a STAC
        asset href, see ``mosaic.item_location``)."""
        key = (collection_id, item_id)
        version = self.versions(collection_id, item_id)
        if self._enabled:
            with self._lock:
                product = self._cache.get(key)
            if product is not None and product.source_version == version:
                return product
            if product is not None:
                logger.info(
                    "%s/%s changed in the store (%s -> %s): reopening",
                    collection_id,
                    item_id,
                    product.source_version,
                    version,
                )
        product = self._open(location or locate(self.settings, collection_id, item_id), version)
        if self._enabled:
            with self._lock:
                self._cache[key] = product
        return product

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _open(self, location: ItemLocation, version: str) -> Product:
        import zarr

        store = open_zarr_store(self.settings, location)
        settings = self.settings
        try:
            return Product(
                location,
                store,
                zarr.open_group(store=store, mode="r"),
                source_version=version,
                read_limits=ReadLimits.from_settings(settings),
                chunk_cache=chunkcache.process_cache(settings.chunk_cache_bytes)
                if settings.chunk_cache_bytes
                else None,
            )
        except EOPFError:
            raise
        except (FileNotFoundError, KeyError) as exc:
            logger.info("item %s not found at %s", location.label, location.url)
            raise _not_found(location) from exc
        except BaseException as exc:  # noqa: BLE001 - obstore panics are BaseExceptions
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise translate_store_error(exc, location) from exc


def _not_found(location: ItemLocation) -> ItemNotFoundError:
    # The store's path or URL stays in the log: clients see ids only.
    return ItemNotFoundError(
        f"Item '{location.item_id}' not found in collection '{location.collection_id}'"
    )


def translate_store_error(exc: BaseException, location: ItemLocation) -> StoreError:
    """Turn what zarr/obstore raise into an error that names the item (not the store).

    The client's message names the item and the kind of failure; the store's path or URL and
    the library's own message (which quotes them) are logged.
    """
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if "NotFound" in name:  # zarr GroupNotFoundError, obstore NotFoundError
        logger.info("item %s not found at %s: %s", location.label, location.url, text)
        return _not_found(location)
    # Only a real timeout is a 504 (obstore messages mention "retry_timeout" on any error).
    if "timed out" in text.lower() or isinstance(exc, TimeoutError) or "Timeout" in name:
        error: StoreError = StoreTimeoutError(
            f"Timed out reading {location.label} from the product store"
        )
    else:
        error = StoreError(f"Cannot read {location.label} from the product store ({name})")
    logger.error("store error for %s (%s): %s: %s", location.label, location.url, name, text)
    return error
