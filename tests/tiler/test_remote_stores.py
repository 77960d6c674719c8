"""Products read from s3:// (moto's server) and stores that fail: clear 5xx, never a hang."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient

from eopf_sample import BOUNDS_LONLAT, COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID
from tests.support.tiler import RGB, item_path, variables_query
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

BUCKET = "eopf-products"
PREFIX = "zarr"
# "Never a hang": a failing store's request must end well inside the tile Lambda's 28 s
# timeout. Not a timing test: with the 1-2 s store timeouts below these requests take 2-3 s
# on a loaded 2-core machine; the bound is over 5x that, so only a hang can reach it.
NO_HANG_SECONDS = 20


@pytest.fixture(scope="module")
def aws_env():
    mp = pytest.MonkeyPatch()
    # moto accepts any credentials; they only have to exist (as on Lambda, from env).
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.delenv("AWS_SESSION_TOKEN", raising=False)
    mp.delenv("AWS_PROFILE", raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def s3_store(moto_server, sample_store, aws_env) -> str:
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for collection in (COLLECTION_NATIVE, COLLECTION_GEOZARR):
        root = Path(sample_store) / collection / f"{ITEM_ID}.zarr"
        for path in root.rglob("*"):
            if path.is_file():
                key = f"{PREFIX}/{collection}/{ITEM_ID}.zarr/{path.relative_to(root).as_posix()}"
                s3.upload_file(str(path), BUCKET, key)
    return moto_server


def tile_url(collection: str, z: int = 13) -> str:
    import morecantile

    minx, miny, maxx, maxy = BOUNDS_LONLAT
    tile = morecantile.tms.get("WebMercatorQuad").tile((minx + maxx) / 2, (miny + maxy) / 2, z)
    return f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"


@pytest.mark.parametrize("collection", [COLLECTION_NATIVE, COLLECTION_GEOZARR])
def test_s3_product_serves_the_same_tile_as_local(s3_store, client, collection):
    settings = TilerSettings(
        store_url=f"s3://{BUCKET}/{PREFIX}",
        store_endpoint_url=s3_store,
        store_allow_http=True,
        store_region="us-east-1",
    )
    remote = TestClient(create_tiler_app(settings))
    params = variables_query(RGB) + [("rescale", "0,1")]
    from_s3 = remote.get(tile_url(collection), params=params)
    assert from_s3.status_code == 200, from_s3.text
    assert from_s3.content == client.get(tile_url(collection), params=params).content

    info = remote.get(f"{item_path(collection)}/info").json()
    assert "/measurements/reflectance:b04" in info["variables"]


def test_s3_unknown_item_is_404(s3_store):
    settings = TilerSettings(
        store_url=f"s3://{BUCKET}/{PREFIX}",
        store_endpoint_url=s3_store,
        store_allow_http=True,
    )
    remote = TestClient(create_tiler_app(settings))
    response = remote.get(f"/collections/{COLLECTION_NATIVE}/items/S2B_MISSING/info")
    assert response.status_code == 404
    assert "S2B_MISSING" in response.json()["detail"]


def test_unreachable_store_is_a_clear_5xx(aws_env, caplog):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = TilerSettings(
        store_url=f"s3://{BUCKET}/{PREFIX}",
        store_endpoint_url=f"http://127.0.0.1:{port}",
        store_allow_http=True,
        store_connect_timeout=1,
        store_read_timeout=2,
    )
    app = TestClient(create_tiler_app(settings), raise_server_exceptions=False)
    started = time.monotonic()
    with caplog.at_level("ERROR"):
        response = app.get(tile_url(COLLECTION_NATIVE), params=variables_query())
    assert response.status_code in (502, 504), response.text
    detail = response.json()["detail"]
    # the client learns the item and the kind of failure; the store's URL stays in the log
    assert ITEM_ID in detail and "s3://" not in detail and "127.0.0.1" not in detail
    assert time.monotonic() - started < NO_HANG_SECONDS
    assert any(
        ITEM_ID in record.getMessage() and f"s3://{BUCKET}/{PREFIX}" in record.getMessage()
        for record in caplog.records
    )


@pytest.fixture
def silent_server():
    """Accepts connections and never answers: a store that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_hanging_store_times_out(aws_env, silent_server):
    settings = TilerSettings(
        store_url=f"s3://{BUCKET}/{PREFIX}",
        store_endpoint_url=f"http://127.0.0.1:{silent_server}",
        store_allow_http=True,
        store_connect_timeout=1,
        store_read_timeout=1,
    )
    app = TestClient(create_tiler_app(settings), raise_server_exceptions=False)
    started = time.monotonic()
    response = app.get(f"{item_path(COLLECTION_NATIVE)}/info")
    elapsed = time.monotonic() - started
    assert response.status_code in (502, 504), response.text
    assert ITEM_ID in response.json()["detail"]
    assert elapsed < NO_HANG_SECONDS, f"a hanging store held the request for {elapsed:.1f}s"


def test_corrupt_chunk_is_a_502_naming_the_item_and_is_never_cached(sample_store, tmp_path):
    import shutil

    from titiler_eopf.cache import CacheSettings
    from titiler_eopf.main import create_app

    shutil.copytree(sample_store / COLLECTION_NATIVE, tmp_path / COLLECTION_NATIVE)
    chunks = tmp_path / COLLECTION_NATIVE / f"{ITEM_ID}.zarr" / "measurements/reflectance/r10m/b04"
    for chunk in chunks.glob("*.*"):
        chunk.write_bytes(b"\x00not blosc" * 10)
    app = create_app(TilerSettings(store_url=str(tmp_path)), CacheSettings(backend="memory"))
    client = TestClient(app, raise_server_exceptions=False)
    url = tile_url(COLLECTION_NATIVE, z=15)
    for expected_cache in ("MISS", "MISS"):  # an error is never stored
        response = client.get(url, params=variables_query(RGB[:1]) + [("rescale", "0,1")])
        assert response.status_code == 502, response.text
        assert response.headers["x-cache"] == expected_cache
        detail = response.json()["detail"]
        assert ITEM_ID in detail and "/measurements/reflectance/r10m" in detail
        assert str(tmp_path) not in detail  # the store's path stays in the log


@pytest.fixture(scope="module")
def http_store(sample_store):
    """The sample products behind the loopback object store (HTTP with Range support)."""
    from tests.support.loopback import LoopbackStore

    with LoopbackStore(sample_store) as store:
        yield store.url


@pytest.mark.parametrize("collection", [COLLECTION_NATIVE, COLLECTION_GEOZARR])
def test_http_product_serves_the_same_tile_as_local(http_store, client, collection):
    remote = TestClient(
        create_tiler_app(TilerSettings(store_url=http_store, store_allow_http=True))
    )
    params = variables_query(RGB) + [("rescale", "0,1")]
    from_http = remote.get(tile_url(collection), params=params)
    assert from_http.status_code == 200, from_http.text
    assert from_http.content == client.get(tile_url(collection), params=params).content
    missing = remote.get(f"/collections/{collection}/items/S2A_GONE/info")
    assert missing.status_code == 404
    assert "S2A_GONE" in missing.json()["detail"]
