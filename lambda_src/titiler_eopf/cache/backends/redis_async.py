"""The asyncio Redis path for lookups: a HIT read on the event loop, without a
worker-thread hop.

One ``redis.asyncio`` client (and so one connection pool) per event loop: an
asyncio connection belongs to the loop that opened it. On Lambda, Mangum keeps
one loop for the container's life, so there is one client; a test client that
runs each app in its own loop gets one per loop, dropped once that loop is closed.

The same settings as the blocking client (node or cluster, TLS, AUTH, no
retries, the same timeouts) and the same circuit breaker: a failure seen on
either path opens it for both, a probe on either closes it. A cluster
client's probe re-reads the slot map first, as on the blocking path.
"""

from __future__ import annotations

import asyncio

from .redis_client import RedisConnection, client_options


class AsyncRedis:
    def __init__(self, conn: RedisConnection):
        self.conn = conn
        self._clients: dict = {}  # event loop -> client

    @property
    def ready(self) -> bool:
        """Usable without blocking the loop: the password (maybe a Secrets Manager
        read) was fetched by the blocking client already."""
        return self.conn.password_known

    def _build(self):
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        options = client_options(self.conn.settings, self.conn.password())
        if self.conn.cluster:
            from redis.asyncio.cluster import RedisCluster

            return RedisCluster(**options, retry=Retry(NoBackoff(), 0), require_full_coverage=False)
        from redis.asyncio import Redis

        return Redis(**options, db=self.conn.settings.redis_db, retry=Retry(NoBackoff(), 0))

    def client(self):
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A closed loop's client can never be used again: drop it (its sockets go
            # with it) rather than keep one per loop a process ever ran.
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            client = self._clients[loop] = self._build()
        return client

    async def call(self, fn):
        """``await fn(client)`` behind the shared breaker."""
        client = self.client()
        refresh = None
        if self.conn.cluster:

            async def refresh():
                await client.nodes_manager.initialize()

        return await self.conn.breaker.acall(lambda: fn(client), before_probe=refresh)
