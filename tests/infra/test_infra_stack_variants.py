"""Template assertions for the non-default options: replicas, arm64, s3:// store without
NAT, prod retention, custom TTLs, CORS origins, throttling (CloudFront, serverless, cluster
mode and SnapStart: test_infra_scale.py)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from tests.support.infra import logical_id, only, synth_stack

VARIANT = {
    "stage": "prod",
    "architecture": "arm64",
    "memory": "4096",
    "timeout": "20",
    "cache_replicas": "2",
    "cache_node_type": "cache.r7g.large",
    "nat_gateways": "0",
    "store_url": "s3://eopf-products/sentinel-2",
    "store_region": "eu-central-1",
    "tile_ttl": str(3 * 86400 + 1),
    "metadata_ttl": "7200",
    "preview_ttl": str(2 * 86400),
    "cors_origins": "https://explorer.example.com,https://maps.example.org",
    "throttle_rate": "50",
    "throttle_burst": "75",
    "log_retention_days": "90",
    "stac_api_url": "https://stac.core.eopf.eodc.eu",
}


@pytest.fixture(scope="module")
def synth():
    _app, stack = synth_stack(VARIANT)
    return stack, Template.from_stack(stack)


@pytest.fixture(scope="module")
def stack(synth):
    return synth[0]


@pytest.fixture(scope="module")
def template(synth):
    return synth[1]


def _resource(template, stack, construct) -> dict:
    return template.to_json()["Resources"][logical_id(stack, construct)]


def test_stack_name_from_stage(stack):
    assert stack.stack_name == "TitilerEopf-prod"


def test_replicas_enable_failover_and_multi_az(template):
    _, group = only(template, "AWS::ElastiCache::ReplicationGroup")
    props = group["Properties"]
    assert props["NumCacheClusters"] == 3
    assert props["AutomaticFailoverEnabled"] is True
    assert props["MultiAZEnabled"] is True
    assert props["CacheNodeType"] == "cache.r7g.large"


def test_arm64_memory_timeout(template, stack):
    for function, memory, timeout in (
        (stack.functions.tile_function, 4096, 20),
        (stack.functions.admin_function, 1024, 300),
    ):
        props = _resource(template, stack, function)["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)


def test_no_nat_isolated_lambda_subnets_and_secrets_manager_endpoint(template, stack):
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint")
    types = sorted(
        (e["Properties"]["VpcEndpointType"], json.dumps(e["Properties"]["ServiceName"]))
        for e in endpoints.values()
    )
    assert [t[0] for t in types] == ["Gateway", "Interface"]
    assert "secretsmanager" in types[1][1]
    interface = next(
        e for e in endpoints.values() if e["Properties"]["VpcEndpointType"] == "Interface"
    )
    assert interface["Properties"]["PrivateDnsEnabled"] is True
    # the endpoint admits HTTPS from the two Lambda security groups only
    endpoint_sg = interface["Properties"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
    ingress = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == endpoint_sg
    ]
    sources = sorted(r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in ingress)
    assert sources == sorted(
        [
            logical_id(stack, stack.functions.tile_security_group),
            logical_id(stack, stack.functions.admin_security_group),
        ]
    )
    assert all(r["FromPort"] == 443 for r in ingress)


def test_s3_store_read_access_scoped_to_prefix(template, stack):
    for function in (stack.functions.tile_function, stack.functions.admin_function):
        role = _resource(template, stack, function)["Properties"]["Role"]["Fn::GetAtt"][0]
        policy = next(
            p["Properties"]
            for p in template.find_resources("AWS::IAM::Policy").values()
            if {"Ref": role} in p["Properties"]["Roles"]
        )
        statements = {s.get("Sid"): s for s in policy["PolicyDocument"]["Statement"]}
        read = json.dumps(statements["StoreRead"]["Resource"])
        assert statements["StoreRead"]["Action"] == "s3:GetObject"
        assert ":s3:::eopf-products/sentinel-2/*" in read
        assert statements["StoreList"]["Condition"] == {
            "StringLike": {"s3:prefix": ["sentinel-2/*"]}
        }
        env = _resource(template, stack, function)["Properties"]["Environment"]["Variables"]
        assert env["TITILER_EOPF_STORE_URL"] == "s3://eopf-products/sentinel-2"
        assert env["TITILER_EOPF_STORE_REGION"] == "eu-central-1"
        assert env["TITILER_EOPF_CACHE_NAMESPACE"] == "prod"
        assert env["TITILER_EOPF_CACHE_TILE_TTL"] == str(3 * 86400 + 1)
        assert json.loads(env["TITILER_EOPF_CORS_ORIGINS"]) == [
            "https://explorer.example.com",
            "https://maps.example.org",
        ]


def test_prod_retains_bucket_and_logs(template, stack):
    assert _resource(template, stack, stack.bucket.bucket)["DeletionPolicy"] == "Retain"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    for group in template.find_resources("AWS::Logs::LogGroup").values():
        assert group["DeletionPolicy"] == "Retain"
        assert group["Properties"]["RetentionInDays"] == 90


def test_lifecycle_days_derived_from_ttls(template, stack):
    rules = {
        r["Id"]: r
        for r in _resource(template, stack, stack.bucket.bucket)["Properties"][
            "LifecycleConfiguration"
        ]["Rules"]
    }
    assert rules["ExpireTiles"]["ExpirationInDays"] == 4
    assert rules["ExpireMetadata"]["ExpirationInDays"] == 2
    assert rules["ExpireBlobs"]["ExpirationInDays"] == 2


def test_cors_and_throttling(template):
    _, api = only(template, "AWS::ApiGatewayV2::Api")
    assert api["Properties"]["CorsConfiguration"]["AllowOrigins"] == [
        "https://explorer.example.com",
        "https://maps.example.org",
    ]
    _, stage = only(template, "AWS::ApiGatewayV2::Stage")
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": 75,
        "ThrottlingRateLimit": 50,
    }


def test_no_cloudfront_without_nat(template):
    """cloudfront=true needs a NAT (the CloudFront API has no VPC endpoint): not here."""
    template.resource_count_is("AWS::CloudFront::Distribution", 0)


def test_stac_api_url_reaches_the_tile_function_only_when_set(template):
    functions = [
        r for r in template.to_json()["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    ]
    urls = {
        (f["Properties"].get("Environment") or {})
        .get("Variables", {})
        .get("TITILER_EOPF_STAC_API_URL")
        for f in functions
    }
    assert "https://stac.core.eopf.eodc.eu" in urls
