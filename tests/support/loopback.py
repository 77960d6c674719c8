"""A loopback object store: static files over HTTP the way object storage serves them.

- ``GET`` with ``Range`` (``bytes=a-b``, ``bytes=a-``, suffix ``bytes=-n``), ``HEAD``, keep-alive
  (HTTP/1.1): sharded GeoZarr reads inner chunks and the shard index at the end of a shard.
- ``latency``: seconds slept before each answer (a request's time to first byte);
  ``bandwidth``: bytes per second per response (bodies are sent in blocks at that pace), so a
  benchmark through it pays per request and per byte as it would from object storage.
- Counters of requests and bytes served, per path: ``GET /_loopback/stats`` (JSON) and
  ``POST /_loopback/reset``, or ``store.stats()``/``store.reset()`` in-process.
- Ranges are read with seek: a range of a 300 MB shard costs the range, not the shard.

In-process: ``with LoopbackStore(root, latency=0.02, bandwidth=100e6) as store: store.url``.
As a process (benchmarks measuring the tiler's own RSS):
``python -m tests.support.loopback ROOT --port N --latency 0.02 --bandwidth 100e6``.
S3 (``s3://``) goes through moto's server instead (``tests.support.servers.MotoProcess``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

BLOCK = 256 * 1024
STATS_PATH = "/_loopback/stats"
RESET_PATH = "/_loopback/reset"


class Counters:
    """Requests and bytes served per path (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: dict[str, int] = defaultdict(int)
            self.bytes: dict[str, int] = defaultdict(int)

    def add(self, path: str, nbytes: int) -> None:
        with self._lock:
            self.requests[path] += 1
            self.bytes[path] += nbytes

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": sum(self.requests.values()),
                "bytes": sum(self.bytes.values()),
                "paths": {p: [self.requests[p], self.bytes[p]] for p in sorted(self.requests)},
            }


def _parse_range(spec: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` -> (first, last) inclusive, clipped to the file; None if unsatisfiable."""
    start, _, end = spec.strip().removeprefix("bytes=").partition("-")
    if start == "":  # suffix range: the last N bytes
        n = int(end)
        if n == 0:
            return None
        return max(size - n, 0), size - 1
    first = int(start)
    last = min(int(end) if end else size - 1, size - 1)
    if first >= size or first > last:
        return None
    return first, last


class LoopbackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of object stores use it
    # TCP_NODELAY, as object stores' front ends answer: with Nagle's algorithm on, the last
    # partial segment of a body waited for the client's delayed ACK (~40 ms on Linux), which
    # turned a 20 ms small range read into 60-70 ms
    disable_nagle_algorithm = True
    server: LoopbackServer

    def log_message(self, *args):
        pass

    def _file(self) -> Path | None:
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.server.root / relative).resolve()
        if self.server.root not in path.parents and path != self.server.root:
            return None
        return path if path.is_file() else None

    def _not_found(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        if self.path == RESET_PATH:
            self.server.counters.reset()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._not_found()

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        if self.path == STATS_PATH:
            body = json.dumps(self.server.counters.snapshot()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self._serve(body=True)

    def _serve(self, body: bool):
        if self.server.latency:
            time.sleep(self.server.latency)
        path = self._file()
        request_path = urlsplit(self.path).path
        if path is None:
            self.server.counters.add(request_path, 0)
            return self._not_found()
        size = path.stat().st_size
        first, last = 0, size - 1
        spec = self.headers.get("Range")
        if spec:
            parsed = _parse_range(spec, size)
            if parsed is None:
                self.server.counters.add(request_path, 0)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            first, last = parsed
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        else:
            self.send_response(200)
        length = max(last - first + 1, 0)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", f'"{int(path.stat().st_mtime_ns)}-{size}"')
        self.end_headers()
        if not body:
            self.server.counters.add(request_path, 0)
            return
        self._send_body(path, first, length)
        self.server.counters.add(request_path, length)

    def _send_body(self, path: Path, first: int, length: int) -> None:
        started = time.perf_counter()
        sent = 0
        with open(path, "rb") as f:
            f.seek(first)
            while sent < length:
                block = f.read(min(BLOCK, length - sent))
                if not block:
                    break
                if self.server.bandwidth:  # a block leaves when the bandwidth allows it
                    wait = (sent + len(block)) / self.server.bandwidth - (
                        time.perf_counter() - started
                    )
                    if wait > 0:
                        time.sleep(wait)
                self.wfile.write(block)
                sent += len(block)


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root, latency: float = 0.0, bandwidth: float | None = None, port: int = 0):
        self.root = Path(root).resolve()
        self.latency = latency
        self.bandwidth = bandwidth
        self.counters = Counters()
        super().__init__(("127.0.0.1", port), LoopbackHandler)


class LoopbackStore:
    """The server on a thread of this process (tests); ``url`` is the store root."""

    def __init__(self, root, latency: float = 0.0, bandwidth: float | None = None):
        self.server = LoopbackServer(root, latency, bandwidth)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> LoopbackStore:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def stats(self) -> dict:
        return self.server.counters.snapshot()

    def reset(self) -> None:
        self.server.counters.reset()

    def __enter__(self) -> LoopbackStore:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def remote_stats(url: str) -> dict:
    """Counters of a loopback store running in another process."""
    from urllib.request import urlopen

    with urlopen(url + STATS_PATH, timeout=10) as response:
        return json.loads(response.read())


def remote_reset(url: str) -> None:
    from urllib.request import Request, urlopen

    urlopen(Request(url + RESET_PATH, method="POST"), timeout=10).read()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve ROOT as a loopback object store")
    parser.add_argument("root")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--bandwidth", type=float, default=None, help="bytes/s per response")
    args = parser.parse_args()
    server = LoopbackServer(args.root, args.latency, args.bandwidth, args.port)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        os._exit(0)


if __name__ == "__main__":
    main()
