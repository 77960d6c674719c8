"""A local deployment for the operator CLI: the app served by uvicorn with the ``s3_redis``
cache (the stack's backend) on the session's redis-server and moto S3 server.

The CLI's local target reads the same ``TITILER_EOPF_CACHE_*`` settings, so the
CLI, the admin handler and the server share one cache, as on a stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.support.ops import Deployment, clean_environ
from tests.support.servers import free_port, s3_client, wait_port


@pytest.fixture(scope="session")
def deployment(sample_store, redis_server, s3_server, tmp_path_factory):
    bucket = f"ops-{uuid.uuid4().hex[:10]}"
    s3_client(s3_server.url).create_bucket(Bucket=bucket)
    env = {
        "TITILER_EOPF_STORE_URL": str(sample_store),
        "TITILER_EOPF_CACHE_BACKEND": "s3_redis",
        "TITILER_EOPF_CACHE_NAMESPACE": "ops",
        "TITILER_EOPF_CACHE_REDIS_HOST": "127.0.0.1",
        "TITILER_EOPF_CACHE_REDIS_PORT": str(redis_server.port),
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": "0.5",
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": "1",
        "TITILER_EOPF_CACHE_S3_BUCKET": bucket,
        "TITILER_EOPF_CACHE_S3_ENDPOINT_URL": s3_server.url,
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
            env=clean_environ() | env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, 60)
        yield Deployment(f"http://127.0.0.1:{port}", env, redis_server.port, s3_server.url, bucket)
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def ops(deployment, monkeypatch):
    """The deployment with an empty cache, and this process set up as the CLI's."""
    import redis

    redis.Redis(port=deployment.redis_port).flushall()
    s3 = s3_client(deployment.moto_url)
    listed = s3.list_objects_v2(Bucket=deployment.bucket).get("Contents", [])
    if listed:
        s3.delete_objects(
            Bucket=deployment.bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]}
        )
    for key in [k for k in os.environ if k.startswith(("TITILER_EOPF_", "AWS_", "POWERTOOLS_"))]:
        monkeypatch.delenv(key)
    for key, value in (clean_environ() | deployment.env).items():
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
