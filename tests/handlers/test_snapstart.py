"""The tile Lambda under SnapStart (init builds everything, a restore resets every connection)
and at Lambda's response size limit."""

from __future__ import annotations

import json
import sys
import types

import pytest

from tests.support.events import ITEM, RGB_QUERY, FakeContext, http_api_event
from titiler_eopf.handlers import snapstart, tile

TILE_PATH = f"/collections/sentinel-2-l2a/items/{ITEM}/tiles/WebMercatorQuad/12/2178/1514.png"
PREVIEW_PATH = f"/collections/sentinel-2-l2a/items/{ITEM}/preview.png"


@pytest.fixture
def runtime_hooks(monkeypatch):
    """``snapshot_restore_py`` as the Lambda Python runtime provides it (the module exists only
    there): the hooks registered, which the test then runs as a restore would."""
    hooks = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = hooks.append
    module.register_before_snapshot = lambda hook: None
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    monkeypatch.setattr(tile, "_app", None)
    return hooks


def invoke(path=TILE_PATH, query=RGB_QUERY):
    return tile.handler(http_api_event(path, query), FakeContext())


def test_init_builds_the_app_and_registers_the_restore_hook(handler_env, runtime_hooks):
    assert tile.init_for_snapshot() is True
    assert runtime_hooks == [tile.after_restore]
    assert tile._adapter is not None and tile._cache is tile._app.cache
    adapter = tile._adapter
    assert invoke()["statusCode"] == 200
    assert tile._adapter is adapter  # the first request used what init built


def test_restore_resets_the_cache_clients(handler_env, runtime_hooks):
    tile.init_for_snapshot()
    assert invoke()["headers"]["x-cache"] == "MISS"
    before = tile._cache.backend
    assert before.conn._client is not None  # a Redis connection made before the "snapshot"
    pool = before.conn._client.connection_pool
    (restore,) = runtime_hooks
    restore()
    after = tile._cache.backend
    assert after is not before and after.conn._client is None  # built again on first use
    assert after.breakers()[0] is not before.breakers()[0]
    assert type(after) is type(before) and after.settings is before.settings
    response = invoke()
    assert response["headers"]["x-cache"] == "HIT"  # the entry, through a new connection
    # a HIT is read by the asyncio client of the handler's loop (REDIS_ASYNC), or by the
    # blocking one: either way a client of the new backend, made after the restore
    new_clients = [*after.aio._clients.values(), after.conn._client]
    assert any(c is not None for c in new_clients)
    assert after.conn._client is None or after.conn._client.connection_pool is not pool
    assert not set(map(id, before.aio._clients.values())) & set(map(id, new_clients))


def test_restore_reads_the_origin_secret_again_and_keeps_a_memory_cache():
    from titiler_eopf.origin import OriginSecret

    reads = []
    secret = OriginSecret(lambda: reads.append(1) or "v", refresh_seconds=3600)
    assert secret.current() == b"v" and len(reads) == 1
    from titiler_eopf.cache import CacheSettings, TileCache

    cache = TileCache(CacheSettings(backend="memory"))
    memory = cache.backend
    app = types.SimpleNamespace(cache=cache, origin_secret=secret)
    snapstart.reset_connections(app)
    assert cache.backend is memory  # no client to reset: the entries stay
    assert secret.known is None and secret.current() == b"v" and len(reads) == 2


def test_without_the_runtime_hook_nothing_is_built_ahead(handler_env, monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails: not Lambda
    assert snapstart.register_after_restore(lambda: None) is False
    assert tile.init_for_snapshot() is False
    assert tile._adapter is None


def test_the_tile_lambda_answers_422_not_the_platform_error(handler_env, monkeypatch):
    """A body over the limit is a JSON 422 from the app, not Lambda's own 502."""
    monkeypatch.setenv("TITILER_EOPF_MAX_RESPONSE_BYTES", "8192")
    response = invoke(PREVIEW_PATH, RGB_QUERY + [("max_size", "2048")])
    assert response["statusCode"] == 422 and response["isBase64Encoded"] is False
    detail = json.loads(response["body"])["detail"]
    assert "8,192 bytes" in detail and "6 MB" in detail
