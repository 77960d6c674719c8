"""Fixtures shared by every test package: sample products and local servers.

Servers are real processes started by the tests themselves (moto's S3 server,
redis-server on a free port), so nothing depends on what runs on the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eopf_sample import write_samples
from eopf_sample.mosaic import write_mosaic_collection
from tests.redis_cluster import RedisClusterProcess
from tests.servers import MotoProcess

ROOT = Path(__file__).resolve().parents[1]
# Sample products are deterministic: keep one copy per source version outside
# the clone so repeated CI runs on this machine reuse it (safe: the key is a
# digest of the generator's code).
SAMPLE_CACHE = Path(
    os.environ.get("TITILER_EOPF_TEST_CACHE", Path.home() / ".cache" / "titiler-eopf")
)


def _generator_digest() -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "eopf_sample").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    """Directory holding both sample products (the tiler's store root)."""
    target = SAMPLE_CACHE / f"samples-{_generator_digest()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_samples(target)
        write_mosaic_collection(target, log=None)
    except OSError:  # read-only home: fall back to a per-session copy
        target = tmp_path_factory.mktemp("samples")
        write_samples(target)
        write_mosaic_collection(target, log=None)
    return target


@pytest.fixture(scope="session")
def moto_server():
    """A moto S3 server on a free port; yields its endpoint URL."""
    server = MotoProcess().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def stac_api(sample_store):
    """A real STAC API (stac-fastapi-pgstac over PostgreSQL + PostGIS) holding the sample
    mosaic collection (``eopf_sample.mosaic``); yields the running ``StacApiProcess``."""
    from eopf_sample.mosaic import COLLECTION_MOSAIC
    from tests.stacapi.server import StacApiProcess, wait_ready

    server = StacApiProcess(sample_store / COLLECTION_MOSAIC / "stac")
    try:
        server.start()
        wait_ready(server.url)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster():
    """A local Redis Cluster (3 masters + 3 replicas) for the session, started on first
    use; tests flush it (``redis_cluster_flushed``) and may kill and restart its nodes."""
    cluster = RedisClusterProcess().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_flushed(redis_cluster):
    redis_cluster.wait_healthy()  # a failover test may have left a node rejoining
    redis_cluster.flush()
    return redis_cluster
