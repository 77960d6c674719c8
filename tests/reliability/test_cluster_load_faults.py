"""Load with faults on a Redis Cluster: a master killed under load.

The app (a real server process, the sample products) uses the session's local
cluster (3 masters + 3 replicas). 600 requests at concurrency 12 over the
load suite's 36 URLs; once a third completed, the master holding the native
collection's item slot is killed (SIGKILL) while requests keep flowing. Then,
once its replica is promoted (polled from the cluster's own state), 300 more.

Pass: no 5xx and every body equal to the uncached render, through the fault;
after the promotion the cache serves HITs again (the breaker did not stay
open) and the promoted replica holds the entries. Figures per phase are
printed (``-s``) and saved in ``tests/reliability/figures/``.
"""

from __future__ import annotations

import json

import pytest

from eopf_sample import COLLECTION_NATIVE, ITEM_ID
from tests.reliability import test_load_faults as load_suite
from tests.reliability.test_load_faults import (
    CONCURRENCY,
    FIGURES,
    HOST,
    cached_server_env,
    load_urls,
)
from tests.support.harness import AppServer, LoadRun, run_load
from titiler_eopf.cache.backends.redis_layout import RedisLayout

reference = load_suite.reference  # the uncached digests (a module fixture of the load suite)

BEFORE_KILL = 200
FAULT_RUN = 600
AFTER_RUN = 300


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["redis", "s3_redis"])
def test_master_killed_under_load(sample_store, reference, backend, redis_cluster_flushed, request):
    cluster = redis_cluster_flushed
    s3 = {}
    if backend == "s3_redis":
        s3 = {"s3_url": request.getfixturevalue("s3_server").url}
        s3["bucket"] = request.getfixturevalue("bucket")
    env = cached_server_env(
        sample_store,
        backend,
        cluster.port,
        TITILER_EOPF_CACHE_REDIS_CLUSTER="true",
        **s3,
    )
    layout = RedisLayout(env["TITILER_EOPF_CACHE_NAMESPACE"], cluster=True)
    victim = cluster.master_of(layout.gen_item(COLLECTION_NATIVE, ITEM_ID))
    app = AppServer(env).start()
    killed = {}
    try:
        urls = load_urls()

        def kill():
            killed["port"] = victim
            cluster.kill_master(victim)

        fault = run_load(app.url, urls, FAULT_RUN, CONCURRENCY, HOST, at={BEFORE_KILL: kill})
        promoted = cluster.wait_promoted(victim)
        after = run_load(app.url, urls, AFTER_RUN, CONCURRENCY, HOST)

        figures = {
            "run": f"{backend}-cluster-master-killed",
            "before kill": LoadRun.summary(fault.phase(0, BEFORE_KILL)),
            "master dead": LoadRun.summary(fault.phase(BEFORE_KILL, FAULT_RUN)),
            "after promotion": LoadRun.summary(after.results),
            "wrong bodies": sum(
                r.status == 200 and r.digest != reference[r.url]
                for r in fault.results + after.results
            ),
            "entries per master": {
                port: sum(1 for _ in cluster.node(port).client().scan_iter("cache:*}/*", 1000))
                for port in cluster.masters()
            },
        }
        FIGURES.mkdir(exist_ok=True)
        (FIGURES / f"load-{backend}-cluster-master-killed.json").write_text(
            json.dumps(figures, indent=1) + "\n"
        )
        print(json.dumps(figures))
        everything = fault.results + after.results
        assert not [r for r in everything if r.status >= 500], figures
        wrong = [r for r in everything if r.status != 200 or r.digest != reference[r.url]]
        assert not wrong, [(r.url, r.status, r.xcache) for r in wrong][:5]
        assert killed["port"] == victim and promoted != victim
        # the cache was in use before the kill, and serves HITs again after the promotion
        assert figures["before kill"]["x_cache"].get("HIT", 0) > BEFORE_KILL // 2
        assert figures["after promotion"]["x_cache"].get("HIT", 0) > AFTER_RUN * 3 // 4, figures
        # the promoted replica serves the native item's entries (no render needed)
        assert figures["entries per master"][promoted] > 0
    finally:
        app.stop()
        if killed:
            cluster.restart(victim)
