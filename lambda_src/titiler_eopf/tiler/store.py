"""Where an item lives: ``{store_url}/{collection}/{item}.zarr``, opened as a zarr store.

Every remote store is built through obstore with explicit timeouts and a small
retry budget, so a slow or dead store turns into an error, never a hang.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from titiler_eopf.tiler.errors import ItemNotFoundError, reading
from titiler_eopf.tiler.settings import TilerSettings

__all__ = ["ItemLocation", "locate", "open_zarr_store", "root_version"]


@dataclass(frozen=True)
class ItemLocation:
    """An item's address in the store, before anything is read."""

    collection_id: str
    item_id: str
    url: str  # for logs and error messages

    @property
    def label(self) -> str:
        return f"{self.collection_id}/{self.item_id}"


def locate(settings: TilerSettings, collection_id: str, item_id: str) -> ItemLocation:
    """Build the item URL from the store root (ids are validated by the route)."""
    root = settings.store_url
    if "://" not in root:
        root = str(Path(root).resolve())
    return ItemLocation(collection_id, item_id, f"{root}/{collection_id}/{item_id}.zarr")


def open_zarr_store(settings: TilerSettings, location: ItemLocation):
    """Return a read-only ``zarr.storage.ObjectStore`` rooted at the item."""
    from zarr.storage import ObjectStore

    return ObjectStore(object_store(settings, location), read_only=True)


# Root metadata of a product: consolidated zarr v2 metadata, or the zarr v3 root.
ROOT_METADATA = (".zmetadata", "zarr.json")


def root_version(settings: TilerSettings, location: ItemLocation) -> str:
    """A token that changes when the product is rewritten: the size and
    modification time (or ETag) of its root metadata, as the store reports
    them. ``"absent"`` when the item has no root metadata."""
    parsed = urlparse(location.url)
    if parsed.scheme in ("", "file"):
        root = Path(parsed.path if parsed.scheme else location.url)
        parts = []
        for name in ROOT_METADATA:
            try:
                st = (root / name).stat()
            except OSError:
                continue
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        return "|".join(parts) or "absent"
    import obstore

    store = object_store(settings, location)
    parts = []
    for name in ROOT_METADATA:
        try:
            meta = obstore.head(store, name)
        except FileNotFoundError:
            continue
        tag = meta.get("e_tag") or meta.get("last_modified")
        parts.append(f"{name}:{meta.get('size')}:{tag}")
    return "|".join(parts) or "absent"


def object_store(settings: TilerSettings, location: ItemLocation):
    """The obstore store rooted at the item (local, S3 or HTTP)."""
    url = location.url
    parsed = urlparse(url)
    with reading(location):  # obstore's configuration errors are pyo3 panics
        if parsed.scheme in ("", "file"):
            return _local_store(location, Path(parsed.path if parsed.scheme else url))
        if parsed.scheme == "s3":
            return _s3_store(settings, parsed.netloc, parsed.path.lstrip("/"))
        return _http_store(settings, url)  # http(s)


def _local_store(location: ItemLocation, path: Path):
    from obstore.store import LocalStore

    if not path.is_dir():
        if not path.parent.is_dir():
            raise ItemNotFoundError(
                f"Collection '{location.collection_id}' not found (looked for {path.parent})"
            )
        raise ItemNotFoundError(
            f"Item '{location.item_id}' not found in collection "
            f"'{location.collection_id}' (looked for {path})"
        )
    return LocalStore(prefix=path)


def _client_options(settings: TilerSettings) -> dict:
    return {
        "connect_timeout": timedelta(seconds=settings.store_connect_timeout),
        "timeout": timedelta(seconds=settings.store_read_timeout),
        "allow_http": settings.store_allow_http,
    }


def _retry_config(settings: TilerSettings) -> dict:
    # A couple of quick retries for transient errors, bounded by the read timeout.
    return {
        "max_retries": 2,
        "retry_timeout": timedelta(seconds=settings.store_read_timeout),
    }


def _s3_store(settings: TilerSettings, bucket: str, prefix: str):
    from obstore.store import S3Store

    config: dict = {"region": settings.store_region}
    if settings.store_endpoint_url:
        config["endpoint"] = settings.store_endpoint_url
    if settings.store_anonymous:
        config["skip_signature"] = True
    return S3Store(
        bucket,
        prefix=prefix,
        config=config,
        client_options=_client_options(settings),
        retry_config=_retry_config(settings),
    )


def _http_store(settings: TilerSettings, url: str):
    from obstore.store import HTTPStore

    return HTTPStore.from_url(
        url,
        client_options=_client_options(settings),
        retry_config=_retry_config(settings),
    )


def configure_zarr(settings: TilerSettings) -> None:
    """zarr's process-wide read options.

    Inner chunks of one shard that a read needs are fetched in one request when the bytes
    between them are fewer than the coalescing gap. zarr's default (1 MiB) reads whole rows
    of a 10 x 10 shard for a window of 4 x 4 inner chunks (2x the bytes the tile needs); a gap
    of about one inner chunk keeps the bytes near the minimum, and the extra requests run
    concurrently.
    """
    import zarr

    zarr.config.set({"array.sharding_coalesce_max_gap_bytes": settings.shard_coalesce_gap_bytes})
