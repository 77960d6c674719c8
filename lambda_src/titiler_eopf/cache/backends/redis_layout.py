"""Where the Redis backend keeps what, on one node and on a Redis Cluster, and
the Lua scripts that write it.

Keys (``{ns}``: namespace, ``{c}``/``{i}``: quoted collection/item ids)::

    collection slot   cache:gen/{ns/c}          generation token of the collection
                      cache:purge/{ns/c}        tile-range purge token of the collection
                      cache:items/{ns/c}        set of the collection's item ids
    item slot         cache:gen/{ns/c/i}        generation token of the item
                      cache:purge/{ns/c/i}      purge token of the item (see below)
                      cache:idx/{ns/c/i}        hash  entry id -> "tms/z/x/y"
                      cache:tile/{ns/c/i}/<sha> an entry (hash: metadata [+ body])
                      cache:meta/{ns/c/i}/<sha>
                      cache:lock/tile/{ns/c/i}/<sha>  stampede lock

On a cluster the braces are Redis hash tags: everything of one item (its
entries, index, generation and purge token) shares one slot, so every write
script and every per-item pipeline stays in one slot, while the items of a
collection (and so its entries) spread over every shard. The collection's
three keys share another slot. On one node the braces are left out and the
keys are those the backend has always written (``cache:{entry id}``).

A HIT reads the collection slot (generation, purge token) and the item slot
(generation, purge token, entry) in one pipeline: one round trip on a node,
at most two in parallel on a cluster (redis-py writes to every node of a
pipeline before reading any answer).

A write cannot check both slots atomically, so it runs two scripts in order:
``CLAIM_COLLECTION`` (collection slot: the generation and purge token are
still those seen, the item is registered in ``items``) then ``PUT_ENTRY``
(item slot: the item's generation and purge token are still those seen, the
entry is written recording the collection generation just claimed). A
collection bump between the two leaves an entry recording the old collection
generation: every lookup then calls it a miss. A tile-range purge bumps the
collection's purge token, then the purge token of every registered item,
then reads the indexes: a render whose claim came before the purge has its
item registered, so its ``PUT_ENTRY`` after the item bump fails, and one
before the item bump is in the index the purge then reads.
"""

from __future__ import annotations

from ..keys import q
from .base import glob_literal

# A generation "matches" when equal, or when the render saw none and the current one was
# created by another first write (prefix "w"), not by an invalidation.
_SAME = """
local function same(cur, seen)
  return cur == seen or (seen == '0' and string.sub(cur, 1, 1) == 'w')
end
local function keep(key, ttl)
  redis.call('EXPIRE', key, ttl, 'NX')
  redis.call('EXPIRE', key, ttl, 'GT')
end
"""

# KEYS: gen_c, purge_c, items. ARGV: seen gen_c, new token, generation TTL (s), seen
# purge_c, quoted item id, items TTL (s).
# Returns the collection generation to write under, or false when it (or the purge
# token) moved since the lookup.
CLAIM_COLLECTION = (
    _SAME
    + """
local gc = redis.call('GET', KEYS[1]) or '0'
local pc = redis.call('GET', KEYS[2]) or '0'
if not same(gc, ARGV[1]) or pc ~= ARGV[4] then return false end
if gc == '0' then gc = ARGV[2]; redis.call('SET', KEYS[1], gc, 'EX', ARGV[3])
else redis.call('EXPIRE', KEYS[1], ARGV[3], 'GT') end
redis.call('SADD', KEYS[3], ARGV[5])
keep(KEYS[3], ARGV[6])
return gc
"""
)

# KEYS: gen_i, purge_i. ARGV: seen gen_i, new token, generation TTL (s), seen purge_i.
# Returns the item generation, or false when it (or the purge token) moved.
CLAIM_ITEM = (
    _SAME
    + """
local gi = redis.call('GET', KEYS[1]) or '0'
local pi = redis.call('GET', KEYS[2]) or '0'
if not same(gi, ARGV[1]) or pi ~= ARGV[4] then return false end
if gi == '0' then gi = ARGV[2]; redis.call('SET', KEYS[1], gi, 'EX', ARGV[3])
else redis.call('EXPIRE', KEYS[1], ARGV[3], 'GT') end
return gi
"""
)

# KEYS: gen_i, purge_i, entry, idx.
# ARGV: seen gen_i, new token, generation TTL (s), seen purge_i, entry expire (s), entry id,
#       tile, claimed collection generation, then field/value pairs of the record.
# Returns the generations written under ("c/i"), or false when the item's moved.
PUT_ENTRY = (
    _SAME
    + """
local gi = redis.call('GET', KEYS[1]) or '0'
local pi = redis.call('GET', KEYS[2]) or '0'
if not same(gi, ARGV[1]) or pi ~= ARGV[4] then return false end
local gen_ttl = tonumber(ARGV[3])
local expire = tonumber(ARGV[5])
if gi == '0' then gi = ARGV[2]; redis.call('SET', KEYS[1], gi, 'EX', gen_ttl)
else redis.call('EXPIRE', KEYS[1], gen_ttl, 'GT') end
local gens = ARGV[8] .. '/' .. gi
redis.call('DEL', KEYS[3])
local record = {}
for i = 9, #ARGV do record[#record + 1] = ARGV[i] end
record[#record + 1] = 'gens'
record[#record + 1] = gens
redis.call('HSET', KEYS[3], unpack(record))
redis.call('EXPIRE', KEYS[3], expire)
redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
keep(KEYS[4], expire)
return gens
"""
)

# Compare-and-delete: release the lock only if we still hold it.
UNLOCK = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1])"
    " else return 0 end"
)
# Compare-and-extend: the lock holder's heartbeat.
REFRESH = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2])"
    " else return 0 end"
)

PREFIX = "cache:"


def purge_token(collection_token: str, item_token: str) -> str:
    """The one opaque purge token a lookup reports (``CacheKey.generations[2]``)."""
    return f"{collection_token}/{item_token}"


def split_purge_token(token: str) -> tuple[str, str]:
    c, _, i = token.partition("/")
    return c or "0", i or "0"


class RedisLayout:
    """Key names of one namespace; ``cluster`` adds the hash tags."""

    def __init__(self, namespace: str, cluster: bool):
        self.ns = namespace
        self.cluster = cluster
        self._open, self._close = ("{", "}") if cluster else ("", "")

    def _tag(self, *parts: str) -> str:
        return f"{self._open}{'/'.join((self.ns, *(q(p) for p in parts)))}{self._close}"

    # --- collection slot -----------------------------------------------------------
    def gen_collection(self, collection: str) -> str:
        return f"{PREFIX}gen/{self._tag(collection)}"

    def purge_collection(self, collection: str) -> str:
        return f"{PREFIX}purge/{self._tag(collection)}"

    def items(self, collection: str) -> str:
        return f"{PREFIX}items/{self._tag(collection)}"

    # --- item slot -----------------------------------------------------------------
    def gen_item(self, collection: str, item: str) -> str:
        return f"{PREFIX}gen/{self._tag(collection, item)}"

    def purge_item(self, collection: str, item: str) -> str:
        return f"{PREFIX}purge/{self._tag(collection, item)}"

    def index(self, collection: str, item: str) -> str:
        return f"{PREFIX}idx/{self._tag(collection, item)}"

    def entry(self, key_id: str) -> str:
        """``tile/ns/c/i/sha`` -> ``cache:tile/{ns/c/i}/sha`` (braces on a cluster only)."""
        if not self.cluster:
            return PREFIX + key_id
        cls, rest = key_id.split("/", 1)
        scope, digest = rest.rsplit("/", 1)
        return f"{PREFIX}{cls}/{{{scope}}}/{digest}"

    def lock(self, key_id: str) -> str:
        return f"{PREFIX}lock/{self.entry(key_id)[len(PREFIX) :]}"

    @staticmethod
    def entry_id(redis_key: str) -> str:
        """Inverse of ``entry`` (ids never contain braces: every part is quoted)."""
        return redis_key[len(PREFIX) :].replace("{", "").replace("}", "")

    def scan_match(self, pattern: str) -> str:
        """SCAN's MATCH for a glob over entry ids. On one node the keys are the ids
        (exact); on a cluster a superset from the glob's literal prefix, which the
        caller narrows with the glob itself."""
        if not self.cluster:
            return PREFIX + pattern
        parts = glob_literal(pattern).split("/")
        if len(parts) == 1:
            return f"{PREFIX}{parts[0]}*"
        # class / {ns / c / i} / digest: the literal part up to the item at most
        return f"{PREFIX}{parts[0]}/{{{'/'.join(parts[1:4])}*"
