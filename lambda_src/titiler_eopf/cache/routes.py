"""Which requests are cacheable, matched on the tiler's own route templates.

Each cacheable route is a template of ``titiler_eopf.paths`` (the ones the tiler
registers its routes with) turned into an anchored regex by ``template_regex``: a
route whose template changes changes what the cache recognises with it (a previous,
hand-written copy of these paths drifted, so ``/info`` and ``/bbox`` were never
cached: defect 4; ``tests/cache/test_cache_routes.py`` checks every template against
the real app's routes). Matching runs on the path relative to ``root_path`` so an API
Gateway stage prefix does not break it.

Matching also canonicalises: numbers in the path are written without leading
zeros (``013/04358/3029`` is the same tile as ``13/4358/3029``), and ids that
the tiler would reject (``ID_REGEX``) are not cacheable at all, so an
anonymous request for a made-up id never reaches the cache's storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from titiler_eopf.paths import (
    BBOX,
    COLLECTION_PREFIX,
    INFO,
    INFO_GEOJSON,
    ITEM_PREFIX,
    MOSAIC_ITEM,
    PREVIEW,
    RENDER,
    RENDERS,
    STATISTICS,
    TILE,
    TILEJSON,
    template_regex,
)

__all__ = ["MOSAIC_ITEM", "ROUTES", "CachedRoute", "RouteMatch", "match_path", "route_path"]


@dataclass(frozen=True)
class CachedRoute:
    """A cacheable route: its kind (TTL class, key layout) and the tiler's template."""

    kind: str
    template: str
    # Suffixes that may be absent (``template_regex``'s default when None).
    optional: tuple[str, ...] | None = None
    # Path parameters the route implies: ``/info.geojson`` is the ``info`` kind in its
    # ``geojson`` format (keys record it as they did before the templates were shared).
    implied: tuple[tuple[str, str], ...] = ()

    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        kwargs = {} if self.optional is None else {"optional": self.optional}
        object.__setattr__(self, "regex", re.compile(template_regex(self.template, **kwargs)))


ROUTES: tuple[CachedRoute, ...] = (
    CachedRoute("tile", ITEM_PREFIX + TILE),
    CachedRoute("tilejson", ITEM_PREFIX + TILEJSON),
    # an item's named renderings and their URLs: metadata, like TileJSON
    CachedRoute("renders", ITEM_PREFIX + RENDERS),
    CachedRoute("renders", ITEM_PREFIX + RENDER),
    CachedRoute("info", ITEM_PREFIX + INFO, implied=(("format", ""),)),
    CachedRoute("info", ITEM_PREFIX + INFO_GEOJSON, implied=(("format", "geojson"),)),
    CachedRoute("statistics", ITEM_PREFIX + STATISTICS),
    CachedRoute("preview", ITEM_PREFIX + PREVIEW),
    # a bbox image always names its format
    CachedRoute("bbox", ITEM_PREFIX + BBOX, optional=("/{width}x{height}",)),
    # Collection mosaics: one scope per collection, its item part the reserved MOSAIC_ITEM
    # (no real id starts with "_"), so a collection bump invalidates them and their keys
    # hold every search parameter (datetime, filter, sortby, ids, max_items, ...).
    CachedRoute("mosaic_tile", COLLECTION_PREFIX + TILE),
    CachedRoute("mosaic_tilejson", COLLECTION_PREFIX + TILEJSON),
    CachedRoute("mosaic_info", COLLECTION_PREFIX + INFO),
)
TILE_KINDS = frozenset({"tile", "mosaic_tile"})
KINDS = tuple(dict.fromkeys(route.kind for route in ROUTES))
# Kinds whose body embeds absolute URLs built from the request (TileJSON's
# ``tiles``, the renders' links): keyed by the public base URL too.
EMBEDS_BASE_URL = frozenset({"tilejson", "mosaic_tilejson", "renders"})

# Cache-key names of the path parameters whose tiler name differs (entries written
# before the cache used the tiler's templates keep their keys).
_KEY_NAMES = {"collection_id": "collection", "item_id": "item", "tileMatrixSetId": "tms"}
# Path parameters that are numbers: canonical form without leading zeros.
_INTEGER_PARAMS = ("z", "x", "y", "scale", "width", "height")


@dataclass(frozen=True)
class RouteMatch:
    kind: str
    collection: str
    item: str
    # Every other path parameter (tms, z, x, y, scale, format, width, ...), as
    # written; ``format`` is "" for an extension-less request.
    params: dict[str, str] = field(default_factory=dict)

    @property
    def embeds_base_url(self) -> bool:
        return self.kind in EMBEDS_BASE_URL

    @property
    def tile(self) -> tuple[str, int, int, int] | None:
        if self.kind not in TILE_KINDS:
            return None
        p = self.params
        return p["tms"], int(p["z"]), int(p["x"]), int(p["y"])


def route_path(scope: dict) -> str:
    """The path the app routes on: ``path`` minus ``root_path`` (Starlette 1.x:
    ``scope["path"]`` includes the root path)."""
    path: str = scope.get("path", "")
    root = scope.get("root_path", "") or ""
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :]
    return path


def match_path(path: str) -> RouteMatch | None:
    """The cacheable route of ``path``, or None (not cacheable: passed through)."""
    if not path.startswith("/collections/") or len(path) > 2048:
        return None
    for route in ROUTES:
        m = route.regex.match(path)
        if m is None:
            continue
        params = {_KEY_NAMES.get(k, k): v or "" for k, v in m.groupdict().items()}
        params.update(route.implied)
        collection = params.pop("collection")
        item = params.pop("item", MOSAIC_ITEM)
        for name in _INTEGER_PARAMS:
            if params.get(name):
                params[name] = str(int(params[name]))
        return RouteMatch(route.kind, collection, item, params)
    return None
