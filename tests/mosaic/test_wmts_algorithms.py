"""WMTS GetCapabilities (items and mosaics), /algorithms and `algorithm`, /info.geojson."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import morecantile
import numpy
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer

from eopf_sample import COLLECTION_NATIVE, ITEM_ID, X0, Y0
from eopf_sample.mosaic import MOSAIC_ITEMS
from tests.support.mosaic import B04, MOSAIC, load_npy, seam_tile
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

ITEM = f"/collections/{COLLECTION_NATIVE}/items/{ITEM_ID}"
NS = {"wmts": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
PNG = b"\x89PNG\r\n\x1a\n"
# titiler's normalizedIndex is (b2 - b1) / (b2 + b1): red first, then near infrared, is NDVI
RED_NIR = [
    ("variables", "/measurements/reflectance:b04"),
    ("variables", "/measurements/reflectance:b08"),
]


@pytest.fixture(scope="module")
def client(sample_store) -> TestClient:
    return TestClient(create_tiler_app(TilerSettings(store_url=str(sample_store))))


def _tile_over(x_utm, y_utm, z):
    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(x_utm, y_utm)
    return morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)


def _resource_template(xml: str, tms_id: str = "WebMercatorQuad") -> str:
    """The tile URL template of the layer of ``tms_id``, checked against the WMTS structure."""
    root = ET.fromstring(xml)
    assert root.tag == "{http://www.opengis.net/wmts/1.0}Capabilities"
    layers = root.findall("wmts:Contents/wmts:Layer", NS)
    assert layers
    for layer in layers:
        link = layer.find("wmts:TileMatrixSetLink/wmts:TileMatrixSet", NS).text
        if link == tms_id:
            assert layer.find("ows:WGS84BoundingBox", NS) is not None
            assert (
                root.find(f"wmts:Contents/wmts:TileMatrixSet[ows:Identifier='{tms_id}']", NS)
                is not None
            )
            return layer.find("wmts:ResourceURL", NS).attrib["template"]
    raise AssertionError(f"no layer for {tms_id}")


def _fill(template: str, tile) -> str:
    url = template.replace("{TileMatrix}", str(tile.z)).replace("{TileCol}", str(tile.x))
    return url.replace("{TileRow}", str(tile.y)).removeprefix("http://testserver")


def test_item_wmts_capabilities_and_a_tile_from_them(client):
    response = client.get(f"{ITEM}/WMTSCapabilities.xml", params=B04 + [("rescale", "0,1")])
    assert response.status_code == 200 and "xml" in response.headers["content-type"]
    template = _resource_template(response.text)
    assert f"{ITEM}/tiles/WebMercatorQuad/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png?" in template
    tile = client.get(_fill(template, _tile_over(X0 + 1400, Y0 - 1400, 14)))
    assert tile.status_code == 200 and tile.content.startswith(PNG)


def test_mosaic_wmts_capabilities_and_a_tile_from_them(mosaic_client):
    response = mosaic_client.get(
        f"{MOSAIC}/WMTSCapabilities.xml", params=B04 + [("rescale", "0,1")]
    )
    assert response.status_code == 200, response.text
    template = _resource_template(response.text)
    assert f"{MOSAIC}/tiles/WebMercatorQuad/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png?" in template
    _, seam = seam_tile()
    tile = mosaic_client.get(_fill(template, seam))
    assert tile.status_code == 200 and tile.content.startswith(PNG)
    assert tile.headers["X-Mosaic-Items"]


def test_algorithms_listed_and_applied_to_item_tiles(client):
    listed = client.get("/algorithms")
    assert listed.status_code == 200
    assert {"normalizedIndex", "hillshade"} <= {a["id"] for a in listed.json()["algorithms"]}
    tile = _tile_over(X0 + 1400, Y0 - 1400, 14)  # block (0, 0): b08 0.4, b04 0.1
    response = client.get(
        f"{ITEM}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy",
        params=RED_NIR + [("algorithm", "normalizedIndex")],
    )
    assert response.status_code == 200, response.text
    data, valid = load_npy(response.content)
    assert data.shape[0] == 1 and valid[128, 128]
    assert data[0, 128, 128] == pytest.approx((0.4 - 0.1) / (0.4 + 0.1), abs=1e-5)
    unknown = client.get(
        f"{ITEM}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
        params=RED_NIR + [("algorithm", "nosuchthing")],
    )
    assert unknown.status_code == 422


def test_algorithm_on_mosaic_tiles(mosaic_client):
    _, tile = seam_tile()
    path = f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    plain = mosaic_client.get(path, params=RED_NIR)
    index = mosaic_client.get(path, params=RED_NIR + [("algorithm", "normalizedIndex")])
    assert plain.status_code == index.status_code == 200
    plain_data, valid = load_npy(plain.content)
    index_data, index_valid = load_npy(index.content)
    # every sample band has the item's value: the normalized index is 0 wherever there is data
    assert set(numpy.round(plain_data[0][valid], 5)) <= {
        round(i.reflectance, 5) for i in MOSAIC_ITEMS
    }
    assert index_data.shape[0] == 1 and numpy.allclose(index_data[0][index_valid], 0.0, atol=1e-6)


def test_item_info_geojson(client):
    response = client.get(f"{ITEM}/info.geojson", params=B04)
    assert (
        response.status_code == 200 and response.headers["content-type"] == "application/geo+json"
    )
    feature = response.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
    assert feature["bbox"][0] == pytest.approx(11.4257, abs=1e-3)
    assert feature["properties"]["variables"] == ["/measurements/reflectance:b04"]
    missing = client.get(f"{ITEM}/info.geojson")
    assert missing.status_code == 400 and "variables" in missing.json()["detail"]
