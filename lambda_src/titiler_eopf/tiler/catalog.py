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

from titiler_eopf.tiler import chunkcache, metadata_cache, shared_headers
from titiler_eopf.tiler.budget import ReadLimits
from titiler_eopf.tiler.errors import InternalError, not_found, reading
from titiler_eopf.tiler.product import Product
from titiler_eopf.tiler.settings import TilerSettings
from titiler_eopf.tiler.store import ItemLocation, configure_zarr, locate, open_zarr_store
from titiler_eopf.tiler.versions import SourceVersions

logger = logging.getLogger(__name__)


class Catalog:
    """``open(collection, item)`` -> Product, cached."""

    def __init__(
        self,
        settings: TilerSettings,
        versions: SourceVersions | None = None,
        metadata_store: metadata_cache.BlobStore | None = None,
    ):
        self.settings = settings
        # product metadata shared across containers (the cache tier), see metadata_cache
        self.metadata_store = metadata_store
        self.versions = versions or SourceVersions(settings)
        self._cache: LRUCache = LRUCache(maxsize=max(settings.dataset_cache_size, 1))
        self._enabled = settings.dataset_cache_size > 0
        self._lock = threading.Lock()
        configure_zarr(settings)

    def open(
        self, collection_id: str, item_id: str, location: ItemLocation | None = None
    ) -> Product:
        """``location``: where the product is when not at the store's convention (a STAC
        asset href, see ``mosaic_backend.item_location``)."""
        key = (collection_id, item_id)
        version = self.versions(collection_id, item_id)
        if self._enabled:
            with self._lock:
                product = self._cache.get(key)
            if product is not None and product.source_version == version:
                metadata_cache.publish(product.store)  # coordinates read since it opened
                return product
            if product is not None:
                logger.info(
                    "%s/%s changed in the store (%s -> %s): reopening",
                    collection_id,
                    item_id,
                    product.source_version,
                    version,
                )
        location = location or locate(self.settings, collection_id, item_id)
        product = self._open(location, version, (collection_id, item_id))
        metadata_cache.publish(product.store)
        if self._enabled:
            with self._lock:
                self._cache[key] = product
        return product

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _open(self, location: ItemLocation, version: str, ids: tuple[str, str]) -> Product:
        import zarr

        settings = self.settings
        with reading(location):
            store = metadata_cache.wrap_store(
                open_zarr_store(settings, location), self.metadata_store, *ids, version
            )
            try:
                root = zarr.open_group(store=store, mode="r")
            except KeyError as exc:  # metadata that names a node the store lacks
                logger.info("item %s not found at %s", location.label, location.url)
                raise not_found(location) from exc
            except ImportError as exc:  # a codec whose package is missing (cast-value-rs)
                raise InternalError(
                    f"{location.label} uses a codec this server cannot decode: {exc}"
                ) from exc
            return Product(
                location,
                store,
                root,
                source_version=version,
                read_limits=ReadLimits.from_settings(settings),
                chunk_cache=chunkcache.process_cache(settings.chunk_cache_bytes)
                if settings.chunk_cache_bytes
                else None,
                shared_headers=shared_headers.for_product(self.metadata_store, *ids, version),
            )
