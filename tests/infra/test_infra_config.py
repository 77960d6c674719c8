"""Stack configuration: defaults, parsing, precedence, and errors that name the key."""

from __future__ import annotations

import pytest

from infrastructure.config import KEYS, ConfigError, StackConfig, docs_table


def load(context=None, environ=None) -> StackConfig:
    return StackConfig.load(context or {}, environ=environ or {})


def test_defaults():
    c = load()
    assert (c.stage, c.stack_name, c.memory, c.timeout, c.architecture, c.nat_gateways) == (
        "dev",
        "TitilerEopf-dev",
        3008,
        28,
        "x86_64",
        1,
    )
    assert (c.cache_node_type, c.cache_replicas, c.cache_prefix) == ("cache.t4g.micro", 0, "cache/")
    assert c.removal_policy == "destroy" and not c.retain
    assert c.cors_origins == ("*",) and c.cloudfront is False
    assert c.tile_expiration_days == 1 and c.meta_expiration_days == 1


def test_prod_stage_retains_by_default():
    assert load({"stage": "prod"}).removal_policy == "retain"
    assert load({"stage": "prod", "removal_policy": "destroy"}).removal_policy == "destroy"


def test_strings_from_cli_are_parsed():
    c = load(
        {
            "memory": "2048",
            "timeout": "20",
            "cloudfront": "true",
            "cache_replicas": "2",
            "cors_origins": "https://a.example.com, https://b.example.com",
            "architecture": "arm64",
        }
    )
    assert (c.memory, c.timeout, c.cloudfront, c.cache_replicas, c.architecture) == (
        2048,
        20,
        True,
        2,
        "arm64",
    )
    assert c.cors_origins == ("https://a.example.com", "https://b.example.com")
    assert load({"cors_origins": '["https://x.example.org"]'}).cors_origins == (
        "https://x.example.org",
    )


def test_environment_overrides_and_context_wins():
    env = {"TITILER_EOPF_STACK_MEMORY": "1536", "TITILER_EOPF_STACK_STAGE": "staging"}
    c = load(environ=env)
    assert (c.memory, c.stage, c.stack_name) == (1536, "staging", "TitilerEopf-staging")
    assert load({"memory": 4096}, environ=env).memory == 4096


def test_lifecycle_days_round_up():
    c = load({"tile_ttl": 3 * 86400 + 1, "metadata_ttl": 3600, "preview_ttl": 2 * 86400})
    assert c.tile_expiration_days == 4
    assert c.meta_expiration_days == 2
    assert load({"tile_ttl": 60}).tile_expiration_days == 1


@pytest.mark.parametrize(
    ("context", "fragments"),
    [
        ({"timeout": 30}, ["'timeout'", "TITILER_EOPF_STACK_TIMEOUT", "1..29", "30 s"]),
        ({"timeout": "abc"}, ["'timeout'", "expected an integer"]),
        ({"memory": 64}, ["'memory'", "128..10240"]),
        ({"architecture": "sparc"}, ["'architecture'", "x86_64 | arm64"]),
        ({"nat_gateways": 0}, ["'nat_gateways'", "s3://"]),
        ({"nat_gateways": 3}, ["'nat_gateways'", "0..2"]),
        ({"stage": "Prod_1"}, ["'stage'", "lower-case"]),
        ({"store_url": "ftp://x/y"}, ["'store_url'", "s3://bucket"]),
        ({"cache_node_type": "t4g.micro"}, ["'cache_node_type'", "cache."]),
        ({"cache_replicas": 6}, ["'cache_replicas'", "0..5"]),
        ({"log_retention_days": 10}, ["'log_retention_days'", "14"]),
        ({"cors_origins": "example.com"}, ["'cors_origins'", "origin"]),
        ({"cors_origins": "*,https://a.example.com"}, ["'cors_origins'", "'*'"]),
        ({"cloudfront": "maybe"}, ["'cloudfront'", "true | false"]),
        ({"removal_policy": "snapshot"}, ["'removal_policy'", "destroy | retain"]),
        ({"cache_prefix": "cache"}, ["'cache_prefix'", "ending in '/'"]),
        ({"tile_ttl": 10}, ["'tile_ttl'", "60.."]),
    ],
)
def test_invalid_values_name_the_key_and_what_is_allowed(context, fragments):
    with pytest.raises(ConfigError) as excinfo:
        load(context)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, message


def test_invalid_env_value_names_the_key():
    with pytest.raises(ConfigError, match="TITILER_EOPF_STACK_TIMEOUT"):
        load(environ={"TITILER_EOPF_STACK_TIMEOUT": "45"})


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown configuration key"):
        StackConfig.from_values({"memroy": 1024})


def test_s3_store_allows_no_nat():
    c = load({"nat_gateways": 0, "store_url": "s3://eopf-data/products/"})
    assert c.store_bucket == "eopf-data" and c.store_key_prefix == "products/"


def test_docs_table_lists_every_key():
    table = docs_table()
    for key in KEYS:
        assert f"`{key}`" in table


def test_app_rejects_bad_context_with_a_clear_message(capsys):
    from aws_cdk import App

    from app import build_app

    with pytest.raises(SystemExit) as excinfo:
        build_app(App(context={"aws:cdk:bundling-stacks": [], "timeout": "45"}))
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "'timeout'" in err and "1..29" in err


def test_app_bundle_false_skips_bundling():
    from aws_cdk import App

    from app import build_app

    app, stack = build_app(App(context={"bundle": "false"}))
    assert app.node.try_get_context("aws:cdk:bundling-stacks") == []
    assert not stack.bundling_required


def test_stac_api_url_from_context_or_env_and_checked():
    assert load().stac_api_url is None
    assert (
        load({"stac_api_url": "https://stac.example.com/api"}).stac_api_url
        == "https://stac.example.com/api"
    )
    assert (
        load(environ={"TITILER_EOPF_STACK_STAC_API_URL": "https://stac.example.org"}).stac_api_url
        == "https://stac.example.org"
    )
    with pytest.raises(ConfigError) as excinfo:
        load({"stac_api_url": "ftp://stac.example.com"})
    assert "stac_api_url" in str(excinfo.value) and "http(s)" in str(excinfo.value)


def test_nat_gateways_one_per_az_for_prod_stages():
    assert load().nat_gateways == 1
    assert load({"stage": "staging"}).nat_gateways == 1
    assert load({"stage": "prod"}).nat_gateways == 2
    assert load({"stage": "production"}).nat_gateways == 2
    assert load({"stage": "prod", "nat_gateways": 1}).nat_gateways == 1  # explicit wins


def test_cache_engine_defaults_and_families():
    c = load()
    assert (c.cache_mode, c.cache_engine, c.cache_engine_version) == ("node", "valkey", "8.1")
    assert c.cache_parameter_family == "valkey8" and not c.cache_clustered
    assert load(
        {"cache_engine": "valkey", "cache_engine_version": "7.2"}
    ).cache_parameter_family == ("valkey7")
    redis = load({"cache_engine": "redis"})
    assert (redis.cache_engine_version, redis.cache_parameter_family) == ("7.1", "redis7")
    assert load(
        {"cache_engine": "redis", "cache_engine_version": "7.0"}
    ).cache_parameter_family == ("redis7")
    assert load({"cache_mode": "serverless"}).cache_clustered
    assert load({"cache_mode": "cluster"}).cache_clustered


@pytest.mark.parametrize(
    ("context", "fragments"),
    [
        (
            {"cache_engine": "redis", "cache_engine_version": "6.2"},
            ["'cache_engine_version'", "'6.2'", "need version 7", "GT/NX", "7.0, 7.1"],
        ),
        (
            {"cache_engine_version": "7.1"},
            ["'cache_engine_version'", "cache_engine=valkey", "7.2, 8.0, 8.1, 8.2"],
        ),
        ({"cache_engine_version": "9.9"}, ["'cache_engine_version'", "allowed for valkey"]),
        ({"cache_engine_version": "8"}, ["'cache_engine_version'", "must look like 8.1"]),
        ({"cache_engine": "memcached"}, ["'cache_engine'", "valkey | redis"]),
        ({"cache_mode": "replica"}, ["'cache_mode'", "node | cluster | serverless"]),
        ({"cache_shards": 0}, ["'cache_shards'", "1..30"]),
        ({"cache_max_ecpu_per_second": 10}, ["'cache_max_ecpu_per_second'", "1000.."]),
        ({"cache_max_storage_gb": 0}, ["'cache_max_storage_gb'", "1..5000"]),
        ({"reserved_concurrency": 0}, ["'reserved_concurrency'", "1..10000"]),
        ({"snapstart": "perhaps"}, ["'snapstart'", "true | false"]),
        (
            {"cloudfront": "true", "nat_gateways": 0, "store_url": "s3://eopf-data/x"},
            ["'nat_gateways'", "CloudFront API", "no VPC endpoint"],
        ),
    ],
)
def test_invalid_cache_and_scale_values_name_the_key(context, fragments):
    with pytest.raises(ConfigError) as excinfo:
        load(context)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, message


def test_app_rejects_an_old_engine_version_with_the_context_key(capsys):
    from aws_cdk import App

    from app import build_app

    context = {
        "aws:cdk:bundling-stacks": [],
        "cache_engine": "redis",
        "cache_engine_version": "6.2",
    }
    with pytest.raises(SystemExit) as excinfo:
        build_app(App(context=context))
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "'cache_engine_version'" in err and "-c cache_engine_version=" in err


def test_redis_timeouts_fit_the_node():
    assert load().cache_timeouts == (0.5, 0.5)  # burstable t4g.micro
    assert load({"cache_node_type": "cache.t3.small"}).cache_burstable
    assert load({"cache_node_type": "cache.r7g.large"}).cache_timeouts == (0.3, 0.25)
    assert load({"cache_mode": "serverless"}).cache_timeouts == (0.5, 0.25)
