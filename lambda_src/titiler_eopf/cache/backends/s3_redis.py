"""Production backend: Redis holds the index and metadata, S3 the raw bytes.

A write goes to S3 first, then Redis: an entry is visible only once its body
exists. A read trusts Redis for metadata (a 304 or HEAD needs no S3 read) and
checks the body against the digest recorded in Redis; a missing or wrong body
is a miss (the middleware re-renders and the new write repairs it).
"""

from __future__ import annotations

import logging
from typing import Iterator

from ..circuit import CacheRejected
from ..keys import CacheKey
from .base import EntryMeta, IndexedEntry
from .redis import RedisBackend, RedisConnection
from .s3 import S3Connection

log = logging.getLogger("titiler_eopf.cache.s3_redis")


class S3RedisBackend(RedisBackend):
    name = "s3_redis"
    _bodies_in_redis = False

    def __init__(self, settings, redis_conn: RedisConnection | None = None, s3_conn: S3Connection | None = None):
        super().__init__(settings, redis_conn)
        self.s3 = s3_conn or S3Connection(settings)

    def _body(self, key: CacheKey, meta: EntryMeta) -> bytes | None:
        got = self.s3.get(key.id)
        if got is None:
            log.warning("index entry without S3 body", extra={"key": key.id, "backend": self.name})
            return None
        return got[1]

    def put(self, key, meta, body, expire):
        # Redis is the source of truth for metadata; a copy rides on the object
        # so a purge can still classify (e.g. by tile) a body whose index was lost.
        self.s3.put(key.id, body, meta.content_type, meta.to_record())
        self._write_meta(key, meta, None, expire)

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
