"""Template assertions for every property of the issue (default configuration).

The default stack is synthesized once per session (``default_synth``, bundling skipped,
shared with test_infra_checks.py); variants are in test_infra_stack_variants.py.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infrastructure.functions import ADMIN_HANDLER, TILE_HANDLER
from tests.support.infra import logical_id, only


@pytest.fixture(scope="module")
def synth(default_synth):
    assert default_synth.error is None, default_synth.error
    return default_synth.stack, default_synth.template


@pytest.fixture(scope="module")
def template(synth) -> Template:
    return synth[1]


@pytest.fixture(scope="module")
def stack(synth):
    return synth[0]


@pytest.fixture(scope="module")
def ids(stack) -> dict[str, str]:
    f = stack.functions
    return {
        "tile": logical_id(stack, f.tile_function),
        "admin": logical_id(stack, f.admin_function),
        "tile_sg": logical_id(stack, f.tile_security_group),
        "admin_sg": logical_id(stack, f.admin_security_group),
        "redis_sg": logical_id(stack, stack.cache.security_group),
        "secret": logical_id(stack, stack.cache.auth_secret),
        "bucket": logical_id(stack, stack.bucket.bucket),
        "api": logical_id(stack, stack.api.http_api),
        "redis": stack.get_logical_id(stack.cache.replication_group),
    }


def _function(template: Template, logical: str) -> dict:
    return template.to_json()["Resources"][logical]["Properties"]


# ---------------------------------------------------------------- network


def test_vpc_two_azs_public_private_isolated_subnets(template):
    template.resource_count_is("AWS::EC2::VPC", 1)
    subnets = template.find_resources("AWS::EC2::Subnet")
    kinds = sorted(
        next(t["Value"] for t in s["Properties"]["Tags"] if t["Key"] == "aws-cdk:subnet-type")
        for s in subnets.values()
    )
    assert kinds == ["Isolated", "Isolated", "Private", "Private", "Public", "Public"]
    azs = {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets.values()}
    assert len(azs) == 2
    template.resource_count_is("AWS::EC2::NatGateway", 1)


def test_s3_gateway_endpoint_on_lambda_route_tables(template):
    _, endpoint = only(template, "AWS::EC2::VPCEndpoint")
    props = endpoint["Properties"]
    assert props["VpcEndpointType"] == "Gateway"
    assert ".s3" in json.dumps(props["ServiceName"])
    assert len(props["RouteTableIds"]) == 2
    assert all("LambdaSubnet" in r["Ref"] for r in props["RouteTableIds"])


def test_flow_logs_for_rejected_traffic(template):
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "REJECT", "LogDestinationType": "cloud-watch-logs"}
    )


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("which", "handler", "memory", "timeout"),
    [("tile", TILE_HANDLER, 3008, 28), ("admin", ADMIN_HANDLER, 1024, 300)],
)
def test_function_runtime_handler_memory_timeout(template, ids, which, handler, memory, timeout):
    props = _function(template, ids[which])
    assert props["Runtime"] == "python3.12"
    assert props["Handler"] == handler
    assert props["MemorySize"] == memory
    assert props["Timeout"] == timeout
    assert props["Architectures"] == ["x86_64"]


def test_tile_timeout_below_http_api_limit(template, ids):
    assert _function(template, ids["tile"])["Timeout"] < 30


@pytest.mark.parametrize("which", ["tile", "admin"])
def test_functions_in_private_subnets_with_their_own_security_group(template, ids, which):
    vpc_config = _function(template, ids[which])["VpcConfig"]
    assert vpc_config["SecurityGroupIds"] == [{"Fn::GetAtt": [ids[f"{which}_sg"], "GroupId"]}]
    assert len(vpc_config["SubnetIds"]) == 2
    assert all("LambdaSubnet" in s["Ref"] for s in vpc_config["SubnetIds"])


@pytest.mark.parametrize(
    ("which", "service"), [("tile", "titiler-eopf"), ("admin", "titiler-eopf-admin")]
)
def test_function_environment(template, ids, which, service):
    env = _function(template, ids[which])["Environment"]["Variables"]
    # the admin Lambda's "seed" action requests tiles through the API
    seed_url = {"TITILER_EOPF_SEED_API_URL"} if which == "admin" else set()
    assert set(env) - seed_url == {
        "TITILER_EOPF_STORE_URL",
        "TITILER_EOPF_STORE_REGION",
        "TITILER_EOPF_CACHE_BACKEND",
        "TITILER_EOPF_CACHE_NAMESPACE",
        "TITILER_EOPF_CACHE_REDIS_HOST",
        "TITILER_EOPF_CACHE_REDIS_PORT",
        "TITILER_EOPF_CACHE_REDIS_TLS",
        "TITILER_EOPF_CACHE_REDIS_CLUSTER",
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT",
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT",
        "TITILER_EOPF_CACHE_REDIS_PASSWORD_SECRET_ARN",
        "TITILER_EOPF_CACHE_S3_BUCKET",
        "TITILER_EOPF_CACHE_S3_PREFIX",
        "TITILER_EOPF_CACHE_S3_REGION",
        "TITILER_EOPF_CACHE_TILE_TTL",
        "TITILER_EOPF_CACHE_METADATA_TTL",
        "TITILER_EOPF_CACHE_PREVIEW_TTL",
        "TITILER_EOPF_CACHE_HONOR_NO_CACHE",
        "TITILER_EOPF_PUBLIC_URL",
        "TITILER_EOPF_CORS_ORIGINS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
    assert env["TITILER_EOPF_CACHE_BACKEND"] == "s3_redis"
    assert env["TITILER_EOPF_CACHE_NAMESPACE"] == "dev"
    assert env["TITILER_EOPF_CACHE_REDIS_TLS"] == "true"
    # one node, not a cluster: the plain client
    assert env["TITILER_EOPF_CACHE_REDIS_CLUSTER"] == "false"
    # a burstable t4g.micro node storing 256 KiB bodies: 0.5 s (StackConfig.cache_timeouts)
    assert env["TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT"] == "0.5"
    assert env["TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT"] == "0.5"
    assert env["TITILER_EOPF_CACHE_REDIS_HOST"] == {
        "Fn::GetAtt": [ids["redis"], "PrimaryEndPoint.Address"]
    }
    assert env["TITILER_EOPF_CACHE_REDIS_PORT"] == {
        "Fn::GetAtt": [ids["redis"], "PrimaryEndPoint.Port"]
    }
    assert env["TITILER_EOPF_CACHE_REDIS_PASSWORD_SECRET_ARN"] == {"Ref": ids["secret"]}
    assert env["TITILER_EOPF_CACHE_S3_BUCKET"] == {"Ref": ids["bucket"]}
    assert env["TITILER_EOPF_CACHE_S3_PREFIX"] == "cache/"
    assert env["TITILER_EOPF_CACHE_S3_REGION"] == {"Ref": "AWS::Region"}
    assert env["TITILER_EOPF_STORE_REGION"] == {"Ref": "AWS::Region"}
    assert env["TITILER_EOPF_CACHE_TILE_TTL"] == "86400"
    assert env["TITILER_EOPF_CACHE_METADATA_TTL"] == "3600"
    assert env["TITILER_EOPF_CACHE_PREVIEW_TTL"] == "3600"
    assert json.loads(env["TITILER_EOPF_CORS_ORIGINS"]) == ["*"]
    assert env["TITILER_EOPF_CACHE_HONOR_NO_CACHE"] == "false"
    # TileJSON URLs come from the API's own URL, never from a request's Host
    assert ids["api"] in json.dumps(env["TITILER_EOPF_PUBLIC_URL"])
    assert env["POWERTOOLS_SERVICE_NAME"] == service
    if which == "admin":
        assert "execute-api" in json.dumps(env["TITILER_EOPF_SEED_API_URL"])
    else:
        assert "TITILER_EOPF_SEED_API_URL" not in env
    # The AUTH token itself is never in the environment
    assert "PASSWORD" not in " ".join(k for k in env if not k.endswith("_SECRET_ARN"))


def test_both_functions_share_one_code_asset(template, ids):
    codes = [
        json.dumps(_function(template, ids[w])["Code"], sort_keys=True) for w in ("tile", "admin")
    ]
    assert codes[0] == codes[1]


@pytest.mark.parametrize("which", ["tile", "admin"])
def test_function_log_groups_with_retention(template, ids, which):
    log_group = _function(template, ids[which])["LoggingConfig"]["LogGroup"]["Ref"]
    resource = template.to_json()["Resources"][log_group]
    assert resource["Type"] == "AWS::Logs::LogGroup"
    assert resource["Properties"]["RetentionInDays"] == 30
    assert resource["DeletionPolicy"] == "Delete"


# ---------------------------------------------------------------- security groups


def test_redis_security_group_admits_6379_only_from_the_two_lambdas(template, ids):
    ingress = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [ids["redis_sg"], "GroupId"]}
    ]
    sources = sorted(r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in ingress)
    assert sources == sorted([ids["tile_sg"], ids["admin_sg"]])
    assert all(
        (r["IpProtocol"], r["FromPort"], r["ToPort"]) == ("tcp", 6379, 6379) for r in ingress
    )
    redis_sg = template.to_json()["Resources"][ids["redis_sg"]]["Properties"]
    assert "SecurityGroupIngress" not in redis_sg  # no inline (CIDR) ingress
    assert redis_sg["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"  # no egress


def test_no_security_group_allows_inbound_from_anywhere(template):
    for sg in template.find_resources("AWS::EC2::SecurityGroup").values():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0"


@pytest.mark.parametrize("which", ["tile_sg", "admin_sg"])
def test_lambda_security_groups_egress_https_and_redis_only(template, ids, which):
    sg = template.to_json()["Resources"][ids[which]]["Properties"]
    assert [(r["FromPort"], r["ToPort"]) for r in sg["SecurityGroupEgress"]] == [(443, 443)]
    egress = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [ids[which], "GroupId"]}
    ]
    assert [(e["FromPort"], e["DestinationSecurityGroupId"]["Fn::GetAtt"][0]) for e in egress] == [
        (6379, ids["redis_sg"])
    ]


# ---------------------------------------------------------------- Redis


def test_redis_replication_group_encryption_auth_single_node(template, ids):
    props = template.to_json()["Resources"][ids["redis"]]["Properties"]
    # Valkey is the default engine (AWS's default, cheaper); 8.1 its default version
    assert (props["Engine"], props["EngineVersion"]) == ("valkey", "8.1")
    assert "ClusterMode" not in props and "NumNodeGroups" not in props
    assert props["CacheNodeType"] == "cache.t4g.micro"
    assert props["NumCacheClusters"] == 1
    assert props["AutomaticFailoverEnabled"] is False
    assert props["MultiAZEnabled"] is False
    assert props["TransitEncryptionEnabled"] is True
    assert props["AtRestEncryptionEnabled"] is True
    assert props["Port"] == 6379
    assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [ids["redis_sg"], "GroupId"]}]
    # AUTH token: a Secrets Manager dynamic reference to the generated secret, never a literal
    token = json.dumps(props["AuthToken"])
    assert "{{resolve:secretsmanager:" in token and ids["secret"] in token


def test_redis_in_isolated_subnets(template):
    _, group = only(template, "AWS::ElastiCache::SubnetGroup")
    subnet_ids = group["Properties"]["SubnetIds"]
    assert len(subnet_ids) == 2 and all("CacheSubnet" in s["Ref"] for s in subnet_ids)


def test_auth_token_secret_generated(template, ids):
    props = template.to_json()["Resources"][ids["secret"]]["Properties"]
    generated = props["GenerateSecretString"]
    assert generated["ExcludePunctuation"] is True
    assert generated["PasswordLength"] >= 32
    assert "SecretString" not in props


# ---------------------------------------------------------------- S3


def test_cache_bucket_encryption_public_access_ssl(template, ids):
    props = template.to_json()["Resources"][ids["bucket"]]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": ids["bucket"]},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Principal": {"AWS": "*"},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_cache_bucket_lifecycle_rules(template, ids):
    rules = template.to_json()["Resources"][ids["bucket"]]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    by_id = {r["Id"]: r for r in rules}
    assert by_id["ExpireTiles"] == {
        "Id": "ExpireTiles",
        "Prefix": "cache/tile/",
        "ExpirationInDays": 1,
        "Status": "Enabled",
    }
    assert by_id["ExpireMetadata"] == {
        "Id": "ExpireMetadata",
        "Prefix": "cache/meta/",
        "ExpirationInDays": 1,
        "Status": "Enabled",
    }
    # the S3-only backend's shared product metadata (blobs, written for the metadata TTL)
    assert by_id["ExpireBlobs"] == {
        "Id": "ExpireBlobs",
        "Prefix": "cache/blob/",
        "ExpirationInDays": 1,
        "Status": "Enabled",
    }
    abort = by_id["AbortIncompleteMultipartUploads"]
    assert (
        abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
        and "Prefix" not in abort
    )


def test_cache_bucket_destroyed_on_non_prod_stage(template, ids):
    resource = template.to_json()["Resources"][ids["bucket"]]
    assert resource["DeletionPolicy"] == "Delete"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 1)


# ---------------------------------------------------------------- IAM


def _statements(template: Template, role_of_function: str) -> list[dict]:
    resources = template.to_json()["Resources"]
    role = resources[role_of_function]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
    ]
    assert len(policies) == 1
    return policies[0]["PolicyDocument"]["Statement"]


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return sorted([actions] if isinstance(actions, str) else actions)


def _cache_objects(ids) -> dict:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [ids["bucket"], "Arn"]}, "/cache/*"]]}


def test_tile_role_get_put_under_prefix_and_secret_only(template, ids):
    # "cache/*": every object the cache writes (tile/, meta/, gen/ and blob/ of the S3 backend)
    statements = _statements(template, ids["tile"])
    assert [(_actions(s), s["Resource"]) for s in statements] == [
        (["s3:GetObject", "s3:PutObject"], _cache_objects(ids)),
        (["secretsmanager:GetSecretValue"], {"Ref": ids["secret"]}),
    ]
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements)


def test_admin_role_list_get_delete_under_prefix_and_secret_only(template, ids):
    statements = _statements(template, ids["admin"])
    assert [(_actions(s), s["Resource"], s.get("Condition")) for s in statements] == [
        (
            ["s3:ListBucket"],
            {"Fn::GetAtt": [ids["bucket"], "Arn"]},
            {"StringLike": {"s3:prefix": ["cache/*"]}},
        ),
        (["s3:DeleteObject", "s3:GetObject"], _cache_objects(ids), None),
        (["secretsmanager:GetSecretValue"], {"Ref": ids["secret"]}, None),
    ]


def test_no_data_bucket_access_for_an_https_store(template):
    text = json.dumps(template.find_resources("AWS::IAM::Policy"))
    assert "StoreRead" not in text and "StoreList" not in text


@pytest.mark.parametrize("which", ["tile", "admin"])
def test_roles_use_only_lambda_execution_managed_policies(template, ids, which):
    resources = template.to_json()["Resources"]
    role = resources[_function(template, ids[which])["Role"]["Fn::GetAtt"][0]]["Properties"]
    arns = sorted(json.dumps(a) for a in role["ManagedPolicyArns"])
    assert len(arns) == 2
    assert "AWSLambdaBasicExecutionRole" in arns[0] and "AWSLambdaVPCAccessExecutionRole" in arns[1]


# ---------------------------------------------------------------- API


def test_http_api_cors(template):
    _, api = only(template, "AWS::ApiGatewayV2::Api")
    props = api["Properties"]
    assert props["ProtocolType"] == "HTTP"
    cors = props["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["*"]
    assert sorted(cors["AllowMethods"]) == ["GET", "HEAD", "OPTIONS"]


def test_http_api_lambda_proxy_integration_payload_v2(template, ids):
    _, integration = only(template, "AWS::ApiGatewayV2::Integration")
    props = integration["Properties"]
    assert props["IntegrationType"] == "AWS_PROXY"
    assert props["PayloadFormatVersion"] == "2.0"
    assert props["IntegrationUri"] == {"Fn::GetAtt": [ids["tile"], "Arn"]}


def test_http_api_routes_get_head_only(template):
    routes = sorted(
        r["Properties"]["RouteKey"]
        for r in template.find_resources("AWS::ApiGatewayV2::Route").values()
    )
    assert routes == ["GET /", "GET /{proxy+}", "HEAD /", "HEAD /{proxy+}"]


def test_http_api_stage_throttling_and_access_logs(template):
    _, stage = only(template, "AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": 200,
        "ThrottlingRateLimit": 100,
    }
    log_format = json.loads(props["AccessLogSettings"]["Format"])
    assert log_format["status"] == "$context.status" and "integrationError" in log_format


def test_admin_function_not_reachable_through_the_api(template, ids):
    for permission in template.find_resources("AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"] == {"Fn::GetAtt": [ids["tile"], "Arn"]}
    assert ids["admin"] not in json.dumps(template.find_resources("AWS::ApiGatewayV2::Integration"))


def test_no_cloudfront_by_default(template):
    template.resource_count_is("AWS::CloudFront::Distribution", 0)


# ---------------------------------------------------------------- monitoring + outputs


def _alarm_targets(template) -> set[tuple[str, str, str]]:
    """(namespace, metric, dimension value) of every metric an alarm reads, math included."""
    seen = set()
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        stats = [props] if "MetricName" in props else [
            {**q["MetricStat"]["Metric"], "Dimensions": q["MetricStat"]["Metric"].get(
                "Dimensions", [])}
            for q in props["Metrics"]
            if "MetricStat" in q
        ]  # fmt: skip
        for stat in stats:
            dims = {d["Name"]: d["Value"] for d in stat.get("Dimensions", [])}
            target = next(iter(dims.values()), None) if dims else None
            seen.add((stat["Namespace"], stat["MetricName"], json.dumps(target)))
    return seen


def test_alarms_api_5xx_and_lambda_errors_throttles(template, ids):
    seen = _alarm_targets(template)
    assert {
        ("AWS/ApiGateway", "5xx", json.dumps({"Ref": ids["api"]})),
        ("AWS/Lambda", "Errors", json.dumps({"Ref": ids["tile"]})),
        ("AWS/Lambda", "Throttles", json.dumps({"Ref": ids["tile"]})),
        ("AWS/Lambda", "Errors", json.dumps({"Ref": ids["admin"]})),
        ("AWS/Lambda", "Throttles", json.dumps({"Ref": ids["admin"]})),
        ("AWS/Lambda", "Duration", json.dumps({"Ref": ids["tile"]})),
        ("AWS/Lambda", "ConcurrentExecutions", json.dumps({"Ref": ids["tile"]})),
    } <= seen


def test_alarms_on_the_cache_node_and_the_cache_counts(template, ids):
    seen = _alarm_targets(template)
    node = json.dumps({"Fn::Join": ["", [{"Ref": ids["redis"]}, "-001"]]})
    for metric in ("CPUCreditBalance", "EngineCPUUtilization", "Evictions", "SwapUsage",
                   "CurrConnections"):  # fmt: skip
        assert ("AWS/ElastiCache", metric, node) in seen, metric
    for metric in ("CacheErrors", "CacheBypasses", "CacheHits", "CacheMisses"):
        assert ("TitilerEopf", metric, json.dumps("titiler-eopf")) in seen, metric
    alarms = {
        k: a["Properties"] for k, a in template.find_resources("AWS::CloudWatch::Alarm").items()
    }
    by_id = {
        name: next(a for k, a in alarms.items() if k.startswith(f"Monitoring{name}"))
        for name in ("TileDurationP99", "TileConcurrency", "CacheCpuCredits", "CacheHitRatio")
    }
    p99 = by_id["TileDurationP99"]
    assert p99["ExtendedStatistic"] == "p99" and p99["Threshold"] == 28000 * 0.8
    assert by_id["TileConcurrency"]["Threshold"] == 800  # 80 % of the default quota
    credits = by_id["CacheCpuCredits"]
    assert credits["ComparisonOperator"] == "LessThanThreshold"
    assert next(q for q in credits["Metrics"] if "Expression" in q)["Expression"] == "MIN([n0])"
    ratio = by_id["CacheHitRatio"]
    expression = next(q for q in ratio["Metrics"] if "Expression" in q)["Expression"]
    assert "100 * FILL(h, 0) / (FILL(h, 0) + FILL(m, 0))" in expression
    assert ratio["ComparisonOperator"] == "LessThanThreshold" and ratio["Threshold"] == 50


def test_emf_metric_names_are_the_ones_the_app_emits():
    """The alarms read the counters the app publishes (names from the app, not copies)."""
    from infrastructure import monitoring
    from titiler_eopf.handlers.observability import COUNTERS

    emitted = set(COUNTERS.values())
    for name in (monitoring.EMF_HITS, monitoring.EMF_MISSES, monitoring.EMF_BYPASSES,
                 monitoring.EMF_ERRORS):  # fmt: skip
        assert name in emitted


def test_dashboard_graphs_lambdas_cache_and_counts(template):
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("Duration", "ConcurrentExecutions", "EngineCPUUtilization",
                   "DatabaseMemoryUsagePercentage", "Evictions", "CurrConnections",
                   "CPUCreditBalance", "CacheHits", "CacheBypasses", "CacheErrors"):  # fmt: skip
        assert metric in body, metric


def test_api_access_log_group_retention(template, stack):
    resource = template.to_json()["Resources"][logical_id(stack, stack.api.access_logs)]
    assert resource["Properties"]["RetentionInDays"] == 30


def test_outputs(template, ids):
    outputs = template.to_json()["Outputs"]
    assert {"ApiUrl", "AdminFunctionName", "CacheBucketName", "RedisEndpoint"} <= set(outputs)
    assert outputs["AdminFunctionName"]["Value"] == {"Ref": ids["admin"]}
    assert outputs["CacheBucketName"]["Value"] == {"Ref": ids["bucket"]}
    assert outputs["RedisEndpoint"]["Value"] == {
        "Fn::GetAtt": [ids["redis"], "PrimaryEndPoint.Address"]
    }
    assert ids["api"] in json.dumps(outputs["ApiUrl"]["Value"])


@pytest.mark.parametrize("which", ["tile", "admin"])
def test_function_environment_is_accepted_by_the_app(template, ids, which, monkeypatch):
    """What the stack sets is what the app validates at start-up (tokens resolved to
    plausible deploy-time values)."""
    from titiler_eopf.main import load_settings

    resolved = {
        "TITILER_EOPF_CACHE_REDIS_HOST": "master.x.cache.amazonaws.com",
        "TITILER_EOPF_CACHE_REDIS_PORT": "6379",
        "TITILER_EOPF_CACHE_REDIS_PASSWORD_SECRET_ARN": (
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth"
        ),
        "TITILER_EOPF_CACHE_S3_BUCKET": "cache-bucket",
        "TITILER_EOPF_CACHE_S3_REGION": "eu-west-1",
        "TITILER_EOPF_STORE_REGION": "eu-west-1",
        "TITILER_EOPF_PUBLIC_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com/",
    }
    env = _function(template, ids[which])["Environment"]["Variables"]
    for key, value in env.items():
        monkeypatch.setenv(key, resolved.get(key, value) if not isinstance(value, str) else value)
    settings = load_settings()
    assert settings.cache.backend == "s3_redis"
    assert settings.cache.redis_tls is True
    assert settings.cache.redis_connect_timeout == 0.5
    assert settings.cache.redis_read_timeout == 0.5
    assert settings.cache.s3_prefix == "cache/"
    assert settings.tiler.cors_origins == ["*"]
    assert settings.tiler.public_url == "https://abc123.execute-api.eu-west-1.amazonaws.com"
    assert settings.cache.honor_no_cache is False


def test_redis_evicts_by_lru_over_all_keys(template, ids):
    """Hot bodies live in Redis too: when memory is full it must evict, never refuse writes."""
    groups = template.find_resources("AWS::ElastiCache::ParameterGroup")
    assert len(groups) == 1
    ((gid, group),) = groups.items()
    assert group["Properties"]["CacheParameterGroupFamily"] == "valkey8"
    assert group["Properties"]["Properties"] == {"maxmemory-policy": "allkeys-lru"}
    rg = template.find_resources("AWS::ElastiCache::ReplicationGroup")[ids["redis"]]
    assert rg["Properties"]["CacheParameterGroupName"] == {"Ref": gid}
