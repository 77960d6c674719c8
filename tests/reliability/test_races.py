"""Invalidations racing with renders in flight.

Eight clients request tiles of one item continuously; each render takes
150 ms and reads the data as it is when it starts. Mid-run the data changes
and an admin invalidation runs (item generation bump, hard purge, tile-range
purge). Once the admin call has returned, no response to a request sent after
it carries a pre-invalidation ETag, even though renders that started before
it are still finishing (they answer their own clients, but are not stored).
"""

from __future__ import annotations

import threading
import time

import pytest
from starlette.testclient import TestClient

from tests.support.reliability import cache_settings
from tests.support.standin import StandIn
from titiler_eopf.cache import CacheMiddleware, build_cache
from titiler_eopf.cache import invalidation as inv


def standin_body(url: str, version: int) -> bytes:
    """The stand-in's bytes for ``url`` at a data version (what a render returns)."""
    from starlette.testclient import TestClient as Plain

    return Plain(StandIn(version=version).app()).get(url.replace("/slow/", "/slow/")).content


def _digest(body: bytes) -> str:
    import hashlib

    return hashlib.sha256(body).hexdigest()


# Not cached beforehand: with 150 ms renders, eight clients keep renders of
# these tiles in flight when the invalidation comes.
URLS = [
    f"/collections/c/items/slow/tiles/WebMercatorQuad/10/{x}/{y}.png"
    for x in range(6)
    for y in range(5)
]
ACTIONS = {
    "item bump": lambda cache: inv.invalidate_scope(cache, "c", "slow"),
    "hard purge": lambda cache: inv.invalidate_scope(cache, "c", "slow", hard=True),
    "tile-range purge": lambda cache: inv.invalidate_tiles(
        cache, "c", "slow", minzoom=10, maxzoom=10
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize(
    "backend", ["memory", "redis", "s3_redis", "redis_cluster", "s3_redis_cluster"]
)
def test_no_pre_invalidation_etag_after_the_admin_call(
    backend, action, redis_db, redis_server, s3_server, bucket, monkeypatch, request
):
    monkeypatch.setenv("STANDIN_SLOW", "0.15")
    standin = StandIn(version=1)
    cluster = (
        request.getfixturevalue("redis_cluster_flushed").port if "cluster" in backend else None
    )
    cache = build_cache(
        cache_settings(
            backend,
            redis_port=redis_server.port,
            s3_url=s3_server.url,
            bucket=bucket,
            lock_wait=0.05,
            cluster_port=cluster,
        )
    )
    seen: list[tuple[float, float, str, str]] = []
    stop = threading.Event()
    try:
        with TestClient(CacheMiddleware(standin.app(), cache=cache)) as client:
            old_bodies = {_digest(standin_body(url, 1)) for url in URLS}

            def worker(offset: int):
                i = offset
                while not stop.is_set():
                    url = URLS[i % len(URLS)]
                    i += 1
                    t0 = time.monotonic()
                    resp = client.get(url)
                    assert resp.status_code == 200
                    # by body digest: responses rendered uncached carry no ETag
                    seen.append(
                        (t0, time.monotonic(), _digest(resp.content), resp.headers["x-cache"])
                    )

            # lock_wait ~0: waiters render themselves, so several renders of one
            # tile are in flight across the invalidation (the hard case)
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            # Invalidate once entries of version 1 are stored, while the clients' next
            # renders are under way (no fixed pause: a loaded machine renders slower).
            deadline = time.monotonic() + 30
            while cache.metrics.writes < len(threads) and time.monotonic() < deadline:
                time.sleep(0.01)
            standin.version = 2  # the data changes...
            ACTIONS[action](cache)  # ...and the operator invalidates
            returned = time.monotonic()
            # run on until enough requests were sent (and answered) after the call
            deadline = returned + 30
            while (
                time.monotonic() < deadline and sum(1 for r in list(seen) if r[0] > returned) < 40
            ):
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join(10)
    finally:
        standin.version = 1
    after = [s for s in seen if s[0] > returned]
    stale = [s for s in after if s[2] in old_bodies]
    in_flight = [s for s in seen if s[0] < returned < s[1] and s[3] != "HIT"]
    assert in_flight, "no render was in flight across the invalidation: the test proves nothing"
    assert len(after) > 20 and not stale, (len(after), stale[:3])
    assert any(s[3] == "HIT" for s in after)  # and the new bytes are cached again
    print(
        f"{backend} {action}: {len(seen)} responses, {len(in_flight)} in flight across the call, "
        f"{len(after)} after it, 0 stale; unstored renders {cache.metrics.unstored}"
    )
