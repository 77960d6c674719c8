"""The stampede lock: one render per key at a time, across processes where the backend can.

    lock = StampedeLock(cache, key_id)
    if await lock.acquire():
        async with lock.held():   # renewed while the body runs, released after it
            ...render and store...
    else:
        async for _ in lock.waiting():   # poll rhythm, bounded by ``lock_wait``
            ...look for the holder's result, or try ``acquire`` again...

The holder renews the lock every ``lock_ttl / 3`` while it renders, so a lock outlives
its holder (a crash, a failed release, a timed-out SET the store applied) by at most
``lock_ttl``. Release is compare-and-delete: it never removes another worker's lock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from .circuit import CacheError

if TYPE_CHECKING:
    from .core import TileCache

log = logging.getLogger("titiler_eopf.cache.stampede")

# Longest pause between two polls of a waiter (the first is ``lock_poll``, growing by half).
MAX_POLL = 0.25


class StampedeLock:
    def __init__(self, cache: TileCache, key_id: str):
        self.cache = cache
        self.key_id = key_id
        self.token = uuid.uuid4().hex
        self.ttl = cache.settings.lock_ttl

    async def acquire(self) -> bool:
        """Take the lock if it is free; raises ``CacheError`` when the lock store fails."""
        return await self.cache.run(self.cache.backend.try_lock, self.key_id, self.token, self.ttl)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[StampedeLock]:
        """While we hold the lock: renew it in the background, release it on the way out."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._heartbeat)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
        finally:
            await self.release()

    async def _heartbeat(self) -> None:
        backend = self.cache.backend
        while True:
            await anyio.sleep(self.ttl / 3)
            try:
                if not await self.cache.run(
                    backend.refresh_lock, self.key_id, self.token, self.ttl
                ):
                    return  # lost it (expired during a fault): another worker may render too
            except CacheError:
                return

    async def release(self) -> None:
        try:
            await self.cache.run(self.cache.backend.unlock, self.key_id, self.token)
        except CacheError as exc:
            log.warning(
                "lock release failed; retrying in the background",
                extra={"key": self.key_id, "error": repr(exc)},
            )
            self.release_later()

    def release_later(self) -> None:
        """Release from a background thread, retried (the store may have applied a lock
        whose SET timed out: it may be ours)."""
        self.cache.release_later(self.key_id, self.token)

    async def waiting(self) -> AsyncIterator[None]:
        """Yields after each poll interval (``lock_poll``, growing to ``MAX_POLL``) until
        ``lock_wait`` seconds have passed since the wait began."""
        settings = self.cache.settings
        deadline = anyio.current_time() + settings.lock_wait
        delay = settings.lock_poll
        while (left := deadline - anyio.current_time()) > 0:
            await anyio.sleep(min(delay, left))
            delay = min(delay * 1.5, MAX_POLL)
            yield
