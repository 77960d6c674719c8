"""The Redis client behind the backend: one node or a Redis Cluster, created
lazily, reused, behind a circuit breaker.

No client-side retries: a slow or dead Redis costs one timeout at most and
the breaker handles the rest. On a cluster, redis-py follows MOVED/ASK
itself (patching its slot map, re-reading it after repeated MOVED) and
re-reads the slot map after a connection error; the breaker's probe re-reads
it as well, so after a failover the probe reaches the promoted replica and
closes the breaker on its first success.
"""

from __future__ import annotations

import logging
import threading

from ..circuit import CircuitBreaker
from ..clock import SYSTEM_CLOCK, Clock
from .redis_layout import CLAIM_COLLECTION, CLAIM_ITEM, PUT_ENTRY, REFRESH, UNLOCK

log = logging.getLogger("titiler_eopf.cache.redis")


def _secret_password(arn: str) -> str:
    # Lazy: only deployments with a secret pay for boto3; explicit timeouts (titiler_eopf.aws).
    from titiler_eopf.aws import read_secret, secret_field

    # Accept a bare token or a JSON document {"password": ...} / {"token": ...}.
    return secret_field(read_secret(arn), ("password", "token", "auth_token", "authToken"))


def password_of(settings) -> str | None:
    s = settings
    if s.redis_password_secret_arn:
        return _secret_password(s.redis_password_secret_arn)
    return s.redis_password.get_secret_value() if s.redis_password else None


def client_options(settings, password: str | None) -> dict:
    """Connection options shared by the sync and asyncio clients, node or cluster."""
    s = settings
    return {
        "host": s.redis_host,
        "port": s.redis_port,
        "username": s.redis_username,
        "password": password,
        "ssl": s.redis_tls,
        "socket_connect_timeout": s.redis_connect_timeout,
        "socket_timeout": s.redis_read_timeout,
        "health_check_interval": 0,
        "lib_name": None,
        "lib_version": None,
    }


class RedisConnection:
    """Lazily created, reused client behind a circuit breaker."""

    def __init__(self, settings, clock: Clock = SYSTEM_CLOCK):
        self.settings = settings
        self.cluster = bool(getattr(settings, "redis_cluster", False))
        self.breaker = CircuitBreaker(
            "redis",
            settings.breaker_failures,
            settings.breaker_reset,
            clock=clock.monotonic,
            before_probe=self.refresh_topology if self.cluster else None,
        )
        self._client = None
        self._init_lock = threading.Lock()
        self._password: str | None = None
        self._password_read = False

    @property
    def password_known(self) -> bool:
        return self._password_read or not self.settings.redis_password_secret_arn

    def password(self) -> str | None:
        if not self._password_read:
            self._password = password_of(self.settings)
            self._password_read = True
        return self._password

    def _build(self):
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options = client_options(self.settings, self.password())
        if self.cluster:
            from redis.cluster import RedisCluster

            return RedisCluster(
                **options,
                retry=Retry(NoBackoff(), 0),
                # A shard without its master (before a replica is promoted) must not
                # refuse the whole client: its keys fail, the others still answer.
                require_full_coverage=False,
            )
        import redis

        return redis.Redis(**options, db=self.settings.redis_db, retry=Retry(NoBackoff(), 0))

    @property
    def client(self):
        if self._client is None:
            with self._init_lock:
                if self._client is None:
                    client = self._build()
                    self.unlock_script = client.register_script(UNLOCK)
                    self.refresh_script = client.register_script(REFRESH)
                    self.claim_collection = client.register_script(CLAIM_COLLECTION)
                    self.claim_item = client.register_script(CLAIM_ITEM)
                    self.put_entry = client.register_script(PUT_ENTRY)
                    self._client = client
        return self._client

    def refresh_topology(self) -> None:
        """Re-read the cluster's slot map (the breaker's probe; raises when no node
        answers, which counts as the probe's failure)."""
        if self._client is not None:
            self._client.nodes_manager.initialize()

    def call(self, fn, *args, **kwargs):
        def run():
            return fn(self.client, *args, **kwargs)

        return self.breaker.call(run)

    def primaries(self) -> list:
        """Nodes to SCAN: the cluster's masters in a stable order (one node: [None])."""
        if not self.cluster:
            return [None]
        return sorted(self.client.get_primaries(), key=lambda n: n.name)
