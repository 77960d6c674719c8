"""S3 backend: bodies in S3, metadata as S3 object metadata, no Redis.

S3 layout (under ``s3_prefix``, default ``cache/``):

* ``{prefix}tile/{ns}/{c}/{i}/{digest}``   tile bodies
* ``{prefix}meta/{ns}/{c}/{i}/{digest}``   every other kind (tilejson, info, ...)
* ``{prefix}gen/{ns}/{c}.gen`` and ``{prefix}gen/{ns}/{c}/{i}.gen``
                                          generation tokens (S3-only backend)
* ``{prefix}blob/{ns}/{key}``             raw blobs (the tiler's shared product metadata,
                                          S3-only backend; s3_redis keeps them in Redis)

The object key after the prefix is the same ``id`` the Redis backend uses,
so Redis and S3 can never disagree about which object an entry is.

The tile Lambda may only Get/Put under the prefix. Without s3:ListBucket a
missing object answers 403 instead of 404: both are a miss, not an outage.

S3-only generations: a ``.gen`` object is written when the first entry of a
scope is stored or when the scope is invalidated, never by a lookup. Each
process re-reads a generation at most every ``s3_generation_refresh`` seconds
(S3 has no cheap read to do on every request), so an invalidation reaches
other processes within that bound (1 s by default); the process that
invalidates sees it at once. The ``gen/`` objects have no lifecycle rule on
purpose: a generation is written once per scope and never refreshed by the
entries stored under it, so expiring it would turn a hot item into misses
(one small object per collection and item costs nothing to keep). A lost or
deleted generation reads as "0", which no entry was written under: a miss,
never a stale hit.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import threading
from collections.abc import Iterator

from ..circuit import CacheRejected, CircuitBreaker
from ..clock import SYSTEM_CLOCK, Clock
from ..keys import CacheKey, parse_id, q
from .base import (
    NO_GENERATION,
    Backend,
    EntryMeta,
    IndexedEntry,
    LocalLocks,
    Lookup,
    glob_literal,
    new_generation,
    same_generation,
)

log = logging.getLogger("titiler_eopf.cache.s3")

_MISSING = {"NoSuchKey", "404", "NotFound", "AccessDenied", "403"}
_REJECTED_PREFIX = "4"


class S3Connection:
    def __init__(self, settings, clock: Clock = SYSTEM_CLOCK):
        self.settings = settings
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.breaker = CircuitBreaker(
            "s3", settings.breaker_failures, settings.breaker_reset, clock=clock.monotonic
        )
        self._client = None
        self._init_lock = threading.Lock()

    def _build(self):
        import boto3
        from botocore.config import Config

        s = self.settings
        creds = {}
        if s.s3_aws_access_key_id:
            creds = {
                "aws_access_key_id": s.s3_aws_access_key_id,
                "aws_secret_access_key": s.s3_aws_secret_access_key.get_secret_value(),
            }
        session = boto3.session.Session(region_name=s.s3_region, **creds)
        config = Config(
            connect_timeout=s.s3_connect_timeout,
            read_timeout=s.s3_read_timeout,
            # One attempt: a slow S3 costs one timeout, the breaker does the rest.
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"} if s.s3_endpoint_url else {},
            max_pool_connections=32,
        )
        return session.client("s3", endpoint_url=s.s3_endpoint_url, config=config)

    @property
    def client(self):
        if self._client is None:
            with self._init_lock:
                if self._client is None:
                    self._client = self._build()
        return self._client

    def call(self, fn, *args, **kwargs):
        from botocore.exceptions import ClientError

        def run():
            try:
                return fn(self.client, *args, **kwargs)
            except ClientError as exc:
                err = exc.response.get("Error", {})
                status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
                if status.startswith(_REJECTED_PREFIX) or err.get("Code") in _MISSING:
                    raise CacheRejected(f"s3 {err.get('Code')}: {err.get('Message')}") from exc
                raise

        return self.breaker.call(run)

    @staticmethod
    def is_missing(exc: CacheRejected) -> bool:
        cause = exc.__cause__
        code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause else None
        return code in _MISSING

    # --- object helpers ---------------------------------------------------
    def key(self, key_id: str) -> str:
        return f"{self.prefix}{key_id}"

    def get(self, key_id: str) -> tuple[dict, bytes] | None:
        def op(c):
            resp = c.get_object(Bucket=self.bucket, Key=self.key(key_id))
            return resp.get("Metadata", {}), resp["Body"].read()

        try:
            return self.call(op)
        except CacheRejected as exc:
            if self.is_missing(exc):
                return None
            raise

    def head(self, key_id: str) -> dict | None:
        try:
            return self.call(
                lambda c: c.head_object(Bucket=self.bucket, Key=self.key(key_id)).get(
                    "Metadata", {}
                )
            )
        except CacheRejected as exc:
            if self.is_missing(exc):
                return None
            raise

    def put(self, key_id: str, body: bytes, content_type: str, metadata: dict[str, str]) -> None:
        self.call(
            lambda c: c.put_object(
                Bucket=self.bucket,
                Key=self.key(key_id),
                Body=body,
                ContentType=content_type or "application/octet-stream",
                Metadata=metadata,
            )
        )

    def list_ids(self, prefix_id: str, start_after: str | None = None, max_keys: int = 1000):
        """Yield ids (keys without the prefix) under ``prefix_id``, in key order."""
        kwargs = {"Bucket": self.bucket, "Prefix": self.key(prefix_id), "MaxKeys": max_keys}
        if start_after:
            kwargs["StartAfter"] = self.key(start_after)
        while True:
            resp = self.call(lambda c, kw=dict(kwargs): c.list_objects_v2(**kw))
            for obj in resp.get("Contents", []):
                yield obj["Key"][len(self.prefix) :]
            if not resp.get("IsTruncated"):
                return
            kwargs.pop("StartAfter", None)
            kwargs["ContinuationToken"] = resp["NextContinuationToken"]

    def existing(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` exist: one List per scope folder (not one HEAD per key)."""
        folders: dict[str, set[str]] = {}
        for kid in ids:
            folders.setdefault(kid.rsplit("/", 1)[0] + "/", set()).add(kid)
        found: set[str] = set()
        for folder, wanted in folders.items():
            found |= {k for k in self.list_ids(folder) if k in wanted}
        return found

    def delete(self, ids: list[str]) -> int:
        """DeleteObjects in batches of 1000; returns what actually existed and was deleted."""
        if not ids:
            return 0
        try:
            present = self.existing(ids)
        except CacheRejected:
            present = None  # no List permission: trust DeleteObjects' report
        targets = sorted(present) if present is not None else list(ids)
        deleted = 0
        for start in range(0, len(targets), 1000):
            chunk = targets[start : start + 1000]
            resp = self.call(
                lambda c, chunk=chunk: c.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self.key(k)} for k in chunk], "Quiet": False},
                )
            )
            for err in resp.get("Errors", []):
                log.warning(
                    "S3 delete failed", extra={"key": err.get("Key"), "error": err.get("Code")}
                )
            deleted += len(resp.get("Deleted", []))
        return deleted

    def scope_prefixes(self, ns: str, collection: str, item: str | None) -> list[str]:
        tail = f"{q(collection)}/" + (f"{q(item)}/" if item is not None else "")
        return [f"tile/{ns}/{tail}", f"meta/{ns}/{tail}"]

    def scan(self, pattern: str, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
        """Glob over entry ids with List (prefix = the literal head of the pattern);
        the cursor is the last id returned (StartAfter), so a page is never skipped."""
        out: list[str] = []
        seen = 0
        for kid in self.list_ids(glob_literal(pattern), start_after=cursor):
            seen += 1
            if parse_id(kid) and fnmatch.fnmatchcase(kid, pattern):
                out.append(kid)
                if len(out) >= limit:
                    return out, kid
            if seen >= 100_000:  # bounded: hand back a cursor rather than run on
                return out, kid
        return out, None

    def status(self) -> dict:
        out = {"circuit": self.breaker.state}
        try:
            self.call(lambda c: c.head_bucket(Bucket=self.bucket))
            out["reachable"] = True
        except CacheRejected:
            out["reachable"] = True  # answered (e.g. no ListBucket right): reachable
        except Exception as exc:
            out["reachable"] = False
            out["error"] = type(exc).__name__
        return out


class S3Backend(Backend):
    name = "s3"

    def __init__(self, settings, conn: S3Connection | None = None, *, clock: Clock = SYSTEM_CLOCK):
        self.settings = settings
        self.ns = settings.namespace
        self.s3 = conn or S3Connection(settings, clock)
        self.clock = clock
        # Per-process memo of generations read from S3, bounded (LRU), re-read after
        # ``s3_generation_refresh`` seconds of ``clock``.
        from cachetools import LRUCache

        self._gens: LRUCache = LRUCache(maxsize=4096)
        self._gens_lock = threading.Lock()
        self._locks = LocalLocks(clock.monotonic)

    # --- generations ---------------------------------------------------------
    def _gen_id(self, collection, item=None):
        base = f"gen/{self.ns}/{q(collection)}"
        return f"{base}.gen" if item is None else f"{base}/{q(item)}.gen"

    def _read_gen(self, collection, item=None, *, fresh: bool = False) -> str:
        ck = (collection,) if item is None else (collection, item)
        with self._gens_lock:
            cached = self._gens.get(ck)
        if (
            not fresh
            and cached
            and self.clock.monotonic() - cached[1] < self.settings.s3_generation_refresh
        ):
            return cached[0]
        got = self.s3.get(self._gen_id(collection, item))
        gen = got[1].decode() if got else NO_GENERATION
        with self._gens_lock:
            self._gens[ck] = (gen, self.clock.monotonic())
        return gen

    def _remember(self, collection, item, gen) -> None:
        with self._gens_lock:
            self._gens[(collection,) if item is None else (collection, item)] = (
                gen,
                self.clock.monotonic(),
            )

    def generations(self, collection, item):
        # No purge token here: without an atomic store the S3-only backend cannot
        # order a write against a purge (its locks are per process too).
        return self._read_gen(collection), self._read_gen(collection, item), NO_GENERATION

    def _claim(self, collection, item=None) -> str | None:
        """Create a scope's generation (first writer wins: If-None-Match); None
        when an invalidation created it meanwhile."""
        gid = self._gen_id(collection, item)
        gen = new_generation(first_write=True)
        try:
            self.s3.call(
                lambda c: c.put_object(
                    Bucket=self.s3.bucket, Key=self.s3.key(gid), Body=gen.encode(), IfNoneMatch="*"
                )
            )
        except CacheRejected:
            got = self.s3.get(gid)
            gen = got[1].decode() if got else gen
            if not gen.startswith("w"):
                return None
        self._remember(collection, item, gen)
        return gen

    def bump(self, collection, item=None):
        gen = new_generation()
        gid = self._gen_id(collection, item)
        self.s3.call(
            lambda c: c.put_object(Bucket=self.s3.bucket, Key=self.s3.key(gid), Body=gen.encode())
        )
        self._remember(collection, item, gen)
        return gen

    # --- entries ---------------------------------------------------------------
    def lookup(self, key: CacheKey, want_body: bool):
        gens = self.generations(key.collection, key.item)
        if want_body:
            got = self.s3.get(key.id)
            if got is None:
                return None, gens
            md, body = got
        else:
            md = self.s3.head(key.id)
            if md is None:
                return None, gens
            body = None
        meta = EntryMeta.from_record(md)
        if meta is None:
            from .base import BROKEN

            return Lookup(BROKEN, None), gens
        return Lookup(meta, body), gens

    def put(self, key, meta, body, expire):
        # Not atomic like Redis's script: the generations are re-read from S3
        # just before the write, which narrows the race with an invalidation
        # to the time of one PUT.
        current = (
            self._read_gen(key.collection, fresh=True),
            self._read_gen(key.collection, key.item, fresh=True),
        )
        if not all(
            same_generation(c, s) for c, s in zip(current, key.generations[:2], strict=True)
        ):
            return False
        gc = current[0] if current[0] != NO_GENERATION else self._claim(key.collection)
        gi = current[1] if current[1] != NO_GENERATION else self._claim(key.collection, key.item)
        if gc is None or gi is None:
            return False
        meta.gens = f"{gc}/{gi}"
        self.s3.put(key.id, body, meta.content_type, meta.to_record())
        return True

    def discard(self, key):
        # The tile Lambda has no s3:DeleteObject: the repair is the overwrite.
        return None

    # --- raw blobs (product metadata shared by the tiler) ---------------------------
    # S3 has no TTL: the expiry (epoch seconds) rides in the object's metadata and a read
    # past it is a miss, as in memory and Redis; the bucket's lifecycle rule on ``blob/``
    # deletes the objects.
    def _blob_id(self, key: str) -> str:
        return f"blob/{self.ns}/{key}"

    def get_blob(self, key):
        got = self.s3.get(self._blob_id(key))
        if got is None:
            return None
        metadata, value = got
        try:
            expires = float(metadata["expires"])
        except (KeyError, ValueError):
            return None  # not written by put_blob: never trusted
        return value if self.clock.wall() < expires else None

    def put_blob(self, key, value, expire):
        # Rounded down to the millisecond written: rounding to nearest could keep a blob up
        # to 0.5 ms past its TTL (a test on a clock moved by exactly the TTL saw it half the time).
        expires = f"{math.floor((self.clock.wall() + expire) * 1000) / 1000:.3f}"
        self.s3.put(self._blob_id(key), value, "application/octet-stream", {"expires": expires})

    # --- invalidation ------------------------------------------------------------
    def scope_entries(self, collection, item) -> Iterator[IndexedEntry]:
        for prefix in self.s3.scope_prefixes(self.ns, collection, item):
            for kid in self.s3.list_ids(prefix):
                if parse_id(kid):
                    yield IndexedEntry(kid, None if kid.startswith("tile/") else "")

    def delete_ids(self, ids):
        return {"s3": self.s3.delete(ids)}

    def exists_ids(self, ids):
        present = self.s3.existing(ids)
        return [i for i in ids if i in present]

    def scan(self, pattern, cursor, limit):
        return self.s3.scan(pattern, cursor, limit)

    def describe(self, key_id):
        md = self.s3.head(key_id)
        return EntryMeta.from_record(md) if md is not None else None

    def try_lock(self, key_id, token, ttl):
        return self._locks.try_lock(key_id, token, ttl)

    def unlock(self, key_id, token):
        self._locks.unlock(key_id, token)

    def refresh_lock(self, key_id, token, ttl):
        return self._locks.refresh_lock(key_id, token, ttl)

    def status(self):
        return {"backend": self.name, "s3": self.s3.status()}

    def breakers(self):
        return (self.s3.breaker,)
