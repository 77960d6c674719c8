"""Canonical request -> cache key.

The key covers everything that changes the bytes: route kind, collection,
item, every path parameter (TMS, z/x/y, scale, **format**: defect 2) and every
query parameter with repeated values kept in order (``variables`` is the band
order: defect 1), names sorted, excluded parameters dropped. Accept-Encoding
is deliberately absent: the cache only holds identity bytes (defect 3).

Responses that embed absolute URLs built from the request (TileJSON's
``tiles``) are also keyed by the public base URL (scheme, host, root path), so
a client can never receive URLs built for another host.

Generations are not in the digest: an entry records the generations (and the
source version of the product) it was written under, and a lookup that finds
different current ones is a miss. One key per request means a HIT reads the
generations and the entry in one round trip, and an invalidated entry is
overwritten in place instead of leaving an orphan. One ``id`` names the entry
in every backend (Redis key, S3 object, memory slot), so an invalidation can
never miss the bodies.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from .routes import RouteMatch

KEY_VERSION = "v2"


def body_class(kind: str) -> str:
    """S3 layout class: tile bodies under ``tile/``, every other kind under ``meta/``."""
    return "tile" if kind in ("tile", "mosaic_tile") else "meta"


def canonical_query(query_string: bytes | str, excluded: frozenset[str] | set[str]) -> list:
    """``[[name, [values in request order]], ...]`` with names sorted."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    grouped: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name in excluded:
            continue
        grouped.setdefault(name, []).append(value)
    return [[name, grouped[name]] for name in sorted(grouped)]


def canonical_request(
    match: RouteMatch, query_string: bytes | str, excluded, base_url: str = ""
) -> str:
    params = {k: v for k, v in sorted(match.params.items())}
    doc = [
        KEY_VERSION,
        match.kind,
        match.collection,
        match.item,
        params,
        canonical_query(query_string, excluded),
    ]
    if match.embeds_base_url:
        doc.append(base_url)
    # JSON: unambiguous separators whatever the values contain.
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def q(part: str) -> str:
    """Quote a collection/item id for Redis keys and S3 keys alike."""
    return quote(part, safe="")


@dataclass(frozen=True)
class CacheKey:
    namespace: str
    kind: str
    collection: str
    item: str
    digest: str  # sha256 hex of the canonical request
    tile: tuple[str, int, int, int] | None = None  # (tms, z, x, y) for tile kind
    # What the lookup saw (the conditions a write must still meet): the current
    # generations of collection and item ("0" = none yet) and the product's
    # source version.
    generations: tuple[str, ...] = ("0", "0", "0")  # collection, item, collection purge token
    source: str = ""

    @property
    def id(self) -> str:
        """``{tile|meta}/{namespace}/{collection}/{item}/{digest}``: the S3 key
        after the prefix, and the Redis key after ``cache:``."""
        scope = f"{q(self.collection)}/{q(self.item)}"
        return f"{body_class(self.kind)}/{self.namespace}/{scope}/{self.digest}"

    @property
    def scope(self) -> tuple[str, str]:
        return self.collection, self.item


def build_key(
    namespace: str, match: RouteMatch, query_string: bytes | str, excluded, base_url: str = ""
) -> CacheKey:
    canonical = canonical_request(match, query_string, excluded, base_url)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return CacheKey(namespace, match.kind, match.collection, match.item, digest, match.tile)


@dataclass(frozen=True)
class KeyParts:
    cls: str
    namespace: str
    collection: str
    item: str
    digest: str


def parse_id(key_id: str) -> KeyParts | None:
    """Inverse of ``CacheKey.id`` (accepts the Redis form ``cache:...`` too)."""
    if key_id.startswith("cache:"):
        key_id = key_id[len("cache:") :]
    parts = key_id.split("/")
    if len(parts) != 5 or parts[0] not in ("tile", "meta") or not all(parts):
        return None
    digest = parts[4]
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return KeyParts(parts[0], parts[1], unquote(parts[2]), unquote(parts[3]), digest)
