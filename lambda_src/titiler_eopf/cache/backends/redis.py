"""Redis backend: metadata (and, without S3, the bodies) in Redis, on one node
or on a Redis Cluster (``TITILER_EOPF_CACHE_REDIS_CLUSTER=true``).

The keys, the hash tags and the write scripts are described in
``redis_layout``: per collection a generation and a purge token, per item a
generation, a purge token, an index of its entries and the entries.

A HIT is one round trip: the collection's generation and purge token, the
item's, and the entry, read together (on a node two commands written at once,
on a cluster a pipeline: at most two round trips in parallel), and the entry
counts only if it was written under those generations. Generation keys are
created when the first entry of a scope is stored (a lookup creates nothing)
and carry a TTL at least as long as any entry written under them, so every key
this backend writes expires (ElastiCache's ``volatile-lru`` can evict all of
them). A lost generation reads as ``0``, which no entry was written under:
losing it is a miss, never a stale hit.

A write stores only if the scope's generations are still those the render
started under (a render racing an invalidation is never stored after it), and
a reader never sees half a record (each script is atomic).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from urllib.parse import unquote

import anyio.to_thread

from ..clock import SYSTEM_CLOCK, Clock
from ..keys import CacheKey, parse_id, q
from .base import (
    BROKEN,
    NEEDS_THREAD,
    NO_GENERATION,
    Backend,
    EntryMeta,
    IndexedEntry,
    Lookup,
    glob_match,
    new_generation,
)
from .redis_async import AsyncRedis
from .redis_client import RedisConnection
from .redis_layout import RedisLayout, purge_token, split_purge_token
from .redis_wire import command, packed_args

log = logging.getLogger("titiler_eopf.cache.redis")

META_FIELDS = (
    "status",
    "content_type",
    "size",
    "sha256",
    "created",
    "ttl",
    "kind",
    "headers",
    "render_ms",
    "tile",
    "gens",
    "src",
)
# The HMGET's field names, packed once (the asyncio lookup on one node: ``_lookup_request``).
PACKED_FIELDS = {
    False: (packed_args(META_FIELDS), len(META_FIELDS)),
    True: (packed_args(META_FIELDS + ("body",)), len(META_FIELDS) + 1),
}
BATCH = 500
# Key listing cursors (see ``RedisBackend.scan``): the master scanned (on a cluster) and the
# SCAN cursor there.
NODE_CURSOR = 2**64
MAX_NODES = 1024


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBackend(Backend):
    name = "redis"
    cross_process_lock = True

    def __init__(
        self, settings, conn: RedisConnection | None = None, *, clock: Clock = SYSTEM_CLOCK
    ):
        self.settings = settings
        self.ns = settings.namespace
        self.clock = clock
        self.conn = conn or RedisConnection(settings, clock)
        self.keys = RedisLayout(self.ns, self.conn.cluster)
        self.aio = AsyncRedis(self.conn)
        # The generations' MGET of a scope, packed once (key names are a function of it).
        self._generations_request = functools.lru_cache(maxsize=1024)(self._mget_generations)

    # --- generations ------------------------------------------------------
    def _queue_generations(self, pipe, collection: str, item: str) -> None:
        """One MGET on a node (one command to pack and one reply to parse: the HIT path
        pays per command); four GETs on a cluster (its pipeline refuses MGET), two per
        slot. ``_split_generations`` reads either back."""
        names = self._generation_keys(collection, item)
        if self.conn.cluster:
            for name in names:
                pipe.get(name)
        else:
            pipe.mget(names)

    def _generation_keys(self, collection: str, item: str) -> tuple[str, str, str, str]:
        k = self.keys
        return (
            k.gen_collection(collection),
            k.purge_collection(collection),
            k.gen_item(collection, item),
            k.purge_item(collection, item),
        )

    def _split_generations(self, replies: list) -> tuple[tuple[str, str, str], list]:
        """The generations queued by ``_queue_generations`` and the replies after them."""
        if self.conn.cluster:
            vals, rest = replies[:4], replies[4:]
        else:
            vals, rest = replies[0], replies[1:]
        gc, pc, gi, pi = (_text(v) if v else NO_GENERATION for v in vals)
        return (gc, gi, purge_token(pc, pi)), rest

    def generations(self, collection, item):
        def op(r):
            pipe = r.pipeline(transaction=False)
            self._queue_generations(pipe, collection, item)
            return pipe.execute()

        return self._split_generations(self.conn.call(op))[0]

    @property
    def _gen_ttl(self) -> int:
        """Longest life of any entry: a bumped generation outlives them all."""
        s = self.settings
        return (
            max(s.tile_ttl, s.default_ttl, s.metadata_ttl or 0, s.preview_ttl or 0)
            + s.stale_if_error
        )

    def bump(self, collection, item=None):
        """One SET of one key, on a cluster too: every entry of the scope becomes a miss."""
        gen = new_generation()
        key = (
            self.keys.gen_collection(collection)
            if item is None
            else self.keys.gen_item(collection, item)
        )
        self.conn.call(lambda r: r.set(key, gen, ex=self._gen_ttl))
        return gen

    def bump_purge(self, collection):
        """The collection's purge token, then each registered item's (see
        ``redis_layout``): one SET plus one per item, pipelined per node."""
        ttl = self._gen_ttl
        self.conn.call(
            lambda r: r.set(self.keys.purge_collection(collection), new_generation(), ex=ttl)
        )
        members = self.conn.call(lambda r: r.smembers(self.keys.items(collection)))
        items = sorted(unquote(_text(m)) for m in members)
        for start in range(0, len(items), BATCH):

            def op(r, chunk=items[start : start + BATCH]):
                pipe = r.pipeline(transaction=False)
                for it in chunk:
                    pipe.set(self.keys.purge_item(collection, it), new_generation(), ex=ttl)
                return pipe.execute()

            self.conn.call(op)

    # --- entries ----------------------------------------------------------
    # s3_redis keeps bodies in S3 and overrides these two.
    _bodies_in_redis = True

    def _body(self, key: CacheKey, meta: EntryMeta) -> bytes | None:
        return None

    def _queue_lookup(self, pipe, key: CacheKey, fields: tuple[str, ...]) -> None:
        """Generations and entry fields in one pipeline (one round trip per node)."""
        self._queue_generations(pipe, key.collection, key.item)
        pipe.hmget(self.keys.entry(key.id), fields)

    def _answer(self, fields, replies) -> tuple[tuple[str, str, str], dict]:
        gens, (vals,) = self._split_generations(replies)
        rec = {f: v for f, v in zip(fields, vals, strict=True) if v is not None}
        return gens, rec

    def _read(self, key: CacheKey, fields: tuple[str, ...]):
        def op(r):
            pipe = r.pipeline(transaction=False)
            self._queue_lookup(pipe, key, fields)
            return pipe.execute()

        return self._answer(fields, self.conn.call(op))

    @staticmethod
    def _fields(want_body: bool) -> tuple[str, ...]:
        return META_FIELDS + (("body",) if want_body else ())

    def lookup(self, key: CacheKey, want_body: bool):
        gens, rec = self._read(key, self._fields(want_body))
        return self._found(key, want_body, gens, rec), gens

    def _found(self, key: CacheKey, want_body: bool, gens, rec: dict) -> Lookup | None:
        if not rec:
            return self._missing(key, want_body, gens)
        body = rec.pop("body", None)
        meta = EntryMeta.from_record(rec)
        if meta is None:
            log.warning("malformed metadata record", extra={"key": key.id, "backend": self.name})
            return Lookup(BROKEN, None)
        if self._body_elsewhere(want_body, meta, body):
            body = self._body(key, meta)
        return Lookup(meta, body)

    def _body_elsewhere(self, want_body: bool, meta: EntryMeta, body) -> bool:
        return want_body and body is None and meta.size > 0 and not self._bodies_in_redis

    # --- the asyncio lookup (a HIT without a worker-thread hop) -----------------
    @property
    def async_lookup(self) -> bool:
        return self.settings.redis_async and self.aio.ready

    async def lookup_async(self, key: CacheKey, want_body: bool):
        """``lookup`` on the event loop; ``NEEDS_THREAD`` when a miss needs a blocking
        call (the S3 re-warm of s3_redis): ask ``lookup`` then. On one node the commands
        go as bytes (``AsyncRedis.exchange``: redis-py's pipeline costs more than the round
        trip), on a cluster as redis-py's pipeline (slots, MOVED). A body kept in S3 only
        (s3_redis) is read in a worker thread, and that read alone: the record and the
        generations read here stand (no second Redis round trip)."""
        fields = self._fields(want_body)
        if self.conn.cluster:

            async def op(r):
                pipe = r.pipeline(transaction=False)
                self._queue_lookup(pipe, key, fields)
                return await pipe.execute()

            replies = await self.aio.call(op)
        else:
            replies = await self.aio.exchange(self._lookup_request(key, want_body), 2)
        gens, rec = self._answer(fields, replies)
        if not rec and self._miss_blocks(gens):
            return NEEDS_THREAD
        if rec and "body" not in rec:
            meta = EntryMeta.from_record(rec)
            if meta is not None and self._body_elsewhere(want_body, meta, None):
                body = await anyio.to_thread.run_sync(self._body, key, meta)
                return Lookup(meta, body), gens
        return self._found(key, want_body, gens, rec), gens

    def _lookup_request(self, key: CacheKey, want_body: bool) -> bytes:
        """``_queue_lookup``'s commands on one node, as bytes: the MGET of the
        generations and the HMGET of the entry's fields."""
        tail, count = PACKED_FIELDS[want_body]
        return self._generations_request(*key.scope) + command(
            "HMGET", self.keys.entry(key.id), tail=tail, tail_count=count
        )

    def _mget_generations(self, collection: str, item: str) -> bytes:
        return command("MGET", *self._generation_keys(collection, item))

    def _miss_blocks(self, gens) -> bool:
        """Would ``_missing`` make a blocking call (s3_redis: the S3 copy)?"""
        return False

    def _missing(self, key: CacheKey, want_body: bool, gens: tuple[str, str]) -> Lookup | None:
        """No entry in Redis (s3_redis looks in S3 before calling it a miss)."""
        return None

    def _claim_collection(self, key: CacheKey, expire: int) -> str | None:
        """The collection generation to write under (created on a first write), with
        the item registered in the collection; None when it or the purge token moved."""
        k = self.keys
        seen_c = key.generations[0]
        seen_pc = split_purge_token(key.generations[2])[0]
        args = [seen_c, new_generation(True), self._gen_ttl, seen_pc, q(key.item), expire]
        keys = [k.gen_collection(key.collection), k.purge_collection(key.collection)]
        keys.append(k.items(key.collection))
        got = self.conn.call(lambda r: self.conn.claim_collection(keys=keys, args=args, client=r))
        return _text(got) if got else None

    def _write_meta(self, key: CacheKey, meta: EntryMeta, body: bytes | None, expire: int) -> bool:
        """Conditional write (see ``redis_layout``): claim the collection, then write
        the entry in the item's slot; sets ``meta.gens`` to the generations written under."""
        expire = max(int(expire), 1)
        gc = self._claim_collection(key, expire)
        if gc is None:
            return False
        record: dict = meta.to_record()
        record.pop("gens", None)
        if body is not None:
            record["body"] = body
        k = self.keys
        keys = [
            k.gen_item(*key.scope),
            k.purge_item(*key.scope),
            k.entry(key.id),
            k.index(*key.scope),
        ]
        args: list = [
            key.generations[1],
            new_generation(True),
            max(expire, self._gen_ttl),
            split_purge_token(key.generations[2])[1],
            expire,
            key.id,
            meta.tile,
            gc,
        ]
        for name, value in record.items():
            args += [name, value]
        written = self.conn.call(lambda r: self.conn.put_entry(keys=keys, args=args, client=r))
        if not written:
            return False
        meta.gens = _text(written)
        return True

    def put(self, key, meta, body, expire):
        return self._write_meta(key, meta, body, expire)

    def claim_generations(self, key: CacheKey) -> tuple[str, str, str] | None:
        """The generations an entry of ``key`` will be written under, creating
        the missing ones; None when they moved since the lookup."""
        seen = key.generations
        if NO_GENERATION not in seen[:2]:
            return seen
        gc = self._claim_collection(key, self._gen_ttl)
        if gc is None:
            return None
        k = self.keys
        keys = [k.gen_item(*key.scope), k.purge_item(*key.scope)]
        args = [seen[1], new_generation(True), self._gen_ttl, split_purge_token(seen[2])[1]]
        gi = self.conn.call(lambda r: self.conn.claim_item(keys=keys, args=args, client=r))
        if not gi:
            return None
        return gc, _text(gi), seen[2]

    def get_blob(self, key):
        return self.conn.call(lambda r: r.get(f"cache:blob/{self.ns}/{key}"))

    def put_blob(self, key, value, expire):
        self.conn.call(lambda r: r.set(f"cache:blob/{self.ns}/{key}", value, ex=expire))

    def discard(self, key):
        self.conn.call(lambda r: r.unlink(self.keys.entry(key.id)))

    # --- invalidation support ---------------------------------------------
    def scope_entries(self, collection, item) -> Iterator[IndexedEntry]:
        if item is None:
            members = self.conn.call(lambda r: r.smembers(self.keys.items(collection)))
            items = [unquote(_text(m)) for m in members]
        else:
            items = [item]
        for it in sorted(items):
            ik = self.keys.index(collection, it)
            cursor = 0
            while True:
                cursor, batch = self.conn.call(lambda r, c=cursor, k=ik: r.hscan(k, c, count=1000))
                for kid, tile in batch.items():
                    yield IndexedEntry(_text(kid), _text(tile))
                if cursor == 0:
                    break

    def _delete_redis(self, ids: list[str]) -> int:
        """One UNLINK per entry (entries of different items live in different slots on
        a cluster), pipelined: one round trip per node and batch."""
        deleted = 0
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]

            def op(r, chunk=chunk):
                pipe = r.pipeline(transaction=False)
                for kid in chunk:
                    pipe.unlink(self.keys.entry(kid))
                for kid in chunk:
                    p = parse_id(kid)
                    if p:
                        pipe.hdel(self.keys.index(p.collection, p.item), kid)
                return pipe.execute()[: len(chunk)]

            deleted += sum(int(n) for n in self.conn.call(op))
        return deleted

    def delete_ids(self, ids):
        return {"redis": self._delete_redis(ids)}

    def exists_ids(self, ids):
        out = []
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]

            def op(r, chunk=chunk):
                pipe = r.pipeline(transaction=False)
                for kid in chunk:
                    pipe.exists(self.keys.entry(kid))
                return pipe.execute()

            out += [kid for kid, n in zip(chunk, self.conn.call(op), strict=True) if n]
        return out

    def valid_cursor(self, cursor: str) -> bool:
        position, _, after = cursor.partition("~")
        return (
            position.isascii()
            and position.isdigit()
            and int(position) < MAX_NODES * NODE_CURSOR
            and (not after or parse_id(after) is not None)
        )

    def scan(self, pattern, cursor, limit):
        """One page of entry ids matching the glob: SCAN on the node, or on each
        master of a cluster in turn (no KEYS, no INFO).

        The cursor is ``node * NODE_CURSOR + SCAN cursor`` (the master scanned, on a
        cluster), then ``~`` and the last id returned when the page ended inside a
        batch: the batch is read again and only ids after it (in sorted order) are
        taken, so a page never drops the rest of a batch, whether the previous page's
        ids were deleted (a purge) or not (a listing)."""
        match = self.keys.scan_match(pattern)
        nodes = self.conn.call(lambda r: self.conn.primaries())
        position, _, after = (cursor or "0").partition("~")
        node_index, cur = divmod(int(position), NODE_CURSOR)
        out: list[str] = []

        def page(node, c, n):
            kwargs = {"target_nodes": node} if node is not None else {}
            return self.conn.call(lambda r: r.scan(c, match=match, count=n, **kwargs))

        def resume(node: int, scan_cursor: int, last: str = "") -> str:
            return f"{node * NODE_CURSOR + scan_cursor}" + (f"~{last}" if last else "")

        for _ in range(10_000):  # bounded even on a huge keyspace
            if node_index >= len(nodes):
                return out, None
            nxt, batch = page(nodes[node_index], cur, max(limit - len(out), 100))
            if isinstance(nxt, dict):  # a cluster client answers {node: cursor}
                nxt = next(iter(nxt.values()), 0)
            ids = [self.keys.entry_id(_text(k)) for k in batch]
            ids = [i for i in ids if parse_id(i) is not None]  # entries only, not gen/idx/lock
            if self.keys.cluster:
                ids = [i for i in ids if glob_match(i, pattern)]
            rest = sorted(i for i in ids if i > after)
            if len(out) + len(rest) > limit:
                out += rest[: limit - len(out)]
                return out, resume(node_index, cur, out[-1])
            out += rest
            after, cur = "", nxt
            if cur == 0:
                node_index, cur = node_index + 1, 0
                if node_index >= len(nodes):
                    return out, None
            if len(out) >= limit:
                return out, resume(node_index, cur)
        return out, resume(node_index, cur)

    def describe(self, key_id):
        vals = self.conn.call(lambda r: r.hmget(self.keys.entry(key_id), META_FIELDS))
        rec = {f: v for f, v in zip(META_FIELDS, vals, strict=True) if v is not None}
        return EntryMeta.from_record(rec) if rec else None

    # --- lock ---------------------------------------------------------------
    def try_lock(self, key_id, token, ttl):
        lock = self.keys.lock(key_id)
        return bool(self.conn.call(lambda r: r.set(lock, token, nx=True, px=int(ttl * 1000))))

    def unlock(self, key_id, token):
        keys = [self.keys.lock(key_id)]
        self.conn.call(lambda r: self.conn.unlock_script(keys=keys, args=[token], client=r))

    def refresh_lock(self, key_id, token, ttl):
        keys, args = [self.keys.lock(key_id)], [token, int(ttl * 1000)]
        return bool(
            self.conn.call(lambda r: self.conn.refresh_script(keys=keys, args=args, client=r))
        )

    # --- health ---------------------------------------------------------------
    def status(self):
        out = {"backend": self.name, "redis": {"circuit": self.conn.breaker.state}}
        if self.conn.cluster:
            out["redis"]["cluster"] = True
        try:
            out["redis"]["ping"] = bool(self.conn.call(lambda r: r.ping()))
        except Exception as exc:  # status must answer even when Redis is down
            out["redis"]["ping"] = False
            out["redis"]["error"] = type(exc).__name__
        return out

    def breakers(self):
        return (self.conn.breaker,)


__all__ = ["RedisBackend", "RedisConnection"]
