"""Production backend: Redis holds the index, the metadata and the hot bodies;
S3 holds every body durably.

A write goes to S3 first, then Redis: an entry is visible only once its body
exists. Bodies up to ``redis_body_max_bytes`` are also kept inline in the
Redis record, so a HIT on a hot tile is one Redis round trip (no S3 GET);
Redis evicts them with everything else (every key has a TTL). A larger body
is read from S3 and checked against the digest recorded in Redis.

When Redis has no record (evicted, or lost with a node), the S3 object is
the durable copy: its metadata carries the generations it was written under,
and if they are still current it is served and Redis is re-warmed from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from ..circuit import CacheError, CacheRejected
from ..clock import SYSTEM_CLOCK, Clock
from ..keys import CacheKey
from .base import NO_GENERATION, EntryMeta, IndexedEntry, Lookup
from .redis import RedisBackend, RedisConnection
from .s3 import S3Connection

log = logging.getLogger("titiler_eopf.cache.s3_redis")


class S3RedisBackend(RedisBackend):
    name = "s3_redis"
    _bodies_in_redis = False

    def __init__(
        self,
        settings,
        redis_conn: RedisConnection | None = None,
        s3_conn: S3Connection | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ):
        super().__init__(settings, redis_conn, clock=clock)
        self.s3 = s3_conn or S3Connection(settings, clock)

    def _body(self, key: CacheKey, meta: EntryMeta) -> bytes | None:
        got = self.s3.get(key.id)
        if got is None:
            log.warning("index entry without S3 body", extra={"key": key.id, "backend": self.name})
            return None
        return got[1]

    def _inline(self, body: bytes) -> bool:
        return len(body) <= self.settings.redis_body_max_bytes

    def put(self, key, meta, body, expire):
        gens = self.claim_generations(key)
        if gens is None:
            return False
        key = replace(key, generations=gens)
        meta.gens = f"{gens[0]}/{gens[1]}"
        meta.purge = gens[2]
        # A copy of the metadata rides on the object: a purge can still classify
        # (e.g. by tile) a body whose index was lost, and Redis can be re-warmed.
        self.s3.put(key.id, body, meta.content_type, meta.to_record())
        return self._write_meta(key, meta, body if self._inline(body) else None, expire)

    def _miss_blocks(self, gens) -> bool:
        return self.settings.s3_rewarm and NO_GENERATION not in gens[:2]

    def _missing(self, key, want_body, gens):
        if not self.settings.s3_rewarm or NO_GENERATION in gens[:2]:
            return None  # nothing was written under "no generation"
        got = self.s3.get(key.id)
        if got is None:
            return None
        meta = EntryMeta.from_record(got[0])
        body = got[1]
        if (
            meta is None
            or meta.gens != f"{gens[0]}/{gens[1]}"
            or meta.purge != gens[2]
            or len(body) != meta.size
        ):
            return None  # an older generation's object: overwritten by the next write
        remaining = int(meta.created + meta.ttl + self.settings.stale_if_error - self.clock.wall())
        if remaining > 0:
            try:
                self._write_meta(
                    replace(key, generations=gens),
                    meta,
                    body if self._inline(body) else None,
                    remaining,
                )
            except CacheError as exc:
                log.warning(
                    "re-warming Redis from S3 failed", extra={"key": key.id, "error": repr(exc)}
                )
        return Lookup(meta, body if want_body else None)

    def scope_entries(self, collection, item) -> Iterator[IndexedEntry]:
        seen = set()
        for entry in super().scope_entries(collection, item):
            seen.add(entry.id)
            yield entry
        # Bodies whose Redis index was lost (Redis restart, eviction) are found
        # by listing the scope's S3 folders, so a purge leaves nothing behind.
        # Needs s3:ListBucket (the admin Lambda has it; the tile Lambda does not).
        try:
            for prefix in self.s3.scope_prefixes(self.ns, collection, item):
                for kid in self.s3.list_ids(prefix):
                    if kid not in seen:
                        yield IndexedEntry(kid, "" if kid.startswith("meta/") else None)
        except CacheRejected as exc:
            log.info("S3 listing refused; purging indexed entries only", extra={"error": str(exc)})

    def delete_ids(self, ids):
        # Redis first: once the index entry is gone, the body is unreachable.
        return {"redis": self._delete_redis(ids), "s3": self.s3.delete(ids)}

    def exists_ids(self, ids):
        found = set(super().exists_ids(ids))
        try:
            found |= self.s3.existing(ids)
        except CacheRejected:
            pass
        return [i for i in ids if i in found]

    def describe(self, key_id):
        meta = super().describe(key_id)
        if meta is None:
            md = self.s3.head(key_id)
            meta = EntryMeta.from_record(md) if md is not None else None
        return meta

    def status(self):
        out = super().status()
        out["s3"] = self.s3.status()
        return out

    def breakers(self):
        return (self.conn.breaker, self.s3.breaker)
