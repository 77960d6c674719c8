"""Items found through a STAC API: by their Zarr asset when the store layout has no product of
that name (the Explorer's per-acquisition items point into a shared cube and pin their slice
with ``sel=time`` in their renders), and their ``renders`` offered as named renderings.

The STAC API here is a small HTTP server answering ``/collections/{id}`` and
``/collections/{id}/items/{id}`` from dicts (the tiler asks nothing else for item routes);
the pgstac-backed API of ``tests/stacapi`` serves the mosaic tests.
"""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import morecantile
import numpy
import pytest
from fastapi.testclient import TestClient
from rasterio.warp import transform as warp

import eopf_sample as es
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

ACQUISITIONS = "sentinel-2-l2a-acquisitions"
NDVI = "/measurements/time_series:ndvi"
DATES = {f"acq-{d.replace('-', '')}": (i, d) for i, d in enumerate(es.TIME_SERIES_DATES)}


def acquisition_item(item_id: str, store) -> dict:
    index, date = DATES[item_id]
    product = store / es.COLLECTION_GEOZARR / f"{es.ITEM_ID}.zarr"
    return {
        "type": "Feature",
        "id": item_id,
        "collection": ACQUISITIONS,
        "properties": {
            "datetime": f"{date}T00:00:00Z",
            "renders": {
                "ndvi": {
                    "title": f"NDVI on {date}",
                    "assets": ["time_series"],
                    "variables": [NDVI],
                    "sel": [f"time={date}T00:00:00"],
                    "rescale": [[0, 3]],
                    "colormap_name": "viridis",
                    "tilesize": 256,
                }
            },
        },
        # a group inside the shared product, as the Explorer's assets are
        "assets": {
            "time_series": {
                "href": f"{product}/measurements/time_series",
                "type": "application/vnd+zarr",
                "roles": ["data"],
            }
        },
    }


@pytest.fixture(scope="module")
def stac_url(sample_store):
    documents = {
        f"/collections/{ACQUISITIONS}": {
            "type": "Collection",
            "id": ACQUISITIONS,
            "renders": {"default-ndvi": {"title": "NDVI", "variables": [NDVI], "bidx": [1]}},
        },
        **{
            f"/collections/{ACQUISITIONS}/items/{item_id}": acquisition_item(item_id, sample_store)
            for item_id in DATES
        },
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = documents.get(self.path.split("?", 1)[0])
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {"code": "NotFound"}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def stac_client(sample_store, stac_url) -> TestClient:
    settings = TilerSettings(store_url=str(sample_store), stac_api_url=stac_url)
    return TestClient(create_tiler_app(settings))


def block_point(row: int, col: int) -> tuple[float, float]:
    x = es.X0 + (col + 0.5) * es.BLOCK_M
    y = es.Y0 - (row + 0.5) * es.BLOCK_M
    (lon,), (lat,) = warp(f"EPSG:{es.EPSG}", "EPSG:4326", [x], [y])
    return lon, lat


@pytest.mark.parametrize("item_id", list(DATES))
def test_item_located_by_its_asset_reads_its_own_slice(stac_client, item_id):
    index, _ = DATES[item_id]
    lon, lat = block_point(1, 2)
    base = f"/collections/{ACQUISITIONS}/items/{item_id}"
    point = stac_client.get(f"{base}/point/{lon},{lat}", params={"variables": NDVI})
    assert point.status_code == 200, point.text
    assert point.json()["values"][0] == pytest.approx(es.time_series_value(index, 1, 2))
    # a sel in the request wins over the item's
    other = stac_client.get(
        f"{base}/point/{lon},{lat}", params={"variables": NDVI, "sel": "time=2022-01-01"}
    )
    assert other.json()["values"][0] == pytest.approx(es.time_series_value(0, 1, 2))


def test_item_renders_listed_with_links_that_answer(stac_client):
    base = f"/collections/{ACQUISITIONS}/items/acq-20220109"
    renders = stac_client.get(f"{base}/renders").json()["renders"]
    # the collection's renders with the item's over them, then the presets the product has
    assert list(renders)[:2] == ["default-ndvi", "ndvi"]
    assert renders["ndvi"]["source"] == "stac" and "true-colour" in renders
    ndvi = renders["ndvi"]
    assert ("sel", "time=2022-01-09T00:00:00") in [tuple(p) for p in ndvi["params"]]
    assert ("tilesize", "256") in [tuple(p) for p in ndvi["params"]]
    lon, lat = block_point(1, 2)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 12)
    xyz = ndvi["links"]["xyz"].split("testserver", 1)[1].format(z=tile.z, x=tile.x, y=tile.y)
    data = stac_client.get(xyz.replace(".png?", ".npy?").replace("colormap_name=viridis", ""))
    assert data.status_code == 200, data.text
    values = numpy.load(io.BytesIO(data.content))
    valid = values[0][values[-1] > 0]
    # rescale 0,3 of 2022-01-09's slice (2.xx): 170 and up; the other dates are below 170
    assert valid.size and 170 <= valid.min() and valid.max() < 255
    assert stac_client.get(xyz).status_code == 200
    viewer = stac_client.get(f"{base}/viewer")
    assert viewer.status_code == 200 and "NDVI on 2022-01-09" in viewer.text


def test_unknown_item_is_still_a_404(stac_client):
    response = stac_client.get(f"/collections/{ACQUISITIONS}/items/acq-19990101/info")
    assert response.status_code == 404
