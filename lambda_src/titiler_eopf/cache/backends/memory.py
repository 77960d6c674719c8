"""In-process LRU bounded by bytes (local runs, ``make run``).

Generations exist only for scopes that hold entries or were bumped, and the
bumped ones are bounded too (``MAX_SCOPES``): nothing an anonymous request
does grows this process without bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

from ..clock import SYSTEM_CLOCK, Clock
from ..keys import CacheKey, parse_id
from .base import (
    NO_GENERATION,
    Backend,
    EntryMeta,
    IndexedEntry,
    LocalLocks,
    Lookup,
    glob_match,
    new_generation,
    same_generation,
)

MAX_BLOBS = 256  # raw blobs (product metadata) kept
MAX_SCOPES = 65_536  # generations kept for scopes without entries (bumped only)


class MemoryBackend(Backend):
    name = "memory"
    blocking = False  # dict operations: no thread hop needed

    def __init__(self, max_bytes: int, clock: Clock = SYSTEM_CLOCK):
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[EntryMeta, bytes, float]] = OrderedDict()
        self._gens: OrderedDict[tuple, str] = OrderedDict()
        self._index: dict[tuple[str, str], dict[str, str]] = {}
        self._locks = LocalLocks(clock.monotonic)  # one process: no shared lock store needed
        self._mutex = threading.RLock()
        self._blobs: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    def generations(self, collection, item):
        with self._mutex:
            return (
                self._gens.get((collection,), NO_GENERATION),
                self._gens.get((collection, item), NO_GENERATION),
                self._gens.get(("purge", collection), NO_GENERATION),
            )

    def bump_purge(self, collection):
        with self._mutex:
            self._set_gen(("purge", collection), new_generation())

    def bump(self, collection, item=None):
        gen = new_generation()
        with self._mutex:
            self._set_gen((collection,) if item is None else (collection, item), gen)
        return gen

    def _set_gen(self, scope: tuple, gen: str) -> None:
        self._gens[scope] = gen
        self._gens.move_to_end(scope)
        if len(self._gens) > MAX_SCOPES:
            # Forget the oldest generations of scopes without entries: safe,
            # since no entry was written under them.
            live = (
                {(c,) for c, _ in self._index}
                | set(self._index)
                | {("purge", c) for c, _ in self._index}
            )
            for old in [s for s in self._gens if s not in live][: len(self._gens) - MAX_SCOPES]:
                del self._gens[old]

    def _get(self, key_id: str):
        rec = self._entries.get(key_id)
        if rec is None:
            return None
        if self.clock.wall() >= rec[2]:
            self._remove(key_id)
            return None
        self._entries.move_to_end(key_id)
        return rec

    def lookup(self, key: CacheKey, want_body: bool):
        with self._mutex:
            gens = self.generations(key.collection, key.item)
            rec = self._get(key.id)
            if rec is None:
                return None, gens
            return Lookup(rec[0], rec[1] if want_body else None), gens

    def put(self, key: CacheKey, meta: EntryMeta, body: bytes, expire: int) -> bool:
        if len(body) > self.max_bytes:
            return False
        with self._mutex:
            current = self.generations(key.collection, key.item)
            seen = key.generations
            if not (
                same_generation(current[0], seen[0])
                and same_generation(current[1], seen[1])
                and current[2] == seen[2]
            ):
                return False
            gens = []
            for scope, cur in (((key.collection,), current[0]), (key.scope, current[1])):
                if cur == NO_GENERATION:
                    cur = new_generation(first_write=True)
                    self._set_gen(scope, cur)
                gens.append(cur)
            meta.gens = "/".join(gens)
            self._remove(key.id)
            self._entries[key.id] = (meta, bytes(body), self.clock.wall() + expire)
            self.bytes += len(body)
            self._index.setdefault(key.scope, {})[key.id] = meta.tile
            while self.bytes > self.max_bytes and self._entries:
                self._remove(next(iter(self._entries)))
            return True

    def _remove(self, key_id: str) -> bool:
        rec = self._entries.pop(key_id, None)
        if rec is None:
            return False
        self.bytes -= len(rec[1])
        parts = parse_id(key_id)
        if parts:
            idx = self._index.get((parts.collection, parts.item))
            if idx is not None:
                idx.pop(key_id, None)
                if not idx:
                    del self._index[(parts.collection, parts.item)]
        return True

    def discard(self, key: CacheKey) -> None:
        with self._mutex:
            self._remove(key.id)

    def get_blob(self, key):
        with self._mutex:
            rec = self._blobs.get(key)
            if rec is None or self.clock.wall() >= rec[1]:
                return None
            return rec[0]

    def put_blob(self, key, value, expire):
        with self._mutex:  # a few blobs (product metadata), bounded by count
            self._blobs[key] = (bytes(value), self.clock.wall() + expire)
            self._blobs.move_to_end(key)
            while len(self._blobs) > MAX_BLOBS:
                self._blobs.popitem(last=False)

    def scope_entries(self, collection, item) -> Iterator[IndexedEntry]:
        with self._mutex:
            found = [
                IndexedEntry(kid, tile)
                for (c, i), idx in self._index.items()
                if c == collection and (item is None or i == item)
                for kid, tile in idx.items()
            ]
        return iter(found)

    def delete_ids(self, ids):
        with self._mutex:
            return {"memory": sum(self._remove(i) for i in ids)}

    def exists_ids(self, ids):
        with self._mutex:
            return [i for i in ids if self._get(i) is not None]

    def scan(self, pattern, cursor, limit):
        with self._mutex:
            ids = sorted(self._entries)
        start = int(cursor or 0)
        out, pos = [], start
        while pos < len(ids) and len(out) < limit:
            if glob_match(ids[pos], pattern):
                out.append(ids[pos])
            pos += 1
        return out, (str(pos) if pos < len(ids) else None)

    def describe(self, key_id):
        with self._mutex:
            rec = self._entries.get(key_id)
            return rec[0] if rec else None

    def try_lock(self, key_id, token, ttl):
        return self._locks.try_lock(key_id, token, ttl)

    def unlock(self, key_id, token):
        self._locks.unlock(key_id, token)

    def refresh_lock(self, key_id, token, ttl):
        return self._locks.refresh_lock(key_id, token, ttl)

    def status(self):
        with self._mutex:
            return {
                "backend": self.name,
                "entries": len(self._entries),
                "bytes": self.bytes,
                "max_bytes": self.max_bytes,
                "scopes": len(self._gens),
            }
