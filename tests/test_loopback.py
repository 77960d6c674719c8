"""The loopback object store used by benchmarks and the HTTP store tests."""

from __future__ import annotations

import time
import urllib.request

import pytest

from tests.support.loopback import LoopbackStore, remote_reset, remote_stats


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "blob").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    return tmp_path


def get(url: str, range_: str | None = None):
    request = urllib.request.Request(url, headers={"Range": range_} if range_ else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), b""


def test_ranges_and_counters(files):
    data = (files / "a" / "blob").read_bytes()
    with LoopbackStore(files) as store:
        assert get(store.url + "/a/blob")[2] == data
        status, headers, body = get(store.url + "/a/blob", "bytes=10-19")
        assert (status, body) == (206, data[10:20])
        assert headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        assert get(store.url + "/a/blob", "bytes=-16")[2] == data[-16:]  # shard index read
        assert get(store.url + "/a/blob", "bytes=1048570-")[2] == data[1048570:]
        assert get(store.url + "/a/blob", f"bytes={len(data)}-")[0] == 416
        assert get(store.url + "/a/missing")[0] == 404
        assert get(store.url + "/../etc/passwd")[0] == 404
        stats = remote_stats(store.url)
        assert stats["paths"]["/a/blob"] == [5, len(data) + 10 + 16 + 6]
        assert stats["paths"]["/a/missing"] == [1, 0]
        # the first byte of each answer (the 416 answers nothing: counted at 0)
        assert stats["starts"]["/a/blob"] == [0, 0, 10, len(data) - 16, 1048570]
        assert stats == store.stats()
        remote_reset(store.url)
        assert store.stats()["requests"] == 0


def test_latency_and_bandwidth(files):
    with LoopbackStore(files, latency=0.05, bandwidth=4 * 1024 * 1024) as store:
        started = time.perf_counter()
        get(store.url + "/a/blob", "bytes=0-0")
        small = time.perf_counter() - started
        started = time.perf_counter()
        get(store.url + "/a/blob")  # 1 MiB at 4 MiB/s: 0.25 s + latency
        whole = time.perf_counter() - started
    # lower bounds only: the machine is shared, a request may take longer, never shorter
    assert small >= 0.05
    assert whole >= 0.05 + 0.25
