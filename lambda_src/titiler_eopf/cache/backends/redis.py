"""Redis backend: metadata (and, without S3, the bodies) in Redis.

Redis layout (``id`` = ``{tile|meta}/{namespace}/{collection}/{item}/{digest}``):

* ``cache:{id}``                     hash: metadata fields (+ ``body`` when Redis holds bodies)
* ``cache:gen/{ns}/{c}``             generation token of a collection
* ``cache:gen/{ns}/{c}/{i}``         generation token of an item
* ``cache:idx/{ns}/{c}/{i}``         hash ``id -> "tms/z/x/y"`` of every entry of the item
                                     (scope purge and tile-range purge without SCAN)
* ``cache:items/{ns}/{c}``           set of item ids cached in a collection
* ``cache:lock/{id}``                stampede lock (token, TTL)

A HIT is one round trip: the two generations and the entry are read in one
pipeline, and the entry counts only if it was written under those
generations. Generation keys are created when the first entry of a scope is
stored (a lookup creates nothing) and carry a TTL at least as long as any
entry written under them, so every key this backend writes expires
(ElastiCache's ``volatile-lru`` can evict all of them). A lost generation
reads as ``0``, which no entry was written under: losing it is a miss, never
a stale hit.

Every write is one Lua script, so a reader never sees half a record, and it
stores only if the scope's generations are still those the render started
under (a render racing an invalidation is never stored after it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from urllib.parse import unquote

from ..circuit import CircuitBreaker
from ..clock import SYSTEM_CLOCK, Clock
from ..keys import CacheKey, parse_id, q
from .base import BROKEN, NO_GENERATION, Backend, EntryMeta, IndexedEntry, Lookup, new_generation

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
BATCH = 500

# Compare-and-delete: release the lock only if we still hold it.
_UNLOCK = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1])"
    " else return 0 end"
)
# Compare-and-extend: the lock holder's heartbeat.
_REFRESH = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2])"
    " else return 0 end"
)
# Create the scope's missing generations, if they (and the purge token) are still those
# seen. KEYS: gen_c, gen_i, purge_c. ARGV: seen gen_c, seen gen_i, new token c, new token i,
# generation TTL (s), seen purge_c.
# A generation "matches" when equal, or when the render saw none and the current one was
# created by another first write (prefix "w"), not by an invalidation.
_SAME = """
local function same(cur, seen)
  return cur == seen or (seen == '0' and string.sub(cur, 1, 1) == 'w')
end
"""
_CLAIM = (
    _SAME
    + """
local gc = redis.call('GET', KEYS[1]) or '0'
local gi = redis.call('GET', KEYS[2]) or '0'
local pc = redis.call('GET', KEYS[3]) or '0'
if not same(gc, ARGV[1]) or not same(gi, ARGV[2]) or pc ~= ARGV[6] then return false end
if gc == '0' then gc = ARGV[3]; redis.call('SET', KEYS[1], gc, 'EX', ARGV[5]) end
if gi == '0' then gi = ARGV[4]; redis.call('SET', KEYS[2], gi, 'EX', ARGV[5]) end
return gc .. '/' .. gi
"""
)
# Conditional write. KEYS: gen_c, gen_i, entry, idx, items, purge_c.
# ARGV: seen gen_c, seen gen_i, new token c, new token i, entry expire (s), generation TTL (s),
#       item id (quoted), tile, seen purge_c, then field/value pairs of the record.
# Returns the generations written under ("c/i"), or false when they (or the purge token) moved.
_PUT = (
    _SAME
    + """
local gc = redis.call('GET', KEYS[1]) or '0'
local gi = redis.call('GET', KEYS[2]) or '0'
local pc = redis.call('GET', KEYS[6]) or '0'
if not same(gc, ARGV[1]) or not same(gi, ARGV[2]) or pc ~= ARGV[9] then return false end
local expire = tonumber(ARGV[5])
local gen_ttl = tonumber(ARGV[6])
if gc == '0' then gc = ARGV[3]; redis.call('SET', KEYS[1], gc, 'EX', gen_ttl)
else redis.call('EXPIRE', KEYS[1], gen_ttl, 'GT') end
if gi == '0' then gi = ARGV[4]; redis.call('SET', KEYS[2], gi, 'EX', gen_ttl)
else redis.call('EXPIRE', KEYS[2], gen_ttl, 'GT') end
redis.call('DEL', KEYS[3])
local record = {}
for i = 10, #ARGV do record[#record + 1] = ARGV[i] end
record[#record + 1] = 'gens'
record[#record + 1] = gc .. '/' .. gi
redis.call('HSET', KEYS[3], unpack(record))
redis.call('EXPIRE', KEYS[3], expire)
redis.call('HSET', KEYS[4], string.sub(KEYS[3], 7), ARGV[8])
redis.call('SADD', KEYS[5], ARGV[7])
for _, k in ipairs({KEYS[4], KEYS[5]}) do
  redis.call('EXPIRE', k, expire, 'NX')
  redis.call('EXPIRE', k, expire, 'GT')
end
return gc .. '/' .. gi
"""
)


def _secret_password(arn: str, region: str | None) -> str:
    # Lazy: only deployments with a secret pay for boto3; explicit timeouts (titiler_eopf.aws).
    from titiler_eopf.aws import read_secret, secret_field

    # Accept a bare token or a JSON document {"password": ...} / {"token": ...}.
    return secret_field(read_secret(arn), ("password", "token", "auth_token", "authToken"))


class RedisConnection:
    """Lazily created, reused client behind a circuit breaker."""

    def __init__(self, settings, clock: Clock = SYSTEM_CLOCK):
        self.settings = settings
        self.breaker = CircuitBreaker(
            "redis", settings.breaker_failures, settings.breaker_reset, clock=clock.monotonic
        )
        self._client = None
        self._init_lock = threading.Lock()
        self._unlock_script = None
        self._refresh_script = None
        self._put_script = None
        self._claim_script = None

    def _build(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        s = self.settings
        password = s.redis_password.get_secret_value() if s.redis_password else None
        if s.redis_password_secret_arn:
            arn = s.redis_password_secret_arn
            region = arn.split(":")[3] if arn.startswith("arn:") and arn.count(":") >= 4 else None
            password = _secret_password(arn, region)
        return redis.Redis(
            host=s.redis_host,
            port=s.redis_port,
            db=s.redis_db,
            username=s.redis_username,
            password=password,
            ssl=s.redis_tls,
            socket_connect_timeout=s.redis_connect_timeout,
            socket_timeout=s.redis_read_timeout,
            # No client-side retries: a slow or dead Redis must cost one
            # timeout at most; the circuit breaker handles the rest.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            lib_name=None,
            lib_version=None,
        )

    @property
    def client(self):
        if self._client is None:
            with self._init_lock:
                if self._client is None:
                    self._client = self._build()
                    self._unlock_script = self._client.register_script(_UNLOCK)
                    self._refresh_script = self._client.register_script(_REFRESH)
                    self._put_script = self._client.register_script(_PUT)
                    self._claim_script = self._client.register_script(_CLAIM)
        return self._client

    def call(self, fn, *args, **kwargs):
        def run():
            return fn(self.client, *args, **kwargs)

        return self.breaker.call(run)


def _ekey(key_id: str) -> str:
    return f"cache:{key_id}"


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

    # --- keys -------------------------------------------------------------
    def _gen_keys(self, collection, item):
        """Collection generation, item generation, collection purge token."""
        base = f"cache:gen/{self.ns}/{q(collection)}"
        return base, f"{base}/{q(item)}", f"cache:purge/{self.ns}/{q(collection)}"

    def _idx_key(self, collection, item):
        return f"cache:idx/{self.ns}/{q(collection)}/{q(item)}"

    def _items_key(self, collection):
        return f"cache:items/{self.ns}/{q(collection)}"

    # --- generations ------------------------------------------------------
    @staticmethod
    def _gens(vals) -> tuple[str, str]:
        return tuple(v.decode() if v else NO_GENERATION for v in vals)  # type: ignore[return-value]

    def generations(self, collection, item):
        return self._gens(self.conn.call(lambda r: r.mget(self._gen_keys(collection, item))))

    @property
    def _gen_ttl(self) -> int:
        """Longest life of any entry: a bumped generation outlives them all."""
        s = self.settings
        return (
            max(s.tile_ttl, s.default_ttl, s.metadata_ttl or 0, s.preview_ttl or 0)
            + s.stale_if_error
        )

    def bump(self, collection, item=None):
        gen = new_generation()
        gk = self._gen_keys(collection, item or "")
        self.conn.call(lambda r: r.set(gk[0] if item is None else gk[1], gen, ex=self._gen_ttl))
        return gen

    def bump_purge(self, collection):
        key = self._gen_keys(collection, "")[2]
        self.conn.call(lambda r: r.set(key, new_generation(), ex=self._gen_ttl))

    # --- entries ----------------------------------------------------------
    # s3_redis keeps bodies in S3 and overrides these two.
    _bodies_in_redis = True

    def _body(self, key: CacheKey, meta: EntryMeta) -> bytes | None:
        return None

    def _read(self, key: CacheKey, fields: tuple[str, ...]):
        """Generations and entry fields in one pipeline (one round trip)."""
        gk = self._gen_keys(key.collection, key.item)

        def op(r):
            pipe = r.pipeline(transaction=False)
            pipe.mget(gk)
            pipe.hmget(_ekey(key.id), fields)
            return pipe.execute()

        gens, vals = self.conn.call(op)
        return self._gens(gens), {f: v for f, v in zip(fields, vals, strict=True) if v is not None}

    def lookup(self, key: CacheKey, want_body: bool):
        fields = META_FIELDS + (("body",) if want_body else ())
        gens, rec = self._read(key, fields)
        if not rec:
            return self._missing(key, want_body, gens), gens
        body = rec.pop("body", None)
        meta = EntryMeta.from_record(rec)
        if meta is None:
            log.warning("malformed metadata record", extra={"key": key.id, "backend": self.name})
            return Lookup(BROKEN, None), gens
        if want_body and body is None and meta.size > 0 and not self._bodies_in_redis:
            body = self._body(key, meta)
        return Lookup(meta, body), gens

    def _missing(self, key: CacheKey, want_body: bool, gens: tuple[str, str]) -> Lookup | None:
        """No entry in Redis (s3_redis looks in S3 before calling it a miss)."""
        return None

    def _write_meta(self, key: CacheKey, meta: EntryMeta, body: bytes | None, expire: int) -> bool:
        """Conditional write (see ``_PUT``); sets ``meta.gens`` to the generations written under."""
        record: dict = meta.to_record()
        record.pop("gens", None)
        if body is not None:
            record["body"] = body
        gc, gi, purge = self._gen_keys(key.collection, key.item)
        keys = [
            gc,
            gi,
            _ekey(key.id),
            self._idx_key(*key.scope),
            self._items_key(key.collection),
            purge,
        ]
        expire = max(int(expire), 1)
        seen = key.generations
        args: list = [
            seen[0],
            seen[1],
            new_generation(True),
            new_generation(True),
            expire,
            max(expire, self._gen_ttl),
            q(key.item),
            meta.tile,
            seen[2],
        ]
        for name, value in record.items():
            args += [name, value]

        def op(r):
            return self.conn._put_script(keys=keys, args=args, client=r)

        written = self.conn.call(op)
        if not written:
            return False
        meta.gens = written.decode() if isinstance(written, bytes) else str(written)
        return True

    def put(self, key, meta, body, expire):
        return self._write_meta(key, meta, body, expire)

    def claim_generations(self, key: CacheKey) -> tuple[str, str, str] | None:
        """The generations an entry of ``key`` will be written under, creating
        the missing ones; None when they moved since the lookup."""
        seen = key.generations
        if NO_GENERATION not in seen[:2]:
            return seen
        gk = self._gen_keys(key.collection, key.item)
        args = [
            seen[0],
            seen[1],
            new_generation(True),
            new_generation(True),
            self._gen_ttl,
            seen[2],
        ]
        got = self.conn.call(lambda r: self.conn._claim_script(keys=list(gk), args=args, client=r))
        if not got:
            return None
        gc, gi = (got.decode() if isinstance(got, bytes) else got).split("/")
        return gc, gi, seen[2]

    def get_blob(self, key):
        return self.conn.call(lambda r: r.get(f"cache:blob/{self.ns}/{key}"))

    def put_blob(self, key, value, expire):
        self.conn.call(lambda r: r.set(f"cache:blob/{self.ns}/{key}", value, ex=expire))

    def discard(self, key):
        self.conn.call(lambda r: r.unlink(_ekey(key.id)))

    # --- invalidation support ---------------------------------------------
    def scope_entries(self, collection, item) -> Iterator[IndexedEntry]:
        if item is None:
            members = self.conn.call(lambda r: r.smembers(self._items_key(collection)))
            items = [unquote(m.decode()) for m in members]
        else:
            items = [item]
        for it in sorted(items):
            ik = self._idx_key(collection, it)
            cursor = 0
            while True:
                cursor, batch = self.conn.call(lambda r, c=cursor, k=ik: r.hscan(k, c, count=1000))
                for kid, tile in batch.items():
                    yield IndexedEntry(kid.decode(), tile.decode())
                if cursor == 0:
                    break

    def _delete_redis(self, ids: list[str]) -> int:
        deleted = 0
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]

            def op(r, chunk=chunk):
                pipe = r.pipeline(transaction=False)
                pipe.unlink(*[_ekey(i) for i in chunk])
                for kid in chunk:
                    p = parse_id(kid)
                    if p:
                        pipe.hdel(self._idx_key(p.collection, p.item), kid)
                return pipe.execute()[0]

            deleted += int(self.conn.call(op))
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
                    pipe.exists(_ekey(kid))
                return pipe.execute()

            out += [kid for kid, n in zip(chunk, self.conn.call(op), strict=True) if n]
        return out

    def scan(self, pattern, cursor, limit):
        match = "cache:" + pattern
        cur = int(cursor or 0)
        out: list[str] = []
        for _ in range(10_000):  # bounded even on a huge keyspace
            count = max(limit - len(out), 100)
            nxt, batch = self.conn.call(lambda r, c=cur, n=count: r.scan(c, match=match, count=n))
            ids = [k.decode()[len("cache:") :] for k in batch]
            ids = [i for i in ids if parse_id(i) is not None]  # entries only, not gen/idx/lock
            if len(out) + len(ids) > limit:
                # Do not drop keys past the limit: resume from this batch again.
                out += ids[: limit - len(out)]
                return out, str(cur)
            out += ids
            cur = nxt
            if cur == 0:
                return out, None
            if len(out) >= limit:
                return out, str(cur)
        return out, str(cur)

    def describe(self, key_id):
        vals = self.conn.call(lambda r: r.hmget(_ekey(key_id), META_FIELDS))
        rec = {f: v for f, v in zip(META_FIELDS, vals, strict=True) if v is not None}
        return EntryMeta.from_record(rec) if rec else None

    # --- lock ---------------------------------------------------------------
    def try_lock(self, key_id, token, ttl):
        return bool(
            self.conn.call(
                lambda r: r.set(f"cache:lock/{key_id}", token, nx=True, px=int(ttl * 1000))
            )
        )

    def unlock(self, key_id, token):
        self.conn.call(
            lambda r: self.conn._unlock_script(
                keys=[f"cache:lock/{key_id}"], args=[token], client=r
            )
        )

    def refresh_lock(self, key_id, token, ttl):
        return bool(
            self.conn.call(
                lambda r: self.conn._refresh_script(
                    keys=[f"cache:lock/{key_id}"], args=[token, int(ttl * 1000)], client=r
                )
            )
        )

    # --- health ---------------------------------------------------------------
    def status(self):
        out = {"backend": self.name, "redis": {"circuit": self.conn.breaker.state}}
        try:
            out["redis"]["ping"] = bool(self.conn.call(lambda r: r.ping()))
        except Exception as exc:  # status must answer even when Redis is down
            out["redis"]["ping"] = False
            out["redis"]["error"] = type(exc).__name__
        return out

    def breakers(self):
        return (self.conn.breaker,)


__all__ = ["RedisBackend", "RedisConnection"]
