"""Circuit breaker, one per backend client.

After ``failures`` consecutive errors the breaker opens: calls fail at once
(no timeout paid) so requests bypass the cache with no added latency. After
``reset`` seconds one probe call is let through (half-open); its success closes
the breaker, its failure re-opens it for another ``reset``.

``before_probe`` (optional) runs inside the probe, before the call: a Redis
Cluster client refreshes its slot map there, so the probe after a failover
goes to the promoted replica and the breaker closes on its first success.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger("titiler_eopf.cache.circuit")
T = TypeVar("T")


class CacheError(Exception):
    """A backend call failed (timeout, connection, server error)."""


class CacheUnavailable(CacheError):
    """The breaker is open: the call was not attempted."""


class CacheRejected(CacheError):
    """The backend answered but refused the request (a 4xx): not an outage,
    so it does not count towards opening the breaker."""


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        failures: int,
        reset: float,
        clock: Callable[[], float] = time.monotonic,
        before_probe: Callable[[], object] | None = None,
    ):
        self.name = name
        self.threshold = failures
        self.reset = reset
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.opened_count = 0
        self.before_probe = before_probe

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._probing or self._clock() - self._opened_at >= self.reset:
                return "half-open"
            return "open"

    def _allow(self) -> str | None:
        """ "closed", "probe" (this caller is the one probe) or None (refused)."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._probing:
                return None
            if self._clock() - self._opened_at >= self.reset:
                self._probing = True
                return "probe"
            return None

    def _success(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                log.info("circuit closed", extra={"backend": self.name})
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def _failure(self, exc: BaseException) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or (self._opened_at is None and self._failures >= self.threshold):
                if self._opened_at is None or self._probing:
                    log.warning(
                        "circuit opened after %d failure(s): %r",
                        self._failures,
                        exc,
                        extra={"backend": self.name},
                    )
                self._opened_at = self._clock()
                self._probing = False
                self.opened_count += 1

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        allowed = self._allow()
        if allowed is None:
            raise CacheUnavailable(f"{self.name} circuit open")
        try:
            if allowed == "probe" and self.before_probe is not None:
                self.before_probe()
            result = fn(*args, **kwargs)
        except CacheRejected:
            self._success()
            raise
        except Exception as exc:  # any client error counts: the breaker must see them all
            self._failure(exc)
            raise CacheError(f"{self.name}: {exc!r}") from exc
        self._success()
        return result

    async def acall(
        self,
        fn: Callable[[], Awaitable[T]],
        before_probe: Callable[[], Awaitable[object]] | None = None,
    ) -> T:
        """``call`` for a coroutine (the asyncio lookup path): the same states,
        counted together with the blocking calls of the same client."""
        allowed = self._allow()
        if allowed is None:
            raise CacheUnavailable(f"{self.name} circuit open")
        try:
            if allowed == "probe" and before_probe is not None:
                await before_probe()
            result = await fn()
        except CacheRejected:
            self._success()
            raise
        except Exception as exc:  # any client error counts: the breaker must see them all
            self._failure(exc)
            raise CacheError(f"{self.name}: {exc!r}") from exc
        except BaseException:  # cancelled: neither a success nor a failure
            if allowed == "probe":
                with self._lock:
                    self._probing = False  # let the next caller probe
            raise
        self._success()
        return result
