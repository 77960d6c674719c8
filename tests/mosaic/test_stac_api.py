"""The STAC API the mosaic tests use: real, on loopback, holding the sample collection."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from eopf_sample.mosaic import COLLECTION_MOSAIC, MOSAIC_ITEMS, product_dir
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings


def test_stac_api_serves_the_sample_collection(stac_api, sample_store):
    items = httpx.get(f"{stac_api.url}/collections/{COLLECTION_MOSAIC}/items", timeout=10).json()
    by_id = {feature["id"]: feature for feature in items["features"]}
    assert sorted(by_id) == sorted(item.id for item in MOSAIC_ITEMS)
    layouts = set()
    for item in MOSAIC_ITEMS:
        feature = by_id[item.id]
        assert feature["properties"]["datetime"].startswith(item.datetime[:19])
        assert feature["assets"]["product"]["href"] == str(
            product_dir(sample_store, item).resolve()
        )
        layouts.add(feature["properties"]["eopf:layout"])
    assert layouts == {"native", "geozarr"}
    assert {f["properties"]["proj:code"] for f in by_id.values()} == {"EPSG:32632", "EPSG:32633"}
    # a bbox search over A's east half finds A and B (overlap), newest first
    found = httpx.get(
        f"{stac_api.url}/search",
        params={"collections": COLLECTION_MOSAIC, "bbox": "11.55,42.35,11.56,42.36"},
        timeout=10,
    ).json()
    assert [f["id"] for f in found["features"]] == [MOSAIC_ITEMS[1].id, MOSAIC_ITEMS[0].id]


def test_sample_mosaic_products_hold_their_value(sample_store):
    client = TestClient(create_tiler_app(TilerSettings(store_url=str(sample_store))))
    for item in MOSAIC_ITEMS:
        info = client.get(
            f"/collections/{COLLECTION_MOSAIC}/items/{item.id}/info",
            params={"variables": "/measurements/reflectance:b04"},
        )
        assert info.status_code == 200, info.text
        assert info.json()["bounds"] == list(item.bounds)
        # a point in block (0, 0) holds the item's value; the south-east block is nodata
        from pyproj import Transformer

        to_lonlat = Transformer.from_crs(item.epsg, 4326, always_xy=True)
        lon, lat = to_lonlat.transform(item.x0 + 1000, item.y0 - 1000)
        point = client.get(
            f"/collections/{COLLECTION_MOSAIC}/items/{item.id}/point/{lon},{lat}",
            params={"variables": "/measurements/reflectance:b04"},
        )
        assert point.status_code == 200, point.text
        assert abs(point.json()["values"][0] - item.reflectance) < 1e-6
