"""Where the cache reads the time: one object, passed down to every part that needs it.

Production uses the system clocks. Tests pass a clock they advance, so a breaker's reset
or an entry's expiry is reached by moving the clock instead of sleeping past it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    # Seconds for intervals (circuit breakers): never jumps with the wall clock.
    monotonic: Callable[[], float] = time.monotonic
    # Epoch seconds (entry creation, freshness, expiry): stored in entries, shared by processes.
    wall: Callable[[], float] = time.time


SYSTEM_CLOCK = Clock()
