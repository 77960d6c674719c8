"""Where the cache reads the time: one object, passed down to every part that needs it.

Production uses the system clocks. Tests pass a ``ManualClock`` and advance it, so a
breaker's reset or an entry's expiry is reached by moving the clock instead of sleeping
past it (and a loaded machine cannot reach it early).
"""

from __future__ import annotations

import time


class Clock:
    def monotonic(self) -> float:
        """Seconds for intervals (circuit breakers): never jumps with the wall clock."""
        return time.monotonic()

    def wall(self) -> float:
        """Epoch seconds (entry creation, freshness, expiry): shared by processes."""
        return time.time()


class ManualClock(Clock):
    """A clock that moves only when told to (both readings together).

    ``monotonic`` counts the seconds advanced from 0, so an interval is the exact sum of the
    steps: on epoch seconds, ``1.7e9 + 0.3 - 1.7e9`` is 0.29999995, and a window of 0.3 s
    moved by 0.3 would not be past."""

    def __init__(self, start: float | None = None):
        self.start = time.time() if start is None else start
        self.elapsed = 0.0

    @property
    def now(self) -> float:
        return self.start + self.elapsed

    def monotonic(self) -> float:
        return self.elapsed

    def wall(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds


SYSTEM_CLOCK = Clock()
