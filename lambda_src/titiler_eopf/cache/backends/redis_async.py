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

On one node a HIT's lookup is an ``exchange``: its commands, packed by ``redis_wire``,
written on a connection of the loop's own and the replies parsed in one pass (redis-py's
pipeline costs more than the round trip: see ``redis_wire``). The connections are
redis-py's (connected, TLS, AUTH and database selected by redis-py with the client's
options, the request sent by its ``send_packed_command``); only the replies bypass its
parser, read from the connection's stream (``_reader``: a redis-py upgrade that renames
it fails tests/cache/test_cache_wire.py). A connection is reused only after a complete
exchange: any error or cancellation closes it.
"""

from __future__ import annotations

import asyncio

from .redis_client import RedisConnection, client_options
from .redis_wire import read_replies


class AsyncRedis:
    def __init__(self, conn: RedisConnection):
        self.conn = conn
        self._clients: dict = {}  # event loop -> client
        self._spare: dict = {}  # event loop -> idle connections of ``exchange``

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
                self._spare.pop(old, None)
            client = self._clients[loop] = self._build()
            self._spare[loop] = []
        return client

    async def call(self, fn):
        """``await fn(client)`` behind the shared breaker."""
        client = self.client()
        refresh = None
        if self.conn.cluster:

            async def refresh():
                await client.nodes_manager.initialize()

        return await self.conn.breaker.acall(lambda: fn(client), before_probe=refresh)

    async def exchange(self, request: bytes, replies: int) -> list:
        """Send ``request`` (packed commands, one node) and read its ``replies`` replies:
        one round trip, behind the breaker (through ``call``), within the read timeout."""
        return await self.call(lambda client: self._exchange(client, request, replies))

    async def _exchange(self, client, request: bytes, replies: int) -> list:
        spare = self._spare[asyncio.get_running_loop()]
        conn = spare.pop() if spare else None
        if conn is not None and (conn._reader is None or conn._reader.at_eof()):
            _close(conn)  # closed by the server while idle
            conn = None
        if conn is None:
            conn = client.connection_pool.make_connection()
        try:
            if not conn.is_connected:
                await conn.connect()  # with the client's connect and handshake timeouts
            async with asyncio.timeout(self.conn.settings.redis_read_timeout):
                await conn.send_packed_command(request, check_health=False)
                got = await read_replies(conn._reader, replies)
        except BaseException:
            _close(conn)  # out of step with the server (or broken): never used again
            raise
        spare.append(conn)
        return got


def _close(conn) -> None:
    """Close a connection at once (no await: also when the lookup was cancelled), as
    redis-py's own ``disconnect`` leaves it (no stream: no "unclosed" warning later)."""
    if conn._writer is not None:
        conn._writer.transport.abort()
        conn._writer = conn._reader = None
