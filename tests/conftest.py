"""Fixtures shared by every test package: sample products and local servers.

Servers are real processes started by the tests themselves (moto's S3 server,
redis-server on a free port), so nothing depends on what runs on the machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eopf_sample import write_samples

ROOT = Path(__file__).resolve().parents[1]
# Sample products are deterministic: keep one copy per source version outside
# the clone so repeated CI runs on this machine reuse it (safe: the key is a
# digest of the generator's code).
SAMPLE_CACHE = Path(os.environ.get("TITILER_EOPF_TEST_CACHE", Path.home() / ".cache" / "titiler-eopf"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def _generator_digest() -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "eopf_sample").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    """Directory holding both sample products (the tiler's store root)."""
    target = SAMPLE_CACHE / f"samples-{_generator_digest()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_samples(target)
    except OSError:  # read-only home: fall back to a per-session copy
        target = tmp_path_factory.mktemp("samples")
        write_samples(target)
    return target


@pytest.fixture(scope="session")
def moto_server():
    """A moto S3 server on a free port; yields its endpoint URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
