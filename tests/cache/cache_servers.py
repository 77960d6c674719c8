"""Test servers and settings helpers for the cache tests (importable by name:
``conftest`` is ambiguous when several test packages have one)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from titiler_eopf.cache import CacheSettings

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BACKENDS = ["memory", "redis", "s3", "s3_redis"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


class RedisProcess:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc = None

    def start(self):
        exe = shutil.which("redis-server")
        if not exe:
            pytest.skip("redis-server not on PATH")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class MotoProcess:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, 30)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def make_settings(backend: str, *, redis_port=None, s3_endpoint=None, bucket=None, **overrides) -> CacheSettings:
    kwargs: dict = {"backend": backend, "namespace": "test"}
    if backend in ("redis", "s3_redis"):
        kwargs |= {"redis_host": "127.0.0.1", "redis_port": redis_port,
                   # generous enough for a loaded 2-core CI box, still fails fast
                   "redis_connect_timeout": 0.5, "redis_read_timeout": 0.5}
    if backend in ("s3", "s3_redis"):
        kwargs |= {"s3_bucket": bucket, "s3_endpoint_url": s3_endpoint, "s3_aws_access_key_id": "testing",
                   "s3_aws_secret_access_key": "testing", "s3_connect_timeout": 1.0, "s3_read_timeout": 2.0,
                   "s3_generation_refresh": 0}
    kwargs.update(overrides)
    return CacheSettings(_env_file=None, **kwargs)


