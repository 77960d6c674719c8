"""Which requests are cacheable, matched on the real tiler paths.

Each route is an anchored regex (the public cache matched substrings that no
longer existed in the paths, so ``/info`` and ``/bbox`` were never cached:
defect 4). Matching runs on the path relative to ``root_path`` so an API
Gateway stage prefix does not break it.

Matching also canonicalises: numbers in the path are written without leading
zeros (``013/04358/3029`` is the same tile as ``13/4358/3029``), and ids that
the tiler would reject (``ID_PATTERN``) are not cacheable at all, so an
anonymous request for a made-up id never reaches the cache's storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FORMATS = "png|jpeg|jpg|webp|tif|npy|jp2|pngraw"
_NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_PREFIX = r"^/collections/(?P<collection>[^/]+)/items/(?P<item>[^/]+)"
# The tile path after an item's or a collection's prefix.
_TILE = (
    r"/tiles/(?P<tms>[^/]+)/(?P<z>\d+)/(?P<x>\d+)/(?P<y>\d+)"
    rf"(?:@(?P<scale>\d+)x)?(?:\.(?P<format>{FORMATS}))?$"
)

ROUTES: list[tuple[str, re.Pattern[str]]] = [
    ("tile", re.compile(_PREFIX + _TILE)),
    ("tilejson", re.compile(_PREFIX + r"/(?P<tms>[^/]+)/tilejson\.json$")),
    ("info", re.compile(_PREFIX + r"/info(?:\.(?P<format>geojson))?$")),
    ("statistics", re.compile(_PREFIX + r"/statistics$")),
    (
        "preview",
        re.compile(
            _PREFIX + rf"/preview(?:/(?P<width>\d+)x(?P<height>\d+))?(?:\.(?P<format>{FORMATS}))?$"
        ),
    ),
    (
        "bbox",
        re.compile(
            _PREFIX + rf"/bbox/(?P<minx>{_NUM}),(?P<miny>{_NUM}),(?P<maxx>{_NUM}),(?P<maxy>{_NUM})"
            rf"(?:/(?P<width>\d+)x(?P<height>\d+))?\.(?P<format>{FORMATS})$"
        ),
    ),
]

# Collection mosaics (``tiler/mosaic.py``): one scope per collection, its item part the reserved
# MOSAIC_ITEM (no real id starts with "_"), so a collection bump invalidates them and their
# keys hold every search parameter (datetime, filter, sortby, ids, max_items, pixel_selection).
MOSAIC_ITEM = "_mosaic"
_COLLECTION = r"^/collections/(?P<collection>[^/]+)"
ROUTES += [
    ("mosaic_tile", re.compile(_COLLECTION + _TILE)),
    ("mosaic_tilejson", re.compile(_COLLECTION + r"/(?P<tms>[^/]+)/tilejson\.json$")),
    ("mosaic_info", re.compile(_COLLECTION + r"/info$")),
]
TILE_KINDS = frozenset({"tile", "mosaic_tile"})

KINDS = tuple(kind for kind, _ in ROUTES)
# Kinds whose body embeds absolute URLs built from the request (TileJSON's
# ``tiles``): keyed by the public base URL too.
EMBEDS_BASE_URL = frozenset({"tilejson", "mosaic_tilejson"})
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
    from titiler_eopf.tiler.store import ID_PATTERN  # light: no numpy, zarr or rasterio

    for kind, regex in ROUTES:
        m = regex.match(path)
        if m:
            groups = m.groupdict()
            collection = groups.pop("collection")
            item = groups.pop("item", None) or MOSAIC_ITEM
            if not (
                ID_PATTERN.match(collection) and (item == MOSAIC_ITEM or ID_PATTERN.match(item))
            ):
                return None
            params = {k: (v if v is not None else "") for k, v in groups.items()}
            for name in _INTEGER_PARAMS:
                if params.get(name):
                    params[name] = str(int(params[name]))
            return RouteMatch(kind, collection, item, params)
    return None
