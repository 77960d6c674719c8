"""Decoded chunks kept in-process, bounded in bytes, so neighbouring tiles reuse them.

A native Sentinel-2 r10m chunk is 5490 x 5490 (60 MB decoded, ~25 MB compressed): every tile at
z11-z14 needs one to four of them per band, and so does each of its neighbours. A warm Lambda
serves tiles in a row, so keeping the *decoded* chunks saves both the fetch and the decode
(bench/bench_fullsize.py measures both: decoding a native chunk costs about as much as fetching
it compressed from the loopback store, so caching compressed bytes would keep half the cost).

Keys carry a token unique to one opened product (never reused within the process), so a product
reopened after eviction from the catalog never sees another product's chunks.

No numpy import here: the cache room reads the counters without importing the tiler's stack.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any

_tokens = itertools.count(1)


def new_token() -> int:
    return next(_tokens)


class ChunkCache:
    """Thread-safe LRU of decoded chunks (numpy arrays), bounded by ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Any, Any] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = self.evictions = 0

    def get(self, key):
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def __contains__(self, key) -> bool:
        """Held now (not counted as a hit or miss, not moved up the LRU)."""
        with self._lock:
            return key in self._entries

    def put(self, key, value) -> None:
        size = int(value.nbytes)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= int(old.nbytes)
            self._entries[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= int(evicted.nbytes)
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> dict:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "entries": len(self._entries),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
            }


_process_cache: ChunkCache | None = None
_process_lock = threading.Lock()


def process_cache(max_bytes: int | None = None) -> ChunkCache:
    """The chunk cache of this process (created on first use, resized by later settings)."""
    global _process_cache
    with _process_lock:
        if _process_cache is None:
            _process_cache = ChunkCache(max_bytes if max_bytes is not None else 512 * 2**20)
        elif max_bytes is not None and max_bytes != _process_cache.max_bytes:
            _process_cache.max_bytes = max_bytes
        return _process_cache


def stats() -> dict | None:
    """Counters for /cache/status and the Lambda metrics; None before the tiler read anything."""
    return _process_cache.stats() if _process_cache is not None else None
