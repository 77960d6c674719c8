"""Settings: the names existing deployments use, and start-up validation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.cache import client_for, tile_url
from tests.support.servers import ROOT
from titiler_eopf.cache import CacheConfigError, build_cache, load_settings

P = "TITILER_EOPF_CACHE_"


@pytest.fixture
def env(monkeypatch):
    def set_env(**values):
        for k, v in values.items():
            monkeypatch.setenv(P + k, v)

    return set_env


def test_defaults_are_the_local_embedded_cache():
    s = load_settings()
    assert (
        s.backend == "memory"
        and s.s3_prefix == "cache/"
        and s.excluded_params == ["access_token", "token", "_"]
    )
    assert (
        s.redis_connect_timeout <= 0.1 and s.redis_read_timeout <= 0.1 and s.s3_read_timeout <= 0.5
    )
    assert build_cache().backend.name == "memory"


def test_existing_deployment_names_keep_working(env, monkeypatch):
    env(
        BACKEND="s3_redis",
        REDIS_HOST="redis.internal",
        REDIS_PORT="6380",
        REDIS_PASSWORD="pw",
        REDIS_TLS="true",
        S3_BUCKET="tiles",
        S3_PREFIX="tc",
        S3_AWS_ACCESS_KEY_ID="AK",
        S3_AWS_SECRET_ACCESS_KEY="SK",
        NAMESPACE="prod",
        DEFAULT_TTL="1800",
        TILE_TTL="7200",
        EXCLUDED_PARAMS="token,sig",
    )
    monkeypatch.setenv("TITILER_EOPF_ADMIN_TOKEN", "adm")
    s = load_settings()
    assert (s.backend, s.redis_host, s.redis_port, s.redis_password.get_secret_value()) == (
        "s3_redis",
        "redis.internal",
        6380,
        "pw",
    )
    assert (
        s.s3_bucket,
        s.s3_prefix,
        s.s3_aws_access_key_id,
        s.s3_aws_secret_access_key.get_secret_value(),
    ) == ("tiles", "tc/", "AK", "SK")
    assert (s.namespace, s.ttl_for("tile"), s.ttl_for("info"), s.ttl_for("preview")) == (
        "prod",
        7200,
        1800,
        1800,
    )
    assert s.excluded_params == ["token", "sig"] and s.admin_token.get_secret_value() == "adm"
    assert "pw" not in repr(s) and "SK" not in repr(s)


@pytest.mark.parametrize(
    "values,named",
    [
        ({"BACKEND": "s3"}, f"{P}S3_BUCKET is required when {P}BACKEND=s3"),
        (
            {"BACKEND": "s3_redis", "REDIS_HOST": "h"},
            f"{P}S3_BUCKET is required when {P}BACKEND=s3_redis",
        ),
        ({"BACKEND": "redis"}, f"{P}REDIS_HOST is required when {P}BACKEND=redis"),
        ({"BACKEND": "redis", "REDIS_HOST": "h", "REDIS_PASSWORD": "pw"}, f"{P}REDIS_PASSWORD"),
        ({"S3_AWS_ACCESS_KEY_ID": "AK"}, f"{P}S3_AWS_SECRET_ACCESS_KEY"),
        ({"BACKEND": "memcached"}, f"{P}BACKEND"),
        ({"TILE_TTL": "-5"}, f"{P}TILE_TTL"),
        ({"REDIS_CONNECT_TIMEOUT": "abc"}, f"{P}REDIS_CONNECT_TIMEOUT"),
        ({"LOCK_POLL": "2", "LOCK_TTL": "3"}, f"{P}LOCK_POLL"),
        ({"NAMESPACE": "a/b"}, f"{P}NAMESPACE"),
        (
            {"BACKEND": "redis", "REDIS_HOST": "h", "REDIS_CLUSTER": "true", "REDIS_DB": "2"},
            f"{P}REDIS_DB must be 0 with {P}REDIS_CLUSTER=true",
        ),
    ],
)
def test_wrong_configuration_fails_naming_the_variable(env, values, named):
    env(**values)
    with pytest.raises(CacheConfigError) as err:
        load_settings()
    assert named in str(err.value)


@pytest.mark.parametrize("value", ["none", "disabled"])
def test_disabled_cache_passes_everything_through(env, value):
    env(BACKEND=value)
    cache = build_cache()
    assert not cache.enabled
    with client_for(cache) as client:
        first, second = client.get(tile_url()), client.get(tile_url())
        assert first.content == second.content and "x-cache" not in second.headers


def test_cache_hit_on_cold_start_imports_nothing_heavy(cache_for, cache_redis):
    """A new process answers a HIT without building the tiler (app_factory)
    and without importing raster/array libraries."""
    cache = cache_for("redis", namespace="coldstart")
    with client_for(cache) as client:
        assert client.get(tile_url()).headers["x-cache"] == "MISS"
    code = f"""
import sys
from starlette.testclient import TestClient
from titiler_eopf.cache import CacheMiddleware, CacheSettings, build_cache
def factory():
    raise SystemExit("the tiler was built on a HIT")
settings = CacheSettings(
    backend="redis", redis_host="127.0.0.1", redis_port={cache_redis.port}, namespace="coldstart"
)
# no lifespan (as Mangum with lifespan="off" on Lambda): a lifespan would build the app
client = TestClient(CacheMiddleware(app_factory=factory, cache=build_cache(settings)))
resp = client.get({tile_url()!r})
assert resp.status_code == 200 and resp.headers["x-cache"] == "HIT", resp.headers
HEAVY = {{
    "numpy", "rasterio", "xarray", "zarr", "titiler", "rio_tiler", "morecantile", "pyproj", "boto3"
}}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print("HEAVY", heavy)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": f"{ROOT / 'lambda_src'}", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
