"""The public URL space: ids, zoom bound, route templates and tile ranges (a leaf module).

Everything that must agree between the tiler (which serves the routes), the cache (which
recognises them) and the operators' tools (which build them) is declared once, here, with the
standard library only: importing it costs nothing, so the cache, the admin Lambda and the CLI
use it without importing the tiler.

Templates use the tiler's own path-parameter names (``{collection_id}``, ``{tileMatrixSetId}``,
...). :func:`template_regex` turns a template into the anchored regex the cache matches, so a
route that changes its template changes what the cache recognises with it.
"""

from __future__ import annotations

import math
import re

# Collection and item ids are path segments: no separators, no "..".
ID_REGEX = r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}"
ID_PATTERN = re.compile(rf"^{ID_REGEX}$")

# Zoom levels beyond this exist in no tile matrix set morecantile ships (and 2**z overflows
# the float arithmetic of tile bounds long before that).
MAX_ZOOM = 30

# How an expression names a variable (TiTiler-EOPF's `{group}:{variable}`): the group an
# absolute path of names (`/measurements/reflectance`, `/descending`, `.../r20m`), not preceded
# by a name character, so `b1/2` or `a:b/c:d` are not read as groups.
VARIABLE_TOKEN = re.compile(r"(?<![\w/:.])(/(?:\w+/)*\w+:\w+)(?![\w:])")


def expression_variables(expression: str | None) -> list[str]:
    """The ``{group}:{variable}`` names of an expression, in the order they first appear."""
    names: list[str] = []
    for name in VARIABLE_TOKEN.findall(expression or ""):
        if name not in names:
            names.append(name)
    return names


# Image formats of the tiler's image routes: titiler's ImageType (the cache tests check it).
IMAGE_FORMATS = ("png", "jpeg", "jpg", "webp", "tif", "tiff", "npy", "jp2", "pngraw")

ITEM_PREFIX = "/collections/{collection_id}/items/{item_id}"
COLLECTION_PREFIX = "/collections/{collection_id}"
# Collection mosaics are cached under one reserved item name per collection (no real id
# starts with "_", see ID_REGEX), so a collection bump invalidates them too.
MOSAIC_ITEM = "_mosaic"

# Route templates relative to a prefix, as titiler declares them. ``{format}`` and
# ``{scale}`` suffixes are optional: ``template_regex`` makes ``@{scale}x`` and ``.{format}``
# optional groups (titiler registers each combination as its own route).
TILE = "/tiles/{tileMatrixSetId}/{z}/{x}/{y}@{scale}x.{format}"
TILEJSON = "/{tileMatrixSetId}/tilejson.json"
INFO = "/info"
INFO_GEOJSON = "/info.geojson"
STATISTICS = "/statistics"
PREVIEW = "/preview/{width}x{height}.{format}"
BBOX = "/bbox/{minx},{miny},{maxx},{maxy}/{width}x{height}.{format}"
# An item's named renderings (its STAC renders and the presets that fit it), with their URLs.
RENDERS = "/renders"
RENDER = "/renders/{render_id}"

# Patterns of the path parameters (what the tiler accepts; anything else is not cacheable).
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
PARAM_PATTERNS: dict[str, str] = {
    "collection_id": ID_REGEX,
    "item_id": ID_REGEX,
    "tileMatrixSetId": r"[^/]+",
    "z": r"\d+",
    "x": r"\d+",
    "y": r"\d+",
    "scale": r"\d+",
    "width": r"\d+",
    "height": r"\d+",
    "minx": _NUMBER,
    "miny": _NUMBER,
    "maxx": _NUMBER,
    "maxy": _NUMBER,
    "format": "|".join(IMAGE_FORMATS),
    "render_id": r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
}
# Suffixes that titiler registers both with and without.
_OPTIONAL_SUFFIXES = ("@{scale}x", ".{format}", "/{width}x{height}")


def template_regex(template: str, *, optional: tuple[str, ...] = _OPTIONAL_SUFFIXES) -> str:
    """The anchored regex of a route template, one named group per path parameter.

    Parts listed in ``optional`` (``@{scale}x``, ``.{format}``, ``/{width}x{height}``) may be
    absent, as titiler registers those routes with and without them; bbox images keep their
    format (it is required there), so pass ``optional`` to change the default.
    """
    out: list[str] = []
    pos = 0
    alternatives = [re.escape(suffix) for suffix in optional] + [r"\{(\w+)\}"]
    for m in re.finditer("|".join(alternatives), template):
        out.append(re.escape(template[pos : m.start()]))
        if m.group(1):  # a plain parameter
            out.append(rf"(?P<{m.group(1)}>{PARAM_PATTERNS[m.group(1)]})")
        else:  # an optional suffix holding parameters
            inner = template_regex(m.group(0), optional=())
            out.append(f"(?:{inner[1:-1]})?")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return "^" + "".join(out) + "$"


def webmercator_tile_range(
    bbox: tuple[float, float, float, float] | list[float], z: int
) -> tuple[int, int, int, int]:
    """Inclusive WebMercatorQuad tile range ``(minx, miny, maxx, maxy)`` of a lon/lat bbox."""
    minlon, minlat, maxlon, maxlat = bbox
    n = 2**z
    lat_max = 85.0511287798066

    def column(lon: float) -> int:
        return min(n - 1, max(0, math.floor((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        r = math.radians(max(-lat_max, min(lat_max, lat)))
        return min(n - 1, max(0, math.floor((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)))

    return column(minlon), row(maxlat), column(maxlon), row(minlat)
