"""Every endpoint on both layouts, and every error with its status and message."""

from __future__ import annotations

import io

import numpy
import pytest

from eopf_sample import BOUNDS_LONLAT, COLLECTION_NATIVE, ITEM_ID
from tests.support.tiler import RGB, decode_image, item_path, variables_query

PNG = b"\x89PNG\r\n\x1a\n"
RGB_RESCALED = variables_query() + [("rescale", "0,1")]


def centre_lonlat():
    minx, miny, maxx, maxy = BOUNDS_LONLAT
    return (minx + maxx) / 2, (miny + maxy) / 2


def a_tile(z=13):
    import morecantile

    lon, lat = centre_lonlat()
    return morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)


def test_info_without_variables_lists_the_product(client, collection):
    response = client.get(f"{item_path(collection)}/info")
    assert response.status_code == 200
    body = response.json()
    assert "/measurements/reflectance:b04" in body["variables"]
    pyramid = next(p for p in body["pyramids"] if p["group"] == "/measurements/reflectance")
    names = [level["name"] for level in pyramid["levels"]]
    assert names[:3] == ["r10m", "r20m", "r60m"]
    assert pyramid["crs"] == "EPSG:32632"


def test_info_with_variables(client, collection):
    response = client.get(f"{item_path(collection)}/info", params=variables_query())
    assert response.status_code == 200
    body = response.json()
    assert [d[1] for d in body["band_descriptions"]] == RGB
    assert body["bounds"] == pytest.approx([699960, 4685640, 714360, 4700040])
    assert body["crs"].endswith("/32632")


def test_tilejson(client, collection):
    response = client.get(
        f"{item_path(collection)}/WebMercatorQuad/tilejson.json", params=RGB_RESCALED
    )
    assert response.status_code == 200
    body = response.json()
    assert body["bounds"] == pytest.approx(list(BOUNDS_LONLAT), abs=1e-3)
    assert body["minzoom"] <= body["maxzoom"]
    tiles_url = body["tiles"][0]
    assert (
        f"/collections/{collection}/items/{ITEM_ID}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"
        in tiles_url
    )
    # repeated variables survive, in order
    query = tiles_url.split("?", 1)[1]
    assert query.index("b04") < query.index("b03") < query.index("b02")


@pytest.mark.parametrize(
    "suffix,media,signature",
    [
        (".png", "image/png", PNG),
        (".jpg", "image/jpg", b"\xff\xd8"),
        (".webp", "image/webp", b"RIFF"),
        (".tif", "image/tiff; application=geotiff", b"II*\x00"),
        (".npy", "application/x-binary", b"\x93NUMPY"),
        ("@2x.png", "image/png", PNG),
    ],
)
def test_tile_formats(client, collection, suffix, media, signature):
    tile = a_tile()
    response = client.get(
        f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}{suffix}",
        params=RGB_RESCALED,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media
    assert response.content.startswith(signature)
    if suffix == "@2x.png":
        assert decode_image(response.content).shape[1:] == (512, 512)


def test_tile_expression_bidx_colormap_nodata_resampling(client, collection):
    tile = a_tile(14)
    base = f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"
    ndvi = client.get(
        f"{base}.npy",
        params=[
            ("variables", "/measurements/reflectance:b04"),
            ("variables", "/measurements/reflectance:b08"),
            ("expression", "(b2-b1)/(b2+b1)"),
        ],
    )
    assert ndvi.status_code == 200, ndvi.text
    data = numpy.load(io.BytesIO(ndvi.content))
    assert data.shape[0] == 2  # expression band + mask
    # centre of the scene is block (2,2): b04 = 2000+200*12, b08 = 5000+200*12
    red, nir = (2000 + 2400) * 1e-4 - 0.1, (5000 + 2400) * 1e-4 - 0.1
    assert data[0, 128, 128] == pytest.approx((nir - red) / (nir + red), abs=1e-5)

    # one band of the stacked image: expression=b{n} (bidx selects bands of each variable)
    single = client.get(f"{base}.npy", params=variables_query() + [("expression", "b2")])
    assert numpy.load(io.BytesIO(single.content))[0, 128, 128] == pytest.approx(
        (3000 + 2400) * 1e-4 - 0.1, abs=1e-6
    )

    coloured = client.get(
        f"{base}.png",
        params=[("variables", RGB[0]), ("rescale", "0,1"), ("colormap_name", "viridis")],
    )
    assert coloured.status_code == 200
    assert decode_image(coloured.content).shape[0] == 4

    masked = client.get(
        f"{base}.png",
        params=[("variables", RGB[0]), ("rescale", "0,1"), ("nodata", str(0.34))],
    )
    assert masked.status_code == 200
    for method in ("nearest", "bilinear"):
        r = client.get(f"{base}.png", params=RGB_RESCALED + [("reproject", method)])
        assert r.status_code == 200


def test_preview(client, collection):
    response = client.get(
        f"{item_path(collection)}/preview.png", params=RGB_RESCALED + [("max_size", "256")]
    )
    assert response.status_code == 200
    image = decode_image(response.content)
    assert image.shape == (4, 256, 256)
    # bottom-right block is nodata
    assert image[3, -10, -10] == 0 and image[3, 10, 10] == 255


def test_point(client, collection):
    lon, lat = centre_lonlat()
    response = client.get(f"{item_path(collection)}/point/{lon},{lat}", params=variables_query())
    assert response.status_code == 200
    values = response.json()["values"]
    expected = [(base + 2400) * 1e-4 - 0.1 for base in (2000, 3000, 4000)]
    assert values == pytest.approx(expected, abs=1e-6)


def test_bbox(client, collection):
    lon, lat = centre_lonlat()
    d = 0.01
    response = client.get(
        f"{item_path(collection)}/bbox/{lon - d},{lat - d},{lon + d},{lat + d}/64x64.png",
        params=RGB_RESCALED,
    )
    assert response.status_code == 200, response.text
    assert decode_image(response.content).shape == (4, 64, 64)
    response = client.get(
        f"{item_path(collection)}/bbox/{lon - d},{lat - d},{lon + d},{lat + d}.tif",
        params=RGB_RESCALED,
    )
    assert response.status_code == 200
    assert response.content.startswith(b"II*\x00")


def test_statistics(client, collection):
    response = client.get(f"{item_path(collection)}/statistics", params=variables_query())
    assert response.status_code == 200
    stats = response.json()
    b1 = stats["b1"]
    # b04 over 24 valid blocks: min 2000 -> 0.1, max 2000+200*23 -> 0.56
    assert b1["min"] == pytest.approx(0.1, abs=1e-6)
    assert b1["max"] == pytest.approx(0.56, abs=1e-6)


def test_map_viewer(client, collection):
    response = client.get(f"{item_path(collection)}/map", params=RGB_RESCALED)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "tilejson.json" in response.text and "maplibre" in response.text


def test_service_routes(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert "WebMercatorQuad" in client.get("/tileMatrixSets").text
    assert "viridis" in client.get("/colorMaps").text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert any(p.endswith("/tiles/{tileMatrixSetId}/{z}/{x}/{y}@{scale}x.{format}") for p in paths)


# -- errors ----------------------------------------------------------------------------
def test_unknown_collection_is_404_naming_it(client):
    response = client.get(f"/collections/sentinel-9/items/{ITEM_ID}/info")
    assert response.status_code == 404
    assert "sentinel-9" in response.json()["detail"]


def test_unknown_item_is_404_naming_it(client, collection):
    response = client.get(f"/collections/{collection}/items/S2A_NOPE/info")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "S2A_NOPE" in detail and collection in detail


def test_unknown_variable_is_400_listing_the_variables(client, collection):
    tile = a_tile()
    response = client.get(
        f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
        params=[("variables", "/measurements/reflectance:b13")],
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "b13" in detail and "/measurements/reflectance:b8a" in detail


@pytest.mark.parametrize(
    "variables,fragment",
    [
        ([], "required"),
        (["b04"], "{group}:{variable}"),
        (["/measurements/nothing:b04"], "does not exist"),
    ],
)
def test_bad_variables_are_400(client, variables, fragment):
    tile = a_tile()
    response = client.get(
        f"{item_path(COLLECTION_NATIVE)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
        params=[("variables", v) for v in variables],
    )
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_tile_outside_the_product_is_404(client, collection):
    response = client.get(
        f"{item_path(collection)}/tiles/WebMercatorQuad/13/10/10.png", params=RGB_RESCALED
    )
    assert response.status_code == 404
    assert "outside" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/tiles/WebMercatorQuad/abc/1/1.png",
        "/tiles/WebMercatorQuad/13/1/1@9x.png",
        "/tiles/NoSuchTMS/13/1/1.png",
        "/tiles/WebMercatorQuad/13/1/1.gif",
        "/preview.png?max_size=-4",
        "/preview.png?max_size=100000",
        "/bbox/11.4,42.3,11.5,42.4/0x10.png",
    ],
)
def test_malformed_parameters_are_422(client, path):
    path, _, query = path.partition("?")
    extra = [tuple(query.split("=", 1))] if query else []
    response = client.get(f"{item_path(COLLECTION_NATIVE)}{path}", params=variables_query() + extra)
    assert response.status_code == 422, response.text


def test_malformed_item_id_is_422(client):
    response = client.get("/collections/sentinel-2-l2a/items/bad$id/info")
    assert response.status_code == 422


def test_bidx_out_of_range_is_400(client):
    tile = a_tile()
    response = client.get(
        f"{item_path(COLLECTION_NATIVE)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
        params=variables_query() + [("bidx", "2")],
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "Invalid bidx [2]" in detail and "has 1 band(s)" in detail


def test_feature_and_feature_statistics(client, collection):
    lon, lat = centre_lonlat()
    d = 0.01
    triangle = {
        "type": "Feature",
        "properties": {},
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[lon - d, lat - d], [lon + d, lat - d], [lon - d, lat + d], [lon - d, lat - d]]
            ],
        },
    }
    response = client.post(
        f"{item_path(collection)}/feature/64x64.png", params=RGB_RESCALED, json=triangle
    )
    assert response.status_code == 200, response.text
    alpha = decode_image(response.content)[3]
    assert alpha[60, 2] == 255 and alpha[2, 60] == 0  # inside / outside the triangle

    stats = client.post(
        f"{item_path(collection)}/statistics", params=variables_query(RGB[:1]), json=triangle
    )
    assert stats.status_code == 200, stats.text
    props = stats.json()["properties"]["statistics"]["b1"]
    assert props["min"] >= 0.1 - 1e-6 and props["max"] <= 0.56 + 1e-6
