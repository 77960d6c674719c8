"""A STAC API that is down or hangs: a clear 502/504, quickly.

The times asserted are bounds a loaded machine cannot break by accident: a refused
connection must not wait out a timeout nor retry (the status tells which path answered:
502 unreachable, 504 timed out), and a hanging API is cut at its timeout, never earlier.
"""

from __future__ import annotations

import socket
import time

from fastapi.testclient import TestClient

from tests.support.mosaic import B04, MOSAIC, seam_tile
from tests.support.servers import free_port
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings


def _client(sample_store, url: str, timeout: float = 1) -> TestClient:
    settings = TilerSettings(
        store_url=str(sample_store), stac_api_url=url, stac_api_timeout=timeout
    )
    return TestClient(create_tiler_app(settings))


def test_stac_api_down_is_a_quick_502(sample_store):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = _client(sample_store, url, timeout=25)
    assert client.get("/healthz").status_code == 200  # the app's own start-up is not timed
    _, tile = seam_tile()
    started = time.monotonic()
    response = client.get(
        f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png", params=B04
    )
    # refused at once: far below the 25 s timeout (retries or a wait for it would show)
    assert time.monotonic() - started < 10
    assert response.status_code == 502
    assert url in response.json()["detail"] and "cannot be reached" in response.json()["detail"]


def test_stac_api_that_hangs_is_a_504_after_the_timeout(sample_store):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        client = _client(sample_store, url)
        assert client.get("/healthz").status_code == 200
        _, tile = seam_tile()
        started = time.monotonic()
        response = client.get(
            f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png", params=B04
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert 0.9 < elapsed < 15  # cut at the 1 s timeout: never before it, never hung
    assert "did not answer" in response.json()["detail"] and url in response.json()["detail"]


def test_without_a_stac_api_there_are_no_mosaic_routes(sample_store):
    client = TestClient(create_tiler_app(TilerSettings(store_url=str(sample_store))))
    _, tile = seam_tile()
    response = client.get(
        f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png", params=B04
    )
    assert response.status_code == 404
