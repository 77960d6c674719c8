"""Processes and load for the reliability suite: the app as a real server
process (``python -m titiler_eopf``), Redis and moto that can be killed and
restarted on the same port, a delaying TCP proxy, and a concurrent load runner
that records status, body digest, X-Cache and latency of every request."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import MotoProcess, RedisProcess, free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]


class AppServer:
    """The app served by uvicorn in its own process, configured by environment."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.env = env
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TITILER_EOPF_")}
        env.update({"PYTHONPATH": f"{ROOT / 'lambda_src'}{os.pathsep}{ROOT}", **self.env})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "titiler_eopf", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_port(self.port, 60)
        except RuntimeError as exc:
            self.proc.kill()
            raise RuntimeError(
                f"app server did not start: {self.proc.stderr.read().decode()[-2000:]}"
            ) from exc
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def restart(server: RedisProcess | MotoProcess) -> None:
    """Start a killed server again on the same port (it comes back empty)."""
    server.start()


def kill9(server: RedisProcess | MotoProcess) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(5)


# --- load -----------------------------------------------------------------------------------
@dataclass
class Result:
    index: int
    url: str
    status: int
    digest: str
    xcache: str
    ms: float


@dataclass
class LoadRun:
    results: list[Result] = field(default_factory=list)

    def phase(self, lo: int, hi: int) -> list[Result]:
        return [r for r in self.results if lo <= r.index < hi]

    @staticmethod
    def summary(results: list[Result]) -> dict:
        times = sorted(r.ms for r in results)
        return {
            "requests": len(results),
            "5xx": sum(r.status >= 500 for r in results),
            "x_cache": dict(Counter(r.xcache for r in results)),
            "p50_ms": round(statistics.median(times), 1) if times else None,
            "p95_ms": round(times[int(len(times) * 0.95) - 1], 1) if times else None,
        }


def run_load(
    base_url: str,
    urls: list[str],
    total: int,
    concurrency: int,
    host: str,
    at: dict[int, callable] | None = None,
    timeout: float = 30.0,
) -> LoadRun:
    """``total`` GETs spread over ``urls`` at ``concurrency``; ``at[n]`` is called
    (in its own thread, requests keep flowing) once ``n`` requests completed."""
    import httpx

    run = LoadRun()
    lock = threading.Lock()
    done = {"n": 0}
    triggers = dict(at or {})
    fired: list[threading.Thread] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.Client(base_url=base_url, timeout=timeout, limits=limits, headers={"host": host})

    def one(i: int) -> None:
        url = urls[i % len(urls)]
        t0 = time.perf_counter()
        try:
            resp = client.get(url)
            status, body, xcache = resp.status_code, resp.content, resp.headers.get("x-cache", "-")
        except httpx.HTTPError as exc:
            status, body, xcache = 599, repr(exc).encode(), "CLIENT-ERROR"
        ms = (time.perf_counter() - t0) * 1000
        with lock:
            run.results.append(Result(i, url, status, hashlib.sha256(body).hexdigest(), xcache, ms))
            done["n"] += 1
            action = triggers.pop(done["n"], None)
        if action is not None:
            thread = threading.Thread(target=action)
            thread.start()
            fired.append(thread)

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(total)))
    finally:
        client.close()
    for thread in fired:
        thread.join(60)
    run.results.sort(key=lambda r: r.index)
    return run


def reference_digests(base_url: str, urls: list[str], host: str) -> dict[str, str]:
    import httpx

    out = {}
    with httpx.Client(base_url=base_url, timeout=60, headers={"host": host}) as client:
        for url in dict.fromkeys(urls):
            resp = client.get(url)
            assert resp.status_code == 200, (url, resp.status_code, resp.text[:300])
            out[url] = hashlib.sha256(resp.content).hexdigest()
    return out


# --- a TCP proxy that can delay every reply ---------------------------------------------------
class DelayProxy:
    """Loopback TCP proxy in front of a server; ``delay`` seconds are added
    before each chunk the server sends back (0: a plain pipe). ``sent`` counts the
    chunks clients sent through it: a test sees whether a request asked the server."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.delay = 0.0
        self.sent = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = None
        self._writers: set = set()

    def start(self) -> DelayProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        wait_port(self.port)
        return self

    async def _serve(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src, dst, delayed: bool):
            try:
                while data := await src.read(65536):
                    if not delayed:
                        self.sent += 1
                    elif self.delay:
                        await asyncio.sleep(self.delay)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))

    def stop(self) -> None:
        async def close():
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
