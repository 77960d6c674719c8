"""What only a Redis Cluster has: keys spread over the shards, slots per item,
the cost of a bump, and a master lost and replaced by its replica.

Runs on the session's local cluster (3 masters + 3 replicas, ``tests/support/redis_cluster.py``).
"""

from __future__ import annotations

import time

import pytest

from tests.support.cache import client_for, redis_of, tile_url
from tests.support.redis_cluster import wait_for
from titiler_eopf.cache import invalidation as inv
from titiler_eopf.cache.clock import ManualClock


@pytest.fixture
def cluster(redis_cluster_flushed):
    return redis_cluster_flushed


@pytest.fixture
def cache(cache_for, cluster):
    return cache_for("redis_cluster")


def item_url(item: str, x: int = 1) -> str:
    return tile_url(z=6, x=x, y=2, base=f"/collections/many/items/{item}")


def entries_per_master(cluster) -> dict[int, int]:
    return {
        port: sum(1 for _ in cluster.node(port).client().scan_iter("cache:tile/*", count=1000))
        for port in cluster.masters()
    }


def test_one_collection_spreads_over_every_master(cache, cluster):
    items = [f"item-{n:03d}" for n in range(60)]
    with client_for(cache) as client:
        for item in items:
            for x in range(2):
                assert client.get(item_url(item, x)).headers["x-cache"] == "MISS"
        assert all(client.get(item_url(i)).headers["x-cache"] == "HIT" for i in items)
    per_master = entries_per_master(cluster)
    assert sum(per_master.values()) == 2 * len(items)
    # no hot shard per collection: each master holds a fair share of its entries
    assert min(per_master.values()) >= len(items) * 2 // 6, per_master
    r, keys = redis_of(cache)
    for item in items[:5]:
        # everything of one item in one slot: scripts and pipelines never cross slots
        entry_ids = [cache.key_for_url(item_url(item, x)).id for x in range(2)]
        slots = {r.keyslot(keys.entry(i)) for i in entry_ids}
        slots |= {r.keyslot(keys.gen_item("many", item)), r.keyslot(keys.index("many", item))}
        slots |= {r.keyslot(keys.purge_item("many", item))}
        assert len(slots) == 1


def _writes(cluster) -> int:
    """Write commands executed so far by the masters (from their command statistics)."""
    total = 0
    for port in cluster.masters():
        stats = cluster.node(port).client().info("commandstats")
        for name in ("cmdstat_set", "cmdstat_incr", "cmdstat_del", "cmdstat_unlink"):
            total += stats.get(name, {}).get("calls", 0)
        total += stats.get("cmdstat_evalsha", {}).get("calls", 0)
    return total


def test_a_collection_bump_is_one_write_on_one_key(cache, cluster):
    items = [f"item-{n:03d}" for n in range(30)]
    with client_for(cache) as client:
        for item in items:
            client.get(item_url(item))
        before = _writes(cluster)
        t0 = time.perf_counter()
        result = inv.invalidate_scope(cache, "many")
        elapsed_ms = (time.perf_counter() - t0) * 1000
        assert _writes(cluster) - before == 1  # one SET, whatever the number of items
        r, keys = redis_of(cache)
        assert r.get(keys.gen_collection("many")).decode() == result.generation["generation"]
        assert {client.get(item_url(i)).headers["x-cache"] for i in items} == {"MISS"}
        assert {client.get(item_url(i)).headers["x-cache"] for i in items} == {"HIT"}
    print(f"collection bump on the cluster: {elapsed_ms:.2f} ms, 1 write")


@pytest.mark.parametrize("backend", ["redis", "redis_cluster"])
def test_pattern_listing_and_purge_walk_every_master(cache_for, backend):
    """Pages smaller than a SCAN batch neither drop nor repeat ids (listing, then purge)."""
    cache = cache_for(backend)
    with client_for(cache) as client:
        for n in range(40):
            client.get(item_url(f"p-{n:02d}"))
            client.get(item_url(f"q-{n:02d}"))
    listed, cursor, pages = [], None, 0
    while True:
        page = inv.list_keys(cache, "p-*", limit=7, cursor=cursor)
        listed += [k["key"] for k in page["keys"]]
        pages += 1
        cursor = page["cursor"]
        if cursor is None:
            break
    assert len(listed) == len(set(listed)) == 40 and pages >= 6
    assert all("/p-" in k for k in listed)
    result = inv.invalidate_pattern(cache, "q-*", limit=1000)
    assert result.deleted == {"redis": 40} and result.cursor is None


def test_breaker_closes_after_a_master_is_replaced(cache_for, cluster):
    """A master dies: its keys fail (fail open, the breaker opens), the replica is
    promoted, the breaker's probe re-reads the slot map and closes on its success. The
    breaker reads a ``ManualClock``: it stays open until the test moves it."""
    clock = ManualClock()
    cache = cache_for("redis_cluster", breaker_failures=2, breaker_reset=0.2, clock=clock)
    items = [f"f-{n:02d}" for n in range(30)]
    with client_for(cache) as client:
        for item in items:
            client.get(item_url(item))
        r, keys = redis_of(cache)
        victim_item = items[0]
        dead = cluster.master_of(keys.entry(cache.key_for_url(item_url(victim_item)).id))
        cluster.wait_replicated(dead)  # replication is asynchronous
        cluster.kill_master(dead)
        try:
            states = [client.get(item_url(victim_item)) for _ in range(3)]
            assert all(s.status_code == 200 for s in states)
            assert {s.headers["x-cache"] for s in states} <= {"ERROR", "BYPASS"}
            assert cache.public_status()["circuits"]["redis"] == "open"
            promoted = cluster.wait_promoted(dead)
            assert promoted != dead

            def probe_succeeds():
                clock.advance(0.25)  # past breaker_reset: this request is the probe
                resp = client.get(item_url(victim_item))
                assert resp.status_code == 200
                return resp.headers["x-cache"] in ("HIT", "MISS")

            # The nodes learn of the promotion by gossip: a probe that reads the slot map
            # before they agree fails and re-opens the breaker, so poll (bounded) for the
            # first probe that closes it.
            wait_for("the breaker closed after the promotion", probe_succeeds, 15)
            assert cache.public_status()["circuits"]["redis"] == "closed"
            # the replica had the entries: HITs, without a re-render, on every item
            assert client.get(item_url(victim_item)).headers["x-cache"] == "HIT"
            assert {client.get(item_url(i)).headers["x-cache"] for i in items} == {"HIT"}
        finally:
            cluster.restart(dead)
