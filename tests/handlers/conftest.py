from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def handler_redis(redis_server):
    """The session's redis-server (flushed by ``handler_env``)."""
    return redis_server


@pytest.fixture
def handler_env(monkeypatch, sample_store, handler_redis):
    """Environment as the stack sets it (Redis backend on a test server)."""
    import redis

    redis.Redis(port=handler_redis.port).flushall()
    env = {
        "TITILER_EOPF_STORE_URL": str(sample_store),
        "TITILER_EOPF_CACHE_BACKEND": "redis",
        "TITILER_EOPF_CACHE_NAMESPACE": "handler-test",
        "TITILER_EOPF_CACHE_REDIS_HOST": "127.0.0.1",
        "TITILER_EOPF_CACHE_REDIS_PORT": str(handler_redis.port),
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": "0.5",
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": "0.5",
        "POWERTOOLS_METRICS_NAMESPACE": "TiTilerEOPFTest",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from titiler_eopf.handlers import admin, tile

    monkeypatch.setattr(tile, "_adapter", None)
    monkeypatch.setattr(tile, "_cache", None)
    monkeypatch.setattr(admin, "_service", None)  # a fresh container: settings read again
    return env
