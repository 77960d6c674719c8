"""AWS as the CDN variant of the stack sees it, on moto's server: the origin-verify secret in
Secrets Manager and a CloudFront distribution (boto3 reaches both through
``AWS_ENDPOINT_URL``, as the app's own clients do)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from tests.servers import free_port, wait_port

ITEM = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
COLLECTION = "sentinel-2-l2a"
RGB = [
    ("variables", "/measurements/reflectance:b04"),
    ("variables", "/measurements/reflectance:b03"),
    ("variables", "/measurements/reflectance:b02"),
    ("rescale", "0,1"),
]
TILE = f"/collections/{COLLECTION}/items/{ITEM}/tiles/WebMercatorQuad/12/2178/1514.png"


@pytest.fixture
def aws_env(monkeypatch, moto_server):
    """boto3 pointed at moto's server, with test credentials; yields its URL."""
    for name in [n for n in os.environ if n.startswith("TITILER_EOPF_")]:
        monkeypatch.delenv(name)
    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
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


class LiveServer:
    """An ASGI app served by uvicorn in a thread (the seeder requests real HTTP)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_port(self.port)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
