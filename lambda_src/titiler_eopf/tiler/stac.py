"""STAC API searches for collection mosaics: bounded, timed out, cached in-process.

A tile does not search on its own footprint: it searches the footprint of its ancestor
``search_zoom_up`` levels up (a 4 x 4 block of tiles at 2), and keeps the items whose bbox meets
the tile. The result is cached per (collection, ancestor tile, search parameters) for
``search_cache_seconds``, so the neighbouring tiles of one view make one search instead of
sixteen (``SearchCache.hits``/``misses``). A search that was cut by the API's page size is not
reused for its descendants: they search on their own footprint.

GET ``/search`` is used (not POST): stac-fastapi accepts ``filter`` as CQL2 text only there.
A STAC API that does not answer in ``stac_api_timeout`` is a 504, one that fails a 502; both
name the API and what was asked.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import TTLCache

from titiler_eopf.tiler.errors import (
    EOPFError,
    ItemNotFoundError,
    ParameterError,
    StoreError,
    StoreTimeoutError,
)
from titiler_eopf.tiler.store import ItemLocation, locate

logger = logging.getLogger(__name__)


class StacAPIError(StoreError):
    """The STAC API failed (502)."""


class StacAPITimeoutError(StoreTimeoutError):
    """The STAC API did not answer in time (504)."""


@dataclass(frozen=True)
class SearchParams:
    """What a user narrows a mosaic with (besides the footprint)."""

    datetime: str | None = None
    ids: tuple[str, ...] = ()
    filter: str | None = None
    filter_lang: str | None = None  # "cql2-text" | "cql2-json"; None: guessed from filter
    sortby: str | None = None  # "-datetime", "+properties.eo:cloud_cover,-datetime"
    max_items: int = 10

    def query(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.datetime:
            params["datetime"] = self.datetime
        if self.ids:
            params["ids"] = ",".join(self.ids)
        if self.filter:
            params["filter"] = self.filter
            params["filter-lang"] = self.filter_lang or (
                "cql2-json" if self.filter.lstrip().startswith("{") else "cql2-text"
            )
        if self.sortby:
            params["sortby"] = self.sortby
        return params


@dataclass
class Search:
    """Items of one search, in the API's order, and whether the page cut them."""

    items: list[dict]
    truncated: bool = False
    searched_at: float = field(default_factory=time.monotonic)


def intersects(bbox_a, bbox_b) -> bool:
    return not (
        bbox_a[2] < bbox_b[0]
        or bbox_b[2] < bbox_a[0]
        or bbox_a[3] < bbox_b[1]
        or bbox_b[3] < bbox_a[1]
    )


class StacClient:
    """GET /search and /collections/{id} of one STAC API, with a result cache."""

    def __init__(self, settings):
        import httpx2

        self.url = settings.stac_api_url.rstrip("/")
        self.page_size = settings.mosaic_search_limit
        timeout = httpx2.Timeout(
            settings.stac_api_timeout, connect=min(2.0, settings.stac_api_timeout)
        )
        self._client = httpx2.Client(timeout=timeout, follow_redirects=False)
        self._httpx = httpx2
        self.cache = SearchCache(
            settings.mosaic_search_cache_seconds, settings.mosaic_search_cache_size
        )

    # -- HTTP ---------------------------------------------------------------------------
    def _get(self, path: str, params: dict | None, what: str):
        url = f"{self.url}{path}"
        started = time.monotonic()
        try:
            response = self._client.get(url, params=params)
        except self._httpx.TimeoutException as exc:
            logger.error(
                "STAC API timeout after %.1fs: %s %s", time.monotonic() - started, url, params
            )
            raise StacAPITimeoutError(
                f"The STAC API at {self.url} did not answer {what} in time"
            ) from exc
        except self._httpx.HTTPError as exc:
            logger.error("STAC API unreachable: %s %s: %r", url, params, exc)
            raise StacAPIError(
                f"The STAC API at {self.url} cannot be reached for {what}: {type(exc).__name__}"
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code == 400:  # the API refused what the user asked (bad filter, sortby)
            raise ParameterError(f"The STAC API refused {what}: {_detail(response)}")
        if response.status_code >= 300:
            logger.error(
                "STAC API %s for %s %s: %s", response.status_code, url, params, response.text[:500]
            )
            raise StacAPIError(
                f"The STAC API at {self.url} answered {response.status_code} to {what}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise StacAPIError(
                f"The STAC API at {self.url} answered {what} with invalid JSON"
            ) from exc

    def collection(self, collection_id: str) -> dict:
        found = self._get(
            f"/collections/{collection_id}", None, f"the collection '{collection_id}'"
        )
        if found is None:
            raise ItemNotFoundError(
                f"Collection '{collection_id}' not found in the STAC API at {self.url}"
            )
        return found

    def search(self, collection_id: str, bbox, params: SearchParams, limit: int) -> Search:
        query = {"collections": collection_id, "limit": str(limit), **params.query()}
        if bbox is not None:
            query["bbox"] = ",".join(f"{v:.9f}" for v in bbox)
        found = self._get("/search", query, f"a search of '{collection_id}'")
        if found is None:
            raise ItemNotFoundError(
                f"Collection '{collection_id}' not found in the STAC API at {self.url}"
            )
        features = found.get("features", [])
        matched = found.get("numberMatched") or (found.get("context") or {}).get("matched")
        has_next = any(link.get("rel") == "next" for link in found.get("links", []))
        truncated = bool(has_next or (matched is not None and matched > len(features)))
        return Search(features, truncated)

    def item(self, collection_id: str, item_id: str) -> dict | None:
        """The STAC item (None when the API has no such item), cached as searches are."""
        key = (collection_id, "item", item_id)
        found = self.cache.get(key)
        if found is None:
            found = self._get(
                f"/collections/{collection_id}/items/{item_id}",
                None,
                f"the item '{collection_id}/{item_id}'",
            )
            found = found if isinstance(found, dict) else {}  # {}: known to be absent
            self.cache.put(key, found)
        return found or None

    def collection_renders(self, collection_id: str) -> dict:
        """The collection's ``renders`` (the defaults of its items), {} when none."""
        key = (collection_id, "collection")
        found = self.cache.get(key)
        if found is None:
            found = self._get(f"/collections/{collection_id}", None, "a collection") or {}
            self.cache.put(key, found)
        renders = found.get("renders") if isinstance(found, dict) else None
        return renders if isinstance(renders, dict) else {}

    def renders(self, collection_id: str, item_id: str) -> dict[str, dict]:
        """An item's STAC ``renders`` over its collection's (by name): {} when none."""
        item = self.item(collection_id, item_id) or {}
        own = (item.get("properties") or {}).get("renders")
        return {**self.collection_renders(collection_id), **(own if isinstance(own, dict) else {})}

    # -- tiles ----------------------------------------------------------------------------
    def items_for_tile(
        self, collection_id: str, tms, tile, params: SearchParams, zoom_up: int
    ) -> list[dict]:
        """Items whose bbox meets the tile, in the search order, at most ``max_items``."""
        from morecantile import Tile

        tile_bbox = _lonlat_bounds(tms, tile)
        ancestor = tile
        for _ in range(min(zoom_up, tile.z)):
            ancestor = tms.parent(ancestor)[0]
        key = (collection_id, tms.id, ancestor.z, ancestor.x, ancestor.y, params)
        search = self.cache.get(key)
        if search is None:
            search = self.search(
                collection_id,
                _lonlat_bounds(tms, Tile(ancestor.x, ancestor.y, ancestor.z)),
                params,
                self.page_size,
            )
            self.cache.put(key, search)
        if search.truncated and ancestor != tile:  # too many for the block: this tile's own search
            key = (collection_id, tms.id, tile.z, tile.x, tile.y, params)
            search = self.cache.get(key)
            if search is None:
                search = self.search(collection_id, tile_bbox, params, params.max_items)
                self.cache.put(key, search)
        items = [
            item
            for item in search.items
            if item.get("bbox") and intersects(item["bbox"], tile_bbox)
        ]
        return items[: params.max_items]


class SearchCache:
    """Search results by key for ``ttl`` seconds (bounded), with hit/miss counts."""

    def __init__(self, ttl: float, size: int):
        self.enabled = ttl > 0 and size > 0
        self._cache: TTLCache = TTLCache(maxsize=max(size, 1), ttl=max(ttl, 0.001))
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        if not self.enabled:
            self.misses += 1
            return None
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
            return found

    def put(self, key, search: Search) -> None:
        if self.enabled:
            with self._lock:
                self._cache[key] = search

    def clear(self, collection_id: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._cache if collection_id in (None, k[0])]:
                del self._cache[key]

    def stats(self) -> dict:
        total = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "entries": len(self._cache),
            "hit_ratio": round(self.hits / total, 4) if total else None,
        }


def _lonlat_bounds(tms, tile) -> tuple[float, float, float, float]:
    b = tms.bounds(tile)
    return (b.left, b.bottom, b.right, b.top)


def _detail(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail") or body.get("description") or body
    return (detail if isinstance(detail, str) else json.dumps(detail))[:500]


def item_href(item: dict) -> str | None:
    """The product a STAC item's Zarr asset is in: the asset typed Zarr (or named like one),
    cut to its ``.zarr`` root when it points at a group inside (the Explorer's
    ``.../{item}.zarr/measurements/reflectance``, ``.../s1-rtc-31TCH.zarr/descending``)."""
    assets = item.get("assets") or {}
    for name, asset in assets.items():
        href = (asset.get("href") or "").rstrip("/")
        media = (asset.get("type") or "").lower()
        if "zarr" in media or ".zarr" in href or name in ("product", "zarr"):
            if ".zarr/" in href:
                href = href[: href.index(".zarr/") + len(".zarr")]
            return href
    return None


@dataclass(frozen=True)
class StacItemLocation(ItemLocation):
    """An item found by its STAC Zarr asset, with the ``sel`` its renders pin (a
    per-acquisition item is one time slice of a shared cube)."""

    sel: tuple[str, ...] = ()


def render_selection(renders: dict) -> tuple[str, ...]:
    """The ``sel`` an item's renders pin (the first render that has one), else ()."""
    for render in renders.values():
        sel = render.get("sel") if isinstance(render, dict) else None
        if sel:
            return (sel,) if isinstance(sel, str) else tuple(str(v) for v in sel)
    return ()


def item_location(settings, collection_id: str, item: dict, sel=()) -> ItemLocation:
    """Where an item's product is: its Zarr asset under the store root, else the store's
    layout (hrefs elsewhere are not followed: the server reads only its own store)."""
    item_id = item["id"]
    href = item_href(item)
    root = settings.store_url
    if href:
        if "://" not in root:
            root = str(Path(root).resolve())
            href = href.removeprefix("file://")
        if href == root or href.startswith(root.rstrip("/") + "/"):
            return StacItemLocation(collection_id, item_id, href, tuple(sel))
        logger.info(
            "item %s/%s: asset %s is outside the store %s; using the store's layout",
            collection_id,
            item_id,
            href,
            root,
        )
    return locate(settings, collection_id, item_id)


__all__ = [
    "EOPFError",
    "SearchParams",
    "StacAPIError",
    "StacAPITimeoutError",
    "StacClient",
    "StacItemLocation",
    "item_href",
    "item_location",
]
