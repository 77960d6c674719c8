"""Every way to invalidate the cache, in one module.

Called by the admin service (``titiler_eopf.admin``), which the admin HTTP routes,
the admin Lambda and the CLI share; the service's request models have validated the
request's shape (types, bounds, zoom range, bbox). What only the cache can judge is
checked here before anything is touched (``InvalidInput`` -> HTTP 400): names that
are path segments, a key's form, a URL the cache serves, a cursor of its backend, a
pattern's reach. All functions are synchronous, support ``dry_run`` (report what
would be deleted, delete nothing) and return an ``InvalidationResult``.

* ``invalidate_scope``: bump the generation of a collection or an item (O(1),
  immediate); with ``hard=True`` also delete the scope's entries in batches.
* ``invalidate_key`` / ``invalidate_url``: one entry.
* ``invalidate_tiles``: zoom range + bbox, every parameter variant, from the
  per-item index (no SCAN).
* ``invalidate_pattern``: glob fallback, bounded (limit + cursor), batched.
* ``list_keys``: one page of entry ids.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from titiler_eopf.paths import ID_PATTERN, MOSAIC_ITEM, webmercator_tile_range

from .core import TileCache
from .keys import parse_id

log = logging.getLogger("titiler_eopf.cache.invalidation")

MAX_LIMIT = 10_000  # entries one pattern invalidation or key listing goes through
REPORTED_KEYS = 1000  # ids listed in a result (counts are always complete)


class InvalidInput(ValueError):
    """Bad invalidation input: nothing was deleted."""


@dataclass
class InvalidationResult:
    scope: str
    dry_run: bool
    matched: int = 0  # entries found in scope
    deleted: dict[str, int] = field(default_factory=dict)  # actually deleted, per store
    generation: dict | None = None  # {"collection", "item", "generation"} after a bump
    keys: list[str] = field(default_factory=list)  # ids matched (first REPORTED_KEYS)
    cursor: str | None = None  # pattern scope: pass back to continue
    cdn: dict | None = None  # the admin service's CDN invalidation of the same scope, if any

    @property
    def deleted_total(self) -> int:
        return sum(self.deleted.values())

    def to_dict(self) -> dict:
        out = asdict(self)
        out["deleted_total"] = self.deleted_total
        return out


def _require_enabled(cache: TileCache):
    if not cache.enabled:
        raise InvalidInput("the cache is disabled (TITILER_EOPF_CACHE_BACKEND=none)")


def _delete(cache: TileCache, result: InvalidationResult, ids: list[str]) -> InvalidationResult:
    """Delete ids in batches (or, for a dry run, report which exist)."""
    ids = list(dict.fromkeys(ids))
    result.keys = ids[:REPORTED_KEYS]
    if result.dry_run:
        result.matched = len(cache.backend.exists_ids(ids)) if ids else 0
        return result
    result.matched = len(ids)
    for start in range(0, len(ids), 1000):
        for store, n in cache.backend.delete_ids(ids[start : start + 1000]).items():
            result.deleted[store] = result.deleted.get(store, 0) + n
    log.info("cache entries deleted", extra={"scope": result.scope, "deleted": result.deleted})
    return result


def _check_name(name: str | None, what: str) -> str:
    if not isinstance(name, str) or not ID_PATTERN.match(name):
        raise InvalidInput(
            f"{what} is required: 1-255 characters, letters, digits, '.', '_' or '-',"
            " starting with a letter or digit (no '/', no glob characters)"
        )
    return name


# --- scope (generation bump, optional hard purge) --------------------------------
def invalidate_scope(
    cache: TileCache,
    collection: str,
    item: str | None = None,
    *,
    hard: bool = False,
    dry_run: bool = False,
) -> InvalidationResult:
    _require_enabled(cache)
    _check_name(collection, "collection")
    if item is not None:
        _check_name(item, "item")
    result = InvalidationResult(scope="item" if item else "collection", dry_run=dry_run)
    ids = [e.id for e in cache.backend.scope_entries(collection, item)] if (hard or dry_run) else []
    if dry_run:
        return _delete(cache, result, ids)  # reports the entries the bump/purge would drop
    # Bump first: from this instant nothing of the scope is served, even while
    # the purge below is still deleting.
    gen = cache.backend.bump(collection, item)
    result.generation = {"collection": collection, "item": item, "generation": gen}
    log.info("generation bumped", extra={"collection": collection, "item": item})
    if hard:
        _delete(cache, result, ids)
    return result


# --- one entry --------------------------------------------------------------------
def invalidate_key(cache: TileCache, key: str, *, dry_run: bool = False) -> InvalidationResult:
    _require_enabled(cache)
    parts = parse_id(key)
    if parts is None:
        raise InvalidInput(
            "key must be an entry id '{tile|meta}/{namespace}/{collection}/{item}/{sha256}' "
            "(as listed by /admin/cache/keys), optionally prefixed by 'cache:'"
        )
    key_id = key[len("cache:") :] if key.startswith("cache:") else key
    return _delete(cache, InvalidationResult(scope="key", dry_run=dry_run), [key_id])


def invalidate_url(cache: TileCache, url: str, *, dry_run: bool = False) -> InvalidationResult:
    _require_enabled(cache)
    key = cache.key_for_url(url) if url else None
    if key is None:
        raise InvalidInput(
            "url is not a cacheable tiler route (path relative to the API root, with its query)"
        )
    return _delete(cache, InvalidationResult(scope="url", dry_run=dry_run), [key.id])


# --- tile range ---------------------------------------------------------------------
def _tile_range(tms: str, bbox, z):
    if tms == "WebMercatorQuad":
        return webmercator_tile_range(bbox, z)
    try:  # other matrix sets: morecantile, imported only for this admin call
        import morecantile
    except ImportError as exc:  # pragma: no cover - morecantile ships with the tiler
        raise InvalidInput(f"tile-range invalidation for {tms} needs morecantile") from exc
    try:
        matrix_set = morecantile.tms.get(tms)
    except Exception as exc:
        raise InvalidInput(f"unknown tileMatrixSet {tms!r}") from exc
    ul = matrix_set.tile(bbox[0], bbox[3], z)
    lr = matrix_set.tile(bbox[2], bbox[1], z)
    return ul.x, ul.y, lr.x, lr.y


def invalidate_tiles(
    cache: TileCache,
    collection: str,
    item: str | None = None,
    *,
    minzoom: int,
    maxzoom: int,
    bbox: list[float] | None = None,
    tms: str = "WebMercatorQuad",
    dry_run: bool = False,
) -> InvalidationResult:
    """Delete every cached tile of the scope (all formats, scales and query
    variants) with minzoom <= z <= maxzoom whose tile intersects ``bbox``
    (a range and a bbox that ``admin.actions.InvalidateRequest`` accepts)."""
    _require_enabled(cache)
    _check_name(collection, "collection")
    if item is not None:
        _check_name(item, "item")
    ranges = {z: _tile_range(tms, bbox, z) for z in range(minzoom, maxzoom + 1)} if bbox else None
    if not dry_run:
        # First: from now on a render in flight (started before this call) is not
        # stored, so nothing the scan below misses can bring a purged tile back.
        cache.backend.bump_purge(collection)
    ids = []
    entries = list(cache.backend.scope_entries(collection, item))
    if item is not None:  # the collection's mosaic tiles over the range draw that item too
        entries += list(cache.backend.scope_entries(collection, MOSAIC_ITEM))
    for entry in entries:
        tile = entry.tile
        if tile is None:  # index unknown (S3 listing): read the object's metadata
            meta = cache.backend.describe(entry.id)
            tile = meta.tile if meta else ""
        if not tile:
            continue
        t_tms, z, x, y = tile.rsplit("/", 3)
        z, x, y = int(z), int(x), int(y)
        if t_tms != tms or not (minzoom <= z <= maxzoom):
            continue
        if ranges:
            x0, y0, x1, y1 = ranges[z]
            if not (x0 <= x <= x1 and y0 <= y <= y1):
                continue
        ids.append(entry.id)
    return _delete(cache, InvalidationResult(scope="tiles", dry_run=dry_run), ids)


# --- glob pattern (admin fallback) ------------------------------------------------------
def normalize_pattern(cache: TileCache, pattern: str) -> str:
    """A pattern with a '/' is matched against entry ids as written; a bare
    pattern (e.g. ``S2B_MSIL2A_20250804*``, the form existing clients send)
    is matched against item ids."""
    if "/" in pattern:
        return pattern
    return f"*/{cache.settings.namespace}/*/{pattern}/*"


def _check_pattern(pattern: str, limit: int, confirm: bool):
    if not pattern or len(pattern) > 512:
        raise InvalidInput("pattern is required (at most 512 characters)")
    if not (1 <= limit <= MAX_LIMIT):
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if set(pattern) <= set("*?/") and not confirm:
        raise InvalidInput(f"pattern {pattern!r} matches every entry: pass confirm=true to proceed")


def check_cursor(cache: TileCache, cursor: str | None) -> str | None:
    """A cursor is what a previous page returned: a non-negative integer (memory;
    Redis, then optionally ``~`` and an entry id) or an entry id (S3). Anything else
    is a 400, not a backend error."""
    if cursor is None or cursor == "":
        return None
    if cache.backend.name == "s3":
        if parse_id(cursor) is None:
            raise InvalidInput(
                "cursor must be the 'cursor' value of a previous page (an entry id), or omitted"
            )
        return cursor
    if not cache.backend.valid_cursor(cursor):
        raise InvalidInput(
            "cursor must be the 'cursor' value of a previous page (a non-negative integer,"
            " with Redis optionally followed by '~' and an entry id), or omitted"
        )
    return cursor


def list_keys(
    cache: TileCache, pattern: str = "*", *, limit: int = 100, cursor: str | None = None
) -> dict:
    """``{"keys": [{"key", "kind", "status", "size", "created", "ttl"}...], "cursor"}``."""
    _require_enabled(cache)
    if not (1 <= limit <= MAX_LIMIT):
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    cursor = check_cursor(cache, cursor)
    ids, next_cursor = cache.backend.scan(normalize_pattern(cache, pattern or "*"), cursor, limit)
    keys = []
    for kid in ids:
        meta = cache.backend.describe(kid) if limit <= 1000 else None
        row = {"key": kid}
        if meta is not None:
            row |= {
                "kind": meta.kind,
                "status": meta.status,
                "size": meta.size,
                "created": meta.created,
                "ttl": meta.ttl,
                "tile": meta.tile or None,
            }
        keys.append(row)
    return {"keys": keys, "cursor": next_cursor}


def invalidate_pattern(
    cache: TileCache,
    pattern: str,
    *,
    limit: int = 1000,
    cursor: str | None = None,
    confirm: bool = False,
    dry_run: bool = False,
) -> InvalidationResult:
    """Delete at most ``limit`` entries whose id matches the glob; ``cursor``
    in the result continues the scan (None when done)."""
    _require_enabled(cache)
    _check_pattern(pattern, limit, confirm)
    cursor = check_cursor(cache, cursor)
    ids, next_cursor = cache.backend.scan(normalize_pattern(cache, pattern), cursor, limit)
    result = _delete(cache, InvalidationResult(scope="pattern", dry_run=dry_run), ids)
    result.cursor = next_cursor
    return result
