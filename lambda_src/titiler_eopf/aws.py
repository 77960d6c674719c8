"""boto3 clients with explicit timeouts, and Secrets Manager reads (a leaf module).

botocore's defaults (60 s connect, 60 s read, up to 5 attempts in legacy mode) would let one
unreachable endpoint hold a Lambda for minutes: every client the app builds here says how long
it may wait and how often it tries. boto3 is imported lazily (it is in the Lambda runtime, and
a local run that reads no secret never needs it); ``AWS_ENDPOINT_URL`` (moto in the tests) is
honoured by boto3 itself.
"""

from __future__ import annotations

import json
from typing import Any

# Secrets Manager answers within tens of milliseconds in-region; a second attempt covers one
# dropped connection without letting a dead endpoint cost more than ~6 s at start.
SECRET_CONNECT_TIMEOUT = 1.0
SECRET_READ_TIMEOUT = 2.0
SECRET_ATTEMPTS = 2

# CloudFront's API is global (us-east-1) and slower; an invalidation is an admin action.
CLOUDFRONT_CONNECT_TIMEOUT = 3.0
CLOUDFRONT_READ_TIMEOUT = 10.0
CLOUDFRONT_ATTEMPTS = 3


def region_of_arn(arn: str) -> str | None:
    """``arn:partition:service:region:account:...`` -> region (None when not an ARN)."""
    parts = arn.split(":")
    return (parts[3] or None) if len(parts) > 4 and parts[0] == "arn" else None


def client(
    service: str,
    *,
    region: str | None = None,
    connect_timeout: float,
    read_timeout: float,
    attempts: int,
) -> Any:
    """A boto3 client that waits at most ``connect_timeout``/``read_timeout`` per attempt and
    makes at most ``attempts`` attempts (botocore's standard retry mode)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
    )
    return boto3.client(service, region_name=region, config=config)


def read_secret(arn: str) -> str:
    """The ``SecretString`` of a secret, in the secret's own region, bounded in time."""
    secrets = client(
        "secretsmanager",
        region=region_of_arn(arn),
        connect_timeout=SECRET_CONNECT_TIMEOUT,
        read_timeout=SECRET_READ_TIMEOUT,
        attempts=SECRET_ATTEMPTS,
    )
    return secrets.get_secret_value(SecretId=arn)["SecretString"]


def secret_field(value: str, names: tuple[str, ...]) -> str:
    """A bare secret value, or the first of ``names`` in a JSON document holding it."""
    try:
        doc = json.loads(value)
    except ValueError:
        return value
    if isinstance(doc, dict):
        for name in names:
            if name in doc:
                return str(doc[name])
    return value
