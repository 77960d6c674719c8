"""A local deployment for the operator CLI: redis-server, moto's S3 server, and the
app served by uvicorn with the ``s3_redis`` cache (the stack's backend) on them.

The CLI's local target reads the same ``TITILER_EOPF_CACHE_*`` settings, so the
CLI, the admin handler and the server share one cache, as on a stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import MotoProcess, RedisProcess, free_port, wait_port

ITEM = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
# The product (about 14 km) in lon/lat: the bbox the seed tests use.
BBOX = "11.43,42.30,11.60,42.42"


@dataclass
class Deployment:
    url: str
    env: dict
    redis_port: int
    moto_url: str
    bucket: str


def _clean_environ() -> dict:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TITILER_EOPF_", "AWS_", "POWERTOOLS_"))
    }
    return keep | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture(scope="session")
def deployment(sample_store, tmp_path_factory):
    import boto3

    redis = RedisProcess().start()
    moto = MotoProcess().start()
    bucket = f"ops-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    env = {
        "TITILER_EOPF_STORE_URL": str(sample_store),
        "TITILER_EOPF_CACHE_BACKEND": "s3_redis",
        "TITILER_EOPF_CACHE_NAMESPACE": "ops",
        "TITILER_EOPF_CACHE_REDIS_HOST": "127.0.0.1",
        "TITILER_EOPF_CACHE_REDIS_PORT": str(redis.port),
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": "0.5",
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": "1",
        "TITILER_EOPF_CACHE_S3_BUCKET": bucket,
        "TITILER_EOPF_CACHE_S3_ENDPOINT_URL": moto.url,
        "TITILER_EOPF_CACHE_S3_AWS_ACCESS_KEY_ID": "testing",
        "TITILER_EOPF_CACHE_S3_AWS_SECRET_ACCESS_KEY": "testing",
        "TITILER_EOPF_CACHE_S3_CONNECT_TIMEOUT": "2",
        "TITILER_EOPF_CACHE_S3_READ_TIMEOUT": "5",
        "TITILER_EOPF_SEED_STATE_DIR": str(tmp_path_factory.mktemp("seed-state")),
    }
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "titiler_eopf", "--port", str(port)],
            env=_clean_environ() | env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, 60)
        yield Deployment(f"http://127.0.0.1:{port}", env, redis.port, moto.url, bucket)
    finally:
        server.terminate()
        server.wait(10)
        redis.stop()
        moto.stop()


@pytest.fixture
def ops(deployment, monkeypatch):
    """The deployment with an empty cache, and this process set up as the CLI's."""
    import boto3
    import redis

    redis.Redis(port=deployment.redis_port).flushall()
    s3 = boto3.client(
        "s3",
        endpoint_url=deployment.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = s3.list_objects_v2(Bucket=deployment.bucket).get("Contents", [])
    if listed:
        s3.delete_objects(
            Bucket=deployment.bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]}
        )
    for key in [k for k in os.environ if k.startswith(("TITILER_EOPF_", "AWS_", "POWERTOOLS_"))]:
        monkeypatch.delenv(key)
    for key, value in (_clean_environ() | deployment.env).items():
        monkeypatch.setenv(key, value)
    from titiler_eopf.handlers import admin

    monkeypatch.setattr(admin, "_service", None)  # a fresh container: settings read again
    return deployment


@pytest.fixture
def cli(ops, capsys):
    """``cli(*argv) -> (exit code, stdout, stderr)``, in this process."""
    from titiler_eopf.ops.cli import main

    def run(*argv: str):
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def console_script() -> Path:
    return Path(sys.executable).parent / "titiler-eopf"
