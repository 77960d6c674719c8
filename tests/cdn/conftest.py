"""AWS as the CDN variant of the stack sees it, on moto's server: the origin-verify secret in
Secrets Manager and a CloudFront distribution (boto3 reaches both through
``AWS_ENDPOINT_URL``, as the app's own clients do)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def aws_env(monkeypatch, test_aws_env, moto_server):
    """boto3 pointed at moto's server (no TITILER_EOPF_* from the machine); yields its URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.fixture
def secrets(aws_env):
    import boto3

    return boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def origin_secret(secrets):
    """``(arn, value)`` of a fresh origin-verify secret (a bare string, as the stack makes)."""
    value = uuid.uuid4().hex + uuid.uuid4().hex
    arn = secrets.create_secret(Name=f"origin-{uuid.uuid4().hex[:8]}", SecretString=value)["ARN"]
    return arn, value


@pytest.fixture
def cloudfront(aws_env):
    import boto3

    return boto3.client("cloudfront", region_name="us-east-1")


@pytest.fixture
def distribution_id(cloudfront):
    config = {
        "CallerReference": uuid.uuid4().hex,
        "Comment": "titiler-eopf test",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "api",
                    "DomainName": "abc123.execute-api.us-east-1.amazonaws.com",
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "api",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }
    return cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["Id"]
