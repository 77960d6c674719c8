"""Template assertions for the scale-out variants (issue 16): ElastiCache Serverless, cluster
mode on Redis OSS, and a prod stage with CloudFront (CORS at the edge, the origin lock, CDN
invalidation), SnapStart and reserved concurrency.

Each variant is synthesized once per session (``variant_synth``, shared with the cdk-nag and
cfn-lint checks in test_infra_checks.py).
"""

from __future__ import annotations

import json

import pytest

from tests.support.infra import logical_id, only


def _resources(template) -> dict:
    return template.to_json()["Resources"]


def _env(template, stack, function) -> dict:
    return _resources(template)[logical_id(stack, function)]["Properties"]["Environment"][
        "Variables"
    ]


def _statements(template, stack, function) -> dict[str, dict]:
    resources = _resources(template)
    role = resources[logical_id(stack, function)]["Properties"]["Role"]["Fn::GetAtt"][0]
    policy = next(
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
    )
    return {s.get("Sid"): s for s in policy["PolicyDocument"]["Statement"]}


def _functions(stack):
    return (stack.functions.tile_function, stack.functions.admin_function)


# ---------------------------------------------------------------- serverless


@pytest.fixture(scope="module")
def serverless(variant_synth):
    synth = variant_synth("serverless")
    assert synth.error is None, synth.error
    return synth.stack, synth.template


def test_serverless_cache_valkey_limits_network(serverless):
    stack, template = serverless
    template.resource_count_is("AWS::ElastiCache::ReplicationGroup", 0)
    template.resource_count_is("AWS::ElastiCache::ParameterGroup", 0)
    _, cache = only(template, "AWS::ElastiCache::ServerlessCache")
    props = cache["Properties"]
    assert (props["Engine"], props["MajorEngineVersion"]) == ("valkey", "8")
    assert props["ServerlessCacheName"] == "titiler-eopf-staging"
    assert props["CacheUsageLimits"] == {
        "DataStorage": {"Maximum": 20, "Unit": "GB"},
        "ECPUPerSecond": {"Maximum": 50000},
    }
    sg = logical_id(stack, stack.cache.security_group)
    assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [sg, "GroupId"]}]
    assert len(props["SubnetIds"]) == 2
    assert all("CacheSubnet" in s["Ref"] for s in props["SubnetIds"])
    assert cache["DeletionPolicy"] == "Delete"


def test_serverless_auth_user_group_with_a_disabled_default_user(serverless):
    stack, template = serverless
    users = {
        u["Properties"]["UserName"]: u["Properties"]
        for u in template.find_resources("AWS::ElastiCache::User").values()
    }
    assert set(users) == {"default", "titiler-eopf"}
    default, app = users["default"], users["titiler-eopf"]
    assert default["AccessString"] == "off -@all"
    assert app["AccessString"] == "on ~* +@all -@dangerous"
    assert app["AuthenticationMode"]["Type"] == "password"
    secret = logical_id(stack, stack.cache.auth_secret)
    password = json.dumps(app["AuthenticationMode"]["Passwords"])
    assert "{{resolve:secretsmanager:" in password and secret in password
    group_id, group = only(template, "AWS::ElastiCache::UserGroup")
    assert group["Properties"]["Engine"] == "valkey"
    assert len(group["Properties"]["UserIds"]) == 2
    _, cache = only(template, "AWS::ElastiCache::ServerlessCache")
    assert cache["Properties"]["UserGroupId"] == {"Ref": group_id}


def test_serverless_environment_cluster_client_tls_user(serverless):
    stack, template = serverless
    cache_id = stack.get_logical_id(stack.cache.serverless_cache)
    for function in _functions(stack):
        env = _env(template, stack, function)
        assert env["TITILER_EOPF_CACHE_REDIS_CLUSTER"] == "true"
        assert env["TITILER_EOPF_CACHE_REDIS_TLS"] == "true"
        assert env["TITILER_EOPF_CACHE_REDIS_USERNAME"] == "titiler-eopf"
        assert env["TITILER_EOPF_CACHE_REDIS_HOST"] == {
            "Fn::GetAtt": [cache_id, "Endpoint.Address"]
        }
        assert env["TITILER_EOPF_CACHE_REDIS_PORT"] == {"Fn::GetAtt": [cache_id, "Endpoint.Port"]}
        assert env["TITILER_EOPF_CACHE_REDIS_PASSWORD_SECRET_ARN"] == {
            "Ref": logical_id(stack, stack.cache.auth_secret)
        }
        assert (
            env["TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT"],
            env["TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT"],
        ) == ("0.5", "0.25")


def test_serverless_security_group_admits_6379_and_6380_from_the_lambdas_only(serverless):
    stack, template = serverless
    sg = logical_id(stack, stack.cache.security_group)
    ingress = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [sg, "GroupId"]}
    ]
    assert sorted(r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in ingress) == sorted(
        logical_id(stack, g)
        for g in (stack.functions.tile_security_group, stack.functions.admin_security_group)
    )
    assert {(r["FromPort"], r["ToPort"]) for r in ingress} == {(6379, 6380)}


def test_serverless_alarms_on_usage_limits(serverless):
    _stack, template = serverless
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/ElastiCache"
    }
    assert set(alarms) == {
        "ElastiCacheProcessingUnits",
        "BytesUsedForCache",
        "ThrottledCmds",
        "Evictions",
        "CurrConnections",
    }
    for alarm in alarms.values():
        assert alarm["Dimensions"] == [{"Name": "clusterId", "Value": "titiler-eopf-staging"}]
    # 90 % of the limits: ECPUs per 5 minutes, bytes of data
    assert alarms["ElastiCacheProcessingUnits"]["Threshold"] == int(0.9 * 50000 * 300)
    assert alarms["BytesUsedForCache"]["Threshold"] == int(0.9 * 20 * 10**9)


def test_serverless_environment_is_accepted_by_the_app(serverless, monkeypatch):
    from titiler_eopf.main import load_settings

    stack, template = serverless
    env = _env(template, stack, stack.functions.tile_function)
    resolved = {
        "TITILER_EOPF_CACHE_REDIS_HOST": "titiler-eopf-staging-x.serverless.cache.amazonaws.com",
        "TITILER_EOPF_CACHE_REDIS_PORT": "6379",
        "TITILER_EOPF_CACHE_REDIS_PASSWORD_SECRET_ARN": (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app"
        ),
        "TITILER_EOPF_CACHE_S3_BUCKET": "cache-bucket",
        "TITILER_EOPF_CACHE_S3_REGION": "eu-central-1",
        "TITILER_EOPF_STORE_REGION": "eu-central-1",
        "TITILER_EOPF_PUBLIC_URL": "https://abc123.execute-api.eu-central-1.amazonaws.com/",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value if isinstance(value, str) else resolved[key])
    settings = load_settings()
    assert settings.cache.redis_username == "titiler-eopf"
    assert settings.cache.redis_tls is True
    assert settings.cache.redis_read_timeout == 0.25


# ---------------------------------------------------------------- cluster mode, Redis OSS


@pytest.fixture(scope="module")
def cluster(variant_synth):
    synth = variant_synth("cluster-redis")
    assert synth.error is None, synth.error
    return synth.stack, synth.template


def test_cluster_mode_replication_group(cluster):
    stack, template = cluster
    group_id, group = only(template, "AWS::ElastiCache::ReplicationGroup")
    props = group["Properties"]
    assert (props["Engine"], props["EngineVersion"]) == ("redis", "7.1")
    assert props["ClusterMode"] == "enabled"
    assert (props["NumNodeGroups"], props["ReplicasPerNodeGroup"]) == (3, 1)
    assert props["AutomaticFailoverEnabled"] is True and props["MultiAZEnabled"] is True
    assert "NumCacheClusters" not in props
    assert props["TransitEncryptionEnabled"] is True
    _, params = only(template, "AWS::ElastiCache::ParameterGroup")
    assert params["Properties"]["CacheParameterGroupFamily"] == "redis7"
    assert params["Properties"]["Properties"] == {
        "maxmemory-policy": "allkeys-lru",
        "cluster-enabled": "yes",
    }
    for function in _functions(stack):
        env = _env(template, stack, function)
        assert env["TITILER_EOPF_CACHE_REDIS_CLUSTER"] == "true"
        assert env["TITILER_EOPF_CACHE_REDIS_HOST"] == {
            "Fn::GetAtt": [group_id, "ConfigurationEndPoint.Address"]
        }
        assert "TITILER_EOPF_CACHE_REDIS_USERNAME" not in env  # AUTH token, no user
        # a non-burstable node: tighter timeouts
        assert env["TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT"] == "0.25"


def test_cluster_mode_alarms_cover_every_node_in_groups_of_ten(cluster):
    stack, template = cluster
    group = stack.get_logical_id(stack.cache.replication_group)
    evictions = [
        a["Properties"]
        for k, a in template.find_resources("AWS::CloudWatch::Alarm").items()
        if "CacheEvictions" in k
    ]
    nodes = [
        q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
        for alarm in evictions
        for q in alarm["Metrics"]
        if "MetricStat" in q
    ]
    expected = [
        {"Fn::Join": ["", [{"Ref": group}, f"-{shard:04d}-{node:03d}"]]}
        for shard in (1, 2, 3)
        for node in (1, 2)
    ]
    assert sorted(map(json.dumps, nodes)) == sorted(map(json.dumps, expected))
    assert len(evictions) == 1  # 6 nodes: one alarm
    # no CPU-credit alarm on a non-burstable node type
    assert not [k for k in template.find_resources("AWS::CloudWatch::Alarm") if "Credits" in k]


# ---------------------------------------------------------------- prod, CloudFront, SnapStart


@pytest.fixture(scope="module")
def cdn(variant_synth):
    synth = variant_synth("prod-cloudfront-snapstart")
    assert synth.error is None, synth.error
    return synth.stack, synth.template


def test_prod_stage_gets_one_nat_per_az(cdn):
    _stack, template = cdn
    template.resource_count_is("AWS::EC2::NatGateway", 2)


def test_cors_answered_at_the_edge_by_a_response_headers_policy(cdn):
    _stack, template = cdn
    policy_id, policy = only(template, "AWS::CloudFront::ResponseHeadersPolicy")
    cors = policy["Properties"]["ResponseHeadersPolicyConfig"]["CorsConfig"]
    assert cors["AccessControlAllowOrigins"]["Items"] == [
        "https://explorer.example.com",
        "https://maps.example.org",
    ]
    assert cors["OriginOverride"] is True
    assert cors["AccessControlAllowCredentials"] is False
    assert sorted(cors["AccessControlAllowMethods"]["Items"]) == ["GET", "HEAD", "OPTIONS"]
    _, dist = only(template, "AWS::CloudFront::Distribution")
    behavior = dist["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": policy_id}


def test_cache_policy_takes_lifetimes_from_the_origin(cdn):
    _stack, template = cdn
    _, policy = only(template, "AWS::CloudFront::CachePolicy")
    config = policy["Properties"]["CachePolicyConfig"]
    # s-maxage/max-age from the origin decide; without Cache-Control nothing is kept
    assert (config["MinTTL"], config["DefaultTTL"], config["MaxTTL"]) == (0, 0, 604800)
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    # Origin is not in the key: one cached copy per tile for every site
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["EnableAcceptEncodingGzip"] is True


def test_origin_locked_by_a_generated_secret_header(cdn):
    stack, template = cdn
    secret = logical_id(stack, stack.api.origin_secret)
    generated = _resources(template)[secret]["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32 and "SecretString" not in generated
    _, dist = only(template, "AWS::CloudFront::Distribution")
    origin = dist["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    (header,) = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Origin-Verify"
    value = json.dumps(header["HeaderValue"])
    assert "{{resolve:secretsmanager:" in value and secret in value
    for function in _functions(stack):
        env = _env(template, stack, function)
        assert env["TITILER_EOPF_ORIGIN_VERIFY_SECRET_ARN"] == {"Ref": secret}
        statement = _statements(template, stack, function)["OriginVerifySecret"]
        assert statement["Action"] == "secretsmanager:GetSecretValue"
        assert statement["Resource"] == {"Ref": secret}
    # TileJSON URLs point at the CDN
    env = _env(template, stack, stack.functions.tile_function)
    assert "DomainName" in json.dumps(env["TITILER_EOPF_PUBLIC_URL"])


def test_admin_invalidates_this_distribution_only(cdn):
    stack, template = cdn
    dist = logical_id(stack, stack.api.distribution)
    admin_env = _env(template, stack, stack.functions.admin_function)
    assert admin_env["TITILER_EOPF_CDN_DISTRIBUTION_ID"] == {"Ref": dist}
    statement = _statements(template, stack, stack.functions.admin_function)["CdnInvalidation"]
    assert sorted(statement["Action"]) == [
        "cloudfront:CreateInvalidation",
        "cloudfront:GetInvalidation",
    ]
    resource = json.dumps(statement["Resource"])
    assert ":cloudfront::" in resource and ":distribution/" in resource
    assert json.dumps({"Ref": dist}) in resource and "*" not in resource
    tile_env = _env(template, stack, stack.functions.tile_function)
    assert "TITILER_EOPF_CDN_DISTRIBUTION_ID" not in tile_env
    tile_policies = json.dumps(_statements(template, stack, stack.functions.tile_function))
    assert "cloudfront:" not in tile_policies


def test_snapstart_version_and_alias_behind_the_http_api(cdn):
    stack, template = cdn
    tile = logical_id(stack, stack.functions.tile_function)
    props = _resources(template)[tile]["Properties"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["ReservedConcurrentExecutions"] == 200
    version_id, version = only(template, "AWS::Lambda::Version")
    assert version["Properties"]["FunctionName"] == {"Ref": tile}
    alias_id, alias = only(template, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    _, integration = only(template, "AWS::ApiGatewayV2::Integration")
    assert integration["Properties"]["IntegrationUri"] == {"Ref": alias_id}
    permissions = template.find_resources("AWS::Lambda::Permission").values()
    assert {json.dumps(p["Properties"]["FunctionName"]) for p in permissions} == {
        json.dumps({"Ref": alias_id})
    }
    # the admin function is not published (invoked directly, never through the API)
    admin = _resources(template)[logical_id(stack, stack.functions.admin_function)]
    assert "SnapStart" not in admin["Properties"]


def test_concurrency_alarm_follows_reserved_concurrency(cdn):
    _stack, template = cdn
    (alarm,) = [
        a["Properties"]
        for k, a in template.find_resources("AWS::CloudWatch::Alarm").items()
        if "TileConcurrency" in k
    ]
    assert alarm["MetricName"] == "ConcurrentExecutions" and alarm["Threshold"] == 160
