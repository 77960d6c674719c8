"""What the cache may store, for how long, and what it tells clients: pure functions.

Nothing here does I/O or keeps state, so each rule can be read (and tested) on its own:
the middleware asks them about a request or a response and acts on the answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from .settings import CacheSettings

# Set by the tiler on a 404 that means "the tile is outside the product" (a
# cacheable answer), as opposed to an unknown collection or item.
EMPTY_TILE_HEADER = "x-tile-empty"

# Request headers dropped when the response may be stored: the stored bytes
# must be the full identity representation whatever the client sent.
STRIP_WHEN_STORING = frozenset(
    {b"accept-encoding", b"if-none-match", b"if-modified-since", b"range", b"if-range"}
)

# Route kinds whose "no data here" answers (204, or a 404 marked EMPTY_TILE_HEADER) are kept.
_EMPTY_KINDS = frozenset({"tile"})


# --- requests --------------------------------------------------------------------------------
def header(scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` lower case)."""
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def client_no_cache(scope) -> bool:
    """The client asked for a fresh response (``Cache-Control: no-cache`` or ``Pragma``)."""
    cc = (header(scope, b"cache-control") or "").lower()
    tokens = {t.strip().split("=", 1)[0] for t in cc.split(",")}
    return "no-cache" in tokens or (header(scope, b"pragma") or "").lower().strip() == "no-cache"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` against an ETag, with the weak comparison it calls for."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def base_url(scope) -> str:
    """The public base URL a response built for this request embeds (scheme,
    host, root path): what Starlette's ``request.base_url`` gives the tiler.
    Forwarded headers count only where a trusted proxy rewrote the scope
    before us (uvicorn's ``forwarded_allow_ips``, ``PublicURLMiddleware``)."""
    host = header(scope, b"host")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else ""
    return f"{scope.get('scheme', 'http')}://{host.lower()}{scope.get('root_path', '')}"


def render_headers(scope, storing: bool) -> list[tuple[bytes, bytes]]:
    """The request headers the tiler sees: without conditions, ranges and encodings
    when the response may be stored (the cache keeps the whole identity body)."""
    headers = list(scope.get("headers", ()))
    if not storing:
        return headers
    return [(k, v) for k, v in headers if k.lower() not in STRIP_WHEN_STORING]


# --- responses -------------------------------------------------------------------------------
def ttl_for(settings: CacheSettings, kind: str, status: int) -> int | None:
    """Freshness lifetime of a response of this route kind and status, or None
    when responses like it are never stored."""
    if status == 200:
        return settings.ttl_for(kind)
    if kind in _EMPTY_KINDS and status in (204, 404) and settings.empty_ttl > 0:
        return settings.empty_ttl
    return None


def storable_ttl(
    settings: CacheSettings, kind: str, status: int, headers: Iterable[tuple[str, str]]
) -> int | None:
    """The TTL to store a rendered response under, or None when it must not be stored.

    ``headers`` are the response's (names lower case). Not stored: an encoded body (the
    cache keeps identity bytes), cookies, ``no-store``/``private``, a ``Vary`` on anything
    but Accept-Encoding (the key does not cover those request headers), a 404 that is not
    "no data here" (an unknown collection or item must not let anonymous requests fill the
    cache), and a body announced larger than ``max_body_bytes``.
    """
    ttl = ttl_for(settings, kind, status)
    if ttl is None:
        return None
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name, []).append(value.lower())
    if "content-encoding" in values or "set-cookie" in values:
        return None
    if status == 404 and EMPTY_TILE_HEADER not in values:
        return None
    cc = ",".join(values.get("cache-control", []))
    if "no-store" in cc or "private" in cc:
        return None
    vary = {v.strip() for item in values.get("vary", []) for v in item.split(",")}
    if vary - {"accept-encoding", ""}:
        return None
    length = values.get("content-length")
    if length and length[0].isdigit() and int(length[0]) > settings.max_body_bytes:
        return None
    return ttl


# Route kinds answered with documents a client reads once per page or per map (TileJSON,
# info, statistics): browsers revalidate them on every use. Every other cached kind is an image.
DOCUMENT_KINDS = frozenset({"tilejson", "info", "statistics", "mosaic_tilejson", "mosaic_info"})


def cache_control(settings: CacheSettings, kind: str, stored_status: int) -> str:
    """``Cache-Control`` of a cached response ("" leaves it out).

    A value configured for the class (``TITILER_EOPF_CACHE_CACHE_CONTROL_*``: the empty-tile
    class for anything but a 200) is sent as it is. Otherwise it is split between shared and
    private caches:

    * ``s-maxage`` = the entry's TTL in this cache: a CDN (``cloudfront=true``) holds the
      response exactly as long as the cache would, and an admin invalidation clears both;
    * images (tiles, previews, empty tiles): ``max-age=browser_max_age`` (60 s): a map panning
      back and forth does not ask again, and an invalidation reaches browsers within a minute;
    * documents (TileJSON, info, statistics): ``max-age=0, must-revalidate``: read once per
      page, they are revalidated each time with ``If-None-Match`` (a 304 from the edge or the
      cache, no body), so a new product version shows on the next page load.
    """
    configured = settings.cache_control_for(kind, empty=stored_status != 200)
    if configured is not None:
        return configured
    ttl = ttl_for(settings, kind, stored_status)
    if ttl is None:
        return ""
    if kind in DOCUMENT_KINDS:
        return f"public, max-age=0, must-revalidate, s-maxage={ttl}"
    return f"public, max-age={min(settings.browser_max_age, ttl)}, s-maxage={ttl}"
