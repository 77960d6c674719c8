"""Counters kept by the cache layer (per process).

The hit ratio is hits / (hits + misses): lookups that could have been served
from the cache. Writes, bypasses and errors are counted apart and never enter
the ratio (the public cache divided by every operation, writes included:
defect 6).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class CacheMetrics:
    hits: int = 0
    misses: int = 0
    stale: int = 0
    bypasses: int = 0
    errors: int = 0
    not_modified: int = 0  # 304s answered from metadata (counted in hits too)
    writes: int = 0
    write_errors: int = 0
    corrupt: int = 0  # entries whose body was missing or failed its digest
    bytes_served: int = 0  # bytes sent from the cache
    render_ms_saved: float = 0.0  # render time of the entries served from the cache
    lock_waits: int = 0
    lock_timeouts: int = 0
    outdated: int = 0  # entries found but written under older generations or source
    unstored: int = 0  # renders not stored: an invalidation happened while they ran
    blob_errors: int = 0  # shared product metadata not read or written (fail-open)
    _mutex: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def incr(self, name: str, amount: float = 1) -> None:
        with self._mutex:
            setattr(self, name, getattr(self, name) + amount)

    @property
    def hit_ratio(self) -> float | None:
        total = self.hits + self.misses
        return None if total == 0 else self.hits / total

    def snapshot(self) -> dict:
        with self._mutex:
            out = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        out["render_ms_saved"] = round(out["render_ms_saved"], 1)
        ratio = self.hit_ratio
        out["hit_ratio"] = None if ratio is None else round(ratio, 4)
        return out
