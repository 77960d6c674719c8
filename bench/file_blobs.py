"""The cache tier of the benchmarks' child processes: a directory, one file per key, each
request paying ``latency`` seconds (a Redis GET in a VPC) and counted (round trips)."""

from __future__ import annotations

import os
import time


class FileBlobs:
    def __init__(self, root: str, latency: float = 0.0):
        self.root, self.latency, self.requests = root, latency, 0

    def path(self, key: str) -> str:
        return os.path.join(self.root, key.replace("/", "_"))

    def get(self, key: str) -> bytes | None:
        self.requests += 1
        time.sleep(self.latency)
        try:
            with open(self.path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def put(self, key: str, value: bytes) -> None:
        self.requests += 1
        time.sleep(self.latency)
        with open(self.path(key), "wb") as f:
            f.write(value)
