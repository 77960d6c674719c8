"""Collection mosaics against the real STAC API: pixels, search parameters, errors."""

from __future__ import annotations

import statistics

import numpy
import pytest

from eopf_sample.mosaic import MOSAIC_ITEMS
from tests.support.mosaic import B04, MOSAIC, load_npy, pixel_items, seam_tile, zone_seam_tile

NEWEST_FIRST = sorted(MOSAIC_ITEMS, key=lambda i: i.datetime, reverse=True)


def expected(method: str, items):
    values = [i.reflectance for i in items]
    if method in ("first", "latest"):  # the STAC API's default order is newest first
        return next(i.reflectance for i in NEWEST_FIRST if i in items)
    return {"highest": max, "lowest": min, "mean": statistics.mean, "median": statistics.median}[
        method
    ](values)


@pytest.mark.parametrize("seam", ["layouts", "utm-zones"])
@pytest.mark.parametrize("method", ["first", "highest", "lowest", "mean", "median", "latest"])
def test_mosaic_at_a_seam_is_the_expected_item_per_pixel(mosaic_client, method, seam):
    """``layouts``: A (native), B (GeoZarr), C and A's nodata block; ``utm-zones``: B (EPSG:32632)
    and D (EPSG:32633) at an angle: each pixel is what the items under it hold, no gap."""
    tms, tile = seam_tile() if seam == "layouts" else zone_seam_tile()
    response = mosaic_client.get(
        f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy",
        params=B04 + [("pixel_selection", method)],
    )
    assert response.status_code == 200, response.text
    data, valid = load_npy(response.content)
    checked = {0: 0, 1: 0, 2: 0, 3: 0, 4: 0}
    for (row, col), items in pixel_items(tms, tile).items():
        if not items:
            assert not valid[row, col], (row, col)
            continue
        assert valid[row, col], (row, col, [i.id for i in items])
        assert data[0, row, col] == pytest.approx(expected(method, items), abs=1e-5), (row, col)
        checked[len(items)] += 1
    # the tile really has a seam: pixels of one item, of two overlapping ones, and no data
    assert checked[1] > 100 and checked[2] > 100 and checked[0] >= 0
    assert set(response.headers["X-Mosaic-Items"].split(",")) <= {i.id for i in MOSAIC_ITEMS}


def test_datetime_and_filter_change_the_mosaic(mosaic_client):
    tms, tile = seam_tile()
    path = f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    a, b, c, _ = MOSAIC_ITEMS
    everything = mosaic_client.get(path, params=B04)
    before_b = mosaic_client.get(
        path, params=B04 + [("datetime", "2025-06-01T00:00:00Z/2025-06-05T00:00:00Z")]
    )
    cloudless = mosaic_client.get(path, params=B04 + [("filter", "eo:cloud_cover < 30")])
    as_json = mosaic_client.get(
        path,
        params=B04
        + [
            ("filter", '{"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]}'),
            ("filter-lang", "cql2-json"),
        ],
    )
    for response in (everything, before_b, cloudless, as_json):
        assert response.status_code == 200, response.text
    assert set(before_b.headers["X-Mosaic-Items"].split(",")) == {a.id}
    assert set(cloudless.headers["X-Mosaic-Items"].split(",")) == {a.id, c.id}
    assert cloudless.content == as_json.content
    pixels = pixel_items(tms, tile)
    overlap = next(rc for rc, items in pixels.items() if {i.id for i in items} == {a.id, b.id})
    values = {
        name: load_npy(r.content)[0][0][overlap]
        for name, r in (("all", everything), ("before_b", before_b), ("cloudless", cloudless))
    }
    assert values["all"] == pytest.approx(b.reflectance)  # newest first
    assert values["before_b"] == pytest.approx(a.reflectance)
    assert values["cloudless"] == pytest.approx(a.reflectance)  # B is cloudy


def test_sortby_and_ids(mosaic_client):
    tms, tile = seam_tile()
    path = f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    a, b, _, _ = MOSAIC_ITEMS
    oldest_first = mosaic_client.get(path, params=B04 + [("sortby", "+datetime")])
    only_b = mosaic_client.get(path, params=B04 + [("ids", b.id)])
    pixels = pixel_items(tms, tile)
    overlap = next(rc for rc, items in pixels.items() if {i.id for i in items} == {a.id, b.id})
    assert load_npy(oldest_first.content)[0][0][overlap] == pytest.approx(a.reflectance)
    assert only_b.headers["X-Mosaic-Items"] == b.id


def test_mosaic_routes_tilejson_info_point_map(mosaic_client):
    a, b, c, d = MOSAIC_ITEMS
    tj = mosaic_client.get(
        f"{MOSAIC}/WebMercatorQuad/tilejson.json", params=B04 + [("rescale", "0,1")]
    )
    assert tj.status_code == 200, tj.text
    body = tj.json()
    assert body["tiles"][0].startswith(
        f"http://testserver{MOSAIC}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}?"
    )
    assert "rescale=0%2C1" in body["tiles"][0]
    assert body["bounds"][0] < 11.43 and body["bounds"][2] > 11.6
    info = mosaic_client.get(f"{MOSAIC}/info", params=[("sortby", "+datetime")])
    assert [i["id"] for i in info.json()["items"]] == [a.id, b.id, d.id, c.id]
    assert info.json()["items"][1]["product"].endswith(f"{b.id}.zarr")
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(
        a.x0 + 10000, a.y0 - 1000
    )
    point = mosaic_client.get(f"{MOSAIC}/point/{lon},{lat}", params=B04)
    assert point.status_code == 200, point.text
    got = {p["item"]: p["values"][0] for p in point.json()["items"]}
    assert got == {b.id: pytest.approx(b.reflectance), a.id: pytest.approx(a.reflectance)}
    page = mosaic_client.get(f"{MOSAIC}/map", params=B04)
    assert page.status_code == 200 and "tilejson.json" in page.text


def test_bad_mosaic_requests_are_4xx_naming_the_problem(mosaic_client):
    tms, tile = seam_tile()
    path = f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    missing = mosaic_client.get(path)
    assert missing.status_code == 400 and "variables" in missing.json()["detail"]
    unknown = mosaic_client.get(
        "/collections/no-such-collection/WebMercatorQuad/tilejson.json", params=B04
    )
    assert unknown.status_code == 404 and "no-such-collection" in unknown.json()["detail"]
    bad_method = mosaic_client.get(path, params=B04 + [("pixel_selection", "loudest")])
    assert bad_method.status_code == 422
    too_many = mosaic_client.get(path, params=B04 + [("max_items", "1000")])
    assert too_many.status_code == 422
    bad_filter = mosaic_client.get(path, params=B04 + [("filter", "eo:cloud_cover <<< 3")])
    assert bad_filter.status_code == 400, bad_filter.text
    empty = mosaic_client.get(f"{MOSAIC}/tiles/WebMercatorQuad/12/0/0.png", params=B04)
    assert empty.status_code == 404 and empty.headers.get("X-Tile-Empty") == "outside-bounds"


def test_a_tile_reads_at_most_max_items(mosaic_client):
    tms, tile = seam_tile()
    response = mosaic_client.get(
        f"{MOSAIC}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy",
        params=B04 + [("max_items", "1")],
    )
    assert response.status_code == 200
    assert response.headers["X-Mosaic-Items"] == MOSAIC_ITEMS[2].id  # the newest only
    data, valid = load_npy(response.content)
    assert numpy.allclose(data[0][valid], MOSAIC_ITEMS[2].reflectance)
