"""The one backend interface, and the metadata record every backend stores.

Bodies are raw bytes; metadata is a flat ``str -> str`` record (a Redis hash,
S3 object metadata, a dict in memory). No base64, no JSON envelope around the
body, no pickle (defect 6).

Backends are synchronous: the admin Lambda calls them directly and the
middleware runs the blocking ones in a worker thread. Each client call goes
through a circuit breaker and raises ``CacheError``/``CacheUnavailable``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

from ..keys import CacheKey

# Headers never stored: hop-by-hop, recomputed per response, or per-client.
UNSTORED_HEADERS = frozenset(
    {
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "date",
        "server",
        "set-cookie",
        "x-cache",
        "age",
        "etag",
        "cache-control",
        "vary",
        "server-timing",
        "expires",
        "last-modified",
    }
)


@dataclass
class EntryMeta:
    status: int
    content_type: str
    size: int
    sha256: str  # hex digest of the body; the ETag is derived from it
    created: float
    ttl: int  # freshness lifetime in seconds
    kind: str
    headers: list[list[str]] = field(default_factory=list)
    render_ms: float = 0.0
    tile: str = ""  # "tms/z/x/y" for tiles (tile-range invalidation)
    # Written under: "{collection generation}/{item generation}" and the
    # product's source version. A lookup that sees others is a miss.
    gens: str = ""
    src: str = ""
    # The collection's purge token when written: an S3 copy written before a
    # tile-range purge never re-warms Redis after it.
    purge: str = ""

    def written_under(self, generations: tuple[str, ...], source: str) -> bool:
        return self.gens == f"{generations[0]}/{generations[1]}" and self.src == source

    @property
    def etag(self) -> str:
        return f'"{self.sha256[:40]}"'

    def age(self, now: float | None = None) -> int:
        return max(0, int((now or time.time()) - self.created))

    def fresh(self, now: float | None = None) -> bool:
        return (now or time.time()) < self.created + self.ttl

    def to_record(self) -> dict[str, str]:
        d = asdict(self)
        # ASCII only: S3 user metadata must be ASCII.
        d["headers"] = json.dumps(self.headers, ensure_ascii=True, separators=(",", ":"))
        return {k: str(v) for k, v in d.items()}

    @classmethod
    def from_record(cls, rec: dict) -> EntryMeta | None:
        """Parse a stored record; ``None`` when it is incomplete or malformed
        (a half-written or foreign record is a miss, never a wrong answer)."""
        try:
            r = {
                (k.decode() if isinstance(k, bytes) else k).lower(): (
                    v.decode() if isinstance(v, bytes) else v
                )
                for k, v in rec.items()
            }
            return cls(
                status=int(r["status"]),
                content_type=r["content_type"],
                size=int(r["size"]),
                sha256=r["sha256"],
                created=float(r["created"]),
                ttl=int(r["ttl"]),
                kind=r["kind"],
                headers=json.loads(r.get("headers") or "[]"),
                render_ms=float(r.get("render_ms") or 0.0),
                tile=r.get("tile", ""),
                gens=r.get("gens", ""),
                src=r.get("src", ""),
                purge=r.get("purge", ""),
            )
        except (KeyError, ValueError, TypeError, UnicodeDecodeError):
            return None


# A record that exists but cannot be parsed: treated like a corrupt body
# (miss, then repaired by the next write).
BROKEN = EntryMeta(status=0, content_type="", size=-1, sha256="", created=0, ttl=0, kind="")


@dataclass
class Lookup:
    meta: EntryMeta
    body: bytes | None  # None when not asked for, or when the body is missing


# ``lookup_async``'s answer when the lookup needs a blocking call: ask ``lookup`` (in a
# worker thread) instead.
NEEDS_THREAD = object()

# Generation of a scope that has none yet. Stored generations are unique tokens
# (``new_generation``), created when the first entry of the scope is written,
# never by a lookup: an anonymous request for a made-up id creates nothing.
NO_GENERATION = "0"


@dataclass
class IndexedEntry:
    id: str
    tile: str | None = ""  # "tms/z/x/y", "" (not a tile) or None (unknown: ask describe())


def new_generation(first_write: bool = False) -> str:
    """Generations are unique tokens, never counters: if a generation key is
    lost (eviction, restart) the new one can never equal an old one, so old
    entries can never become valid again.

    A token created by the first write of a scope starts with ``w`` (an
    invalidation's never does): a render that saw "no generation" may still be
    stored under it, since nothing was invalidated in between (concurrent first
    renders of a new item must all be stored, not only the first)."""
    return f"{'w' if first_write else ''}{time.time_ns():x}{os.urandom(3).hex()}"


def same_generation(current: str, seen: str) -> bool:
    """May a render that saw ``seen`` be stored under ``current``?"""
    return current == seen or (seen == NO_GENERATION and current.startswith("w"))


def glob_literal(pattern: str) -> str:
    """Longest literal prefix of a glob (for S3 List prefixes)."""
    out = []
    for ch in pattern:
        if ch in "*?[\\":
            break
        out.append(ch)
    return "".join(out)


def glob_match(key_id: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(key_id, pattern)


class Backend:
    name = "base"
    blocking = True  # run calls in a worker thread
    async_lookup = False  # has ``lookup_async`` (on the event loop) usable now
    cross_process_lock = False

    # --- generations -----------------------------------------------------
    def generations(self, collection: str, item: str) -> tuple[str, str, str]:
        """Current ``(collection generation, item generation, purge token of the
        collection)``, ``NO_GENERATION`` where none exists; creates nothing.

        Entries record the first two: a bump makes every older entry a miss.
        The purge token changes on every tile-range purge: it does not
        invalidate entries (the purge deletes them) but a render that started
        before it is not stored after it, so a purged tile never comes back
        with the bytes of a render that was in flight."""
        raise NotImplementedError

    def bump_purge(self, collection: str) -> None:
        """A tile-range purge of the collection is about to delete entries."""

    def bump(self, collection: str, item: str | None = None) -> str:
        raise NotImplementedError

    # --- entries ---------------------------------------------------------
    def lookup(self, key: CacheKey, want_body: bool) -> tuple[Lookup | None, tuple[str, str, str]]:
        """The entry (or None) and the scope's current generations, read
        together (one round trip where the store allows it)."""
        raise NotImplementedError

    async def lookup_async(self, key: CacheKey, want_body: bool):
        """``lookup`` on the event loop (when ``async_lookup``), or ``NEEDS_THREAD``."""
        return NEEDS_THREAD

    def put(self, key: CacheKey, meta: EntryMeta, body: bytes, expire: int) -> bool:
        """Store the entry if the scope's generations are still
        ``key.generations`` (a render that started before an invalidation is
        never stored after it); creates missing generations. False when not
        stored because the generations moved."""
        raise NotImplementedError

    def discard(self, key: CacheKey) -> None:
        """Drop a corrupt entry so it is not checked again (best effort)."""

    # --- invalidation support ---------------------------------------------
    def scope_entries(self, collection: str, item: str | None) -> Iterator[IndexedEntry]:
        raise NotImplementedError

    def delete_ids(self, ids: list[str]) -> dict[str, int]:
        """Delete entries by id; returns counts actually deleted per store."""
        raise NotImplementedError

    def exists_ids(self, ids: list[str]) -> list[str]:
        """The ids that exist (for dry runs)."""
        raise NotImplementedError

    def scan(self, pattern: str, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
        raise NotImplementedError

    def describe(self, key_id: str) -> EntryMeta | None:
        return None

    def valid_cursor(self, cursor: str) -> bool:
        """Is ``cursor`` a ``scan`` cursor of this backend (default: an integer)?"""
        return cursor.isascii() and cursor.isdigit() and int(cursor) < 2**64

    # --- raw blobs (product metadata shared by the tiler, see TileCache.get_blob) ---
    def get_blob(self, key: str) -> bytes | None:
        """Bytes stored by ``put_blob`` (None: absent, or a backend without blobs)."""
        return None

    def put_blob(self, key: str, value: bytes, expire: int) -> None:
        return None

    # --- stampede lock ----------------------------------------------------
    def try_lock(self, key_id: str, token: str, ttl: float) -> bool:
        return True

    def unlock(self, key_id: str, token: str) -> None:
        return None

    def refresh_lock(self, key_id: str, token: str, ttl: float) -> bool:
        """Extend a lock we hold (the render is still running)."""
        return True

    # --- health -----------------------------------------------------------
    def status(self) -> dict:
        return {"backend": self.name}

    def breakers(self) -> Iterable:
        return ()


class LocalLocks:
    """Per-process stampede lock, for backends without a shared lock store. A lock's TTL
    is read from ``clock`` (the backend's ``Clock.monotonic``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._locks: dict[str, tuple[str, float]] = {}
        self._mutex = threading.Lock()
        self._clock = clock

    def try_lock(self, key_id, token, ttl):
        with self._mutex:
            held = self._locks.get(key_id)
            if held and held[1] > self._clock():
                return False
            self._locks[key_id] = (token, self._clock() + ttl)
            return True

    def unlock(self, key_id, token):
        with self._mutex:
            if self._locks.get(key_id, ("",))[0] == token:
                del self._locks[key_id]

    def refresh_lock(self, key_id, token, ttl):
        with self._mutex:
            if self._locks.get(key_id, ("",))[0] != token:
                return False
            self._locks[key_id] = (token, self._clock() + ttl)
            return True
