"""Every variable of every sample product, as a new user clicks through them; and the pixels of
classes, masks, the quicklook and a time selection."""

from __future__ import annotations

import morecantile
import numpy
import pytest
from rasterio.warp import transform as transform_coords

import eopf_sample as es
from tests.support.sweep import sweep_product
from tests.support.tiler import decode_image
from titiler_eopf.tiler.colormaps import SCL_CLASSES

SCL = "/conditions/mask/l2a_classification:scl"
TCI = "/quality/l2a_quicklook:tci"
MASK = "/quality/mask:b02"
NDVI = "/measurements/time_series:ndvi"
S2_LAYOUTS = [es.COLLECTION_NATIVE, es.COLLECTION_GEOZARR]


def item(collection: str) -> str:
    return f"/collections/{collection}/items/{es.ITEM_IDS[collection]}"


def block_lonlat(row: int, col: int) -> tuple[float, float]:
    x = es.X0 + (col + 0.5) * es.BLOCK_M
    y = es.Y0 - (row + 0.5) * es.BLOCK_M
    (lon,), (lat,) = transform_coords(f"EPSG:{es.EPSG}", "EPSG:4326", [x], [y])
    return lon, lat


def block_pixel(row: int, col: int, size: int) -> tuple[int, int]:
    """Pixel (row, col) at the centre of a block in a preview of ``size`` x ``size``."""
    step = size / es.GRID
    return int((row + 0.5) * step), int((col + 0.5) * step)


# ----------------------------------------------------------------------------------------------
# The sweep


@pytest.mark.parametrize("collection", list(es.ITEM_IDS))
def test_every_listed_variable_answers_200_or_a_clear_4xx(client, collection):
    sweep = sweep_product(client, collection, es.ITEM_IDS[collection])
    counts = sweep.count()
    assert counts["5xx"] == 0, [a for a in sweep.answers if a.status >= 500]
    assert counts["requests"] == 4 * counts["variables"]
    for answer in sweep.answers:
        if answer.status >= 400:
            assert answer.status in (400, 404), answer
            assert answer.variable in answer.detail or "sel" in answer.detail, answer
    refused = {a.variable for a in sweep.answers if a.status >= 400}
    if collection == es.COLLECTION_S1:
        assert all(v.endswith("/measurements:grd") for v in sweep.variables)
        assert len(sweep.variables) == 2 and refused == set(sweep.variables)
        assert all("radar geometry" in a.detail for a in sweep.answers)
        return
    # S2: only the variables with a dimension left open (angles, time) are refused, and only
    # for reading; /info answers for all of them.
    assert all(a.status == 200 for a in sweep.answers if a.kind == "info")
    assert all("sel" in a.detail for a in sweep.answers if a.status >= 400)
    assert refused <= {v for v in sweep.variables if v.startswith("/conditions/geometry:")} | {NDVI}
    assert counts["2xx"] >= 4 * (counts["variables"] - 3)


def test_listing_names_every_kind_of_variable(client):
    native = client.get(f"{item(es.COLLECTION_NATIVE)}/info").json()["variables"]
    for variable in (
        SCL,
        TCI,
        MASK,
        "/conditions/mask/detector_footprint:b02",
        "/conditions/mask/l1c_classification:b00",
        "/quality/probability:cld",
        "/quality/atmosphere:aot",
        "/conditions/geometry:sun_angles",
    ):
        assert variable in native
    geozarr = client.get(f"{item(es.COLLECTION_GEOZARR)}/info").json()["variables"]
    assert NDVI in geozarr and SCL in geozarr


# ----------------------------------------------------------------------------------------------
# Classes


@pytest.mark.parametrize("collection", S2_LAYOUTS)
def test_scene_classification_drawn_with_its_class_colours(client, collection):
    response = client.get(
        f"{item(collection)}/preview.png",
        params={"variables": SCL, "colormap_name": "scl", "max_size": 100},
    )
    assert response.status_code == 200, response.text
    rgba = decode_image(response.content)
    assert rgba.shape == (4, 100, 100)
    for row in range(es.GRID):
        for col in range(es.GRID):
            code = es.expected_block_value("conditions/mask/l2a_classification", "scl", row, col)
            expected = SCL_CLASSES[code or 0][1]
            y, x = block_pixel(row, col, 100)
            assert tuple(rgba[:, y, x]) == expected, (row, col, code)


@pytest.mark.parametrize("collection", S2_LAYOUTS)
def test_class_codes_are_never_averaged_at_any_zoom(client, collection):
    """Each tile pixel holds the code of the block under it, even when bilinear is asked for."""
    info = client.get(f"{item(collection)}/info", params={"variables": SCL}).json()
    assert info["dtype"] == "uint8" and info["nodata_value"] == 0
    lon, lat = block_lonlat(2, 2)
    tms = morecantile.tms.get("WebMercatorQuad")
    for z in range(info["minzoom"], info["maxzoom"] + 2):
        tile = tms.tile(lon, lat, z)
        response = client.get(
            f"{item(collection)}/tiles/WebMercatorQuad/{z}/{tile.x}/{tile.y}.tif",
            params={"variables": SCL, "reproject": "bilinear", "resampling": "bilinear"},
        )
        assert response.status_code == 200, response.text
        values = decode_image(response.content)[0]
        bounds = tms.xy_bounds(tile)
        size = values.shape[0]
        res = (bounds.right - bounds.left) / size
        xs = bounds.left + (numpy.arange(size) + 0.5) * res
        ys = bounds.top - (numpy.arange(size) + 0.5) * res
        gx, gy = numpy.meshgrid(xs, ys)
        ux, uy = transform_coords("EPSG:3857", f"EPSG:{es.EPSG}", gx.ravel(), gy.ravel())
        ux, uy = numpy.array(ux).reshape(gx.shape), numpy.array(uy).reshape(gy.shape)
        dx, dy = ux - es.X0, es.Y0 - uy
        # The code of every block within reach of a pixel (an output pixel and a level pixel
        # away): nearest picks one of them; averaging gives values in between.
        reach = res + 60

        def code_at(ddx, ddy, dx=dx, dy=dy):
            rows = numpy.clip((dy + ddy) // es.BLOCK_M, 0, 4).astype(int)
            cols = numpy.clip((dx + ddx) // es.BLOCK_M, 0, 4).astype(int)
            codes = (es.GRID * rows + cols) % 12
            codes[(rows == 4) & (cols == 4)] = 0  # nodata block: fill value
            return codes

        candidates = [code_at(a, b) for a in (-reach, 0, reach) for b in (-reach, 0, reach)]
        inside = (dx > 0) & (dx < es.scene.SIZE_M) & (dy > 0) & (dy < es.scene.SIZE_M)
        ok = numpy.zeros(values.shape, dtype=bool)
        for codes in candidates:
            ok |= values == codes
        assert inside.sum() > 100, z
        assert ok[inside].all(), (z, numpy.unique(values[inside & ~ok]))
        centre = code_at(0, 0)
        assert (values[inside] == centre[inside]).mean() > 0.9, z


@pytest.mark.parametrize("collection", S2_LAYOUTS)
def test_points_return_class_codes(client, collection):
    for row, col in [(0, 1), (1, 2), (2, 1), (3, 4)]:
        lon, lat = block_lonlat(row, col)
        response = client.get(f"{item(collection)}/point/{lon},{lat}", params={"variables": SCL})
        assert response.status_code == 200, response.text
        value = response.json()["values"][0]
        assert value == es.expected_block_value(
            "conditions/mask/l2a_classification", "scl", row, col
        )
        assert float(value).is_integer()  # titiler's Point model sends numbers as floats


def test_classes_beside_reflectance_in_one_request(client):
    """Mixed with float bands, classes become float with their nodata masked (never NaN on ints)."""
    lon, lat = block_lonlat(1, 2)
    response = client.get(
        f"{item(es.COLLECTION_NATIVE)}/point/{lon},{lat}",
        params=[("variables", SCL), ("variables", "/measurements/reflectance:b04")],
    )
    assert response.status_code == 200, response.text
    scl, b04 = response.json()["values"]
    assert scl == 7 and b04 == pytest.approx(es.expected_reflectance("b04", *_utm(1, 2)))


def _utm(row, col):
    return es.X0 + (col + 0.5) * es.BLOCK_M, es.Y0 - (row + 0.5) * es.BLOCK_M


def test_scl_colormap_is_listed(client):
    listing = client.get("/colorMaps").json()
    assert "scl" in [c["id"] for c in listing["colormaps"]]
    scl = client.get("/colorMaps/scl").json()
    assert scl["6"] == [0, 0, 255, 255] and scl["0"][3] == 0


# ----------------------------------------------------------------------------------------------
# Masks


@pytest.mark.parametrize("collection", S2_LAYOUTS)
def test_mask_drawn_as_a_mask(client, collection):
    """Flag values as they are where a flag is set, transparent where none is."""
    response = client.get(
        f"{item(collection)}/preview.png", params={"variables": MASK, "max_size": 100}
    )
    assert response.status_code == 200, response.text
    value, alpha = decode_image(response.content)
    for row in range(es.GRID):
        for col in range(es.GRID):
            flag = es.expected_block_value("quality/mask/r10m", "b02", row, col)
            y, x = block_pixel(row, col, 100)
            if flag:
                assert (value[y, x], alpha[y, x]) == (flag, 255), (row, col)
            else:
                assert alpha[y, x] == 0, (row, col)


# ----------------------------------------------------------------------------------------------
# Multi-band quicklook


def test_quicklook_drawn_as_it_is_and_each_band_addressable(client):
    base = item(es.COLLECTION_NATIVE)
    info = client.get(f"{base}/info", params={"variables": TCI}).json()
    assert info["count"] == 3 and info["dtype"] == "uint8"
    assert [d for _, d in info["band_descriptions"]] == [f"{TCI} band={b}" for b in (1, 2, 3)]
    rgb = decode_image(
        client.get(f"{base}/preview.png", params={"variables": TCI, "max_size": 100}).content
    )
    assert rgb.shape == (4, 100, 100)  # RGB + alpha
    green = decode_image(
        client.get(
            f"{base}/preview.png", params={"variables": TCI, "max_size": 100, "bidx": 2}
        ).content
    )
    for row, col in [(0, 0), (1, 3), (3, 2)]:
        y, x = block_pixel(row, col, 100)
        expected = [
            es.expected_block_value("quality/l2a_quicklook", "tci", row, col, b) for b in range(3)
        ]
        assert list(rgb[:3, y, x]) == expected and rgb[3, y, x] == 255
        assert green[0, y, x] == expected[1]
    lon, lat = block_lonlat(1, 3)
    point = client.get(f"{base}/point/{lon},{lat}", params={"variables": TCI}).json()
    assert point["values"] == [10 + 50 * b + 4 * 8 for b in range(3)]
    assert point["band_names"] == ["b1", "b2", "b3"]
    too_far = client.get(f"{base}/preview.png", params={"variables": TCI, "bidx": 4})
    # bidx selects bands of each variable (TiTiler-EOPF): the quicklook has three
    assert too_far.status_code == 400 and "has 3 band(s)" in too_far.json()["detail"]


# ----------------------------------------------------------------------------------------------
# Extra dimensions


def test_time_dimension_listed_and_selected(client):
    base = item(es.COLLECTION_GEOZARR)
    info = client.get(f"{base}/info", params={"variables": NDVI}).json()
    assert info["dimensions"][NDVI]["time"] == list(es.TIME_SERIES_DATES)
    lon, lat = block_lonlat(1, 2)
    for sel, date_index in [
        ("time=2022-01-05", 1),
        ("time=nearest::2022-01-06", 1),
        ("time=2022-01-01", 0),
        ("time=nearest::2023-01-01", 2),
    ]:
        response = client.get(f"{base}/point/{lon},{lat}", params={"variables": NDVI, "sel": sel})
        assert response.status_code == 200, response.text
        assert response.json()["values"][0] == pytest.approx(es.time_series_value(date_index, 1, 2))
    preview = client.get(
        f"{base}/preview.tif", params={"variables": NDVI, "sel": "time=2022-01-09", "max_size": 100}
    )
    assert preview.status_code == 200, preview.text
    y, x = block_pixel(3, 1, 100)
    assert decode_image(preview.content)[0, y, x] == pytest.approx(es.time_series_value(2, 3, 1))


def test_time_dimension_left_open_or_missed_is_a_clear_400(client):
    base = item(es.COLLECTION_GEOZARR)
    t = morecantile.tms.get("WebMercatorQuad").tile(*block_lonlat(2, 2), 11)
    tile = client.get(
        f"{base}/tiles/WebMercatorQuad/11/{t.x}/{t.y}.png", params={"variables": NDVI}
    )
    assert tile.status_code == 400
    detail = tile.json()["detail"]
    assert "'time'" in detail and all(d in detail for d in es.TIME_SERIES_DATES)
    missed = client.get(f"{base}/preview.png", params={"variables": NDVI, "sel": "time=2022-01-02"})
    assert missed.status_code == 400 and "nearest::2022-01-02" in missed.json()["detail"]
    unknown = client.get(f"{base}/preview.png", params={"variables": NDVI, "sel": "depth=3"})
    assert unknown.status_code == 400 and "'depth'" in unknown.json()["detail"]
    malformed = client.get(f"{base}/preview.png", params={"variables": NDVI, "sel": "time"})
    assert malformed.status_code == 400 and "{dimension}={value}" in malformed.json()["detail"]


def test_sel_is_a_documented_query_parameter(client):
    spec = client.get("/openapi.json").json()
    tile = spec["paths"][
        "/collections/{collection_id}/items/{item_id}/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}"
    ]
    assert "sel" in [p["name"] for p in tile["get"]["parameters"]]


# ----------------------------------------------------------------------------------------------
# Sentinel-1


def test_radar_product_says_what_it_holds_and_why_it_cannot_be_tiled(client):
    base = item(es.COLLECTION_S1)
    listing = client.get(f"{base}/info").json()["variables"]
    assert len(listing) == 2 and all(v.endswith("/measurements:grd") for v in listing)
    response = client.get(
        f"{base}/tiles/WebMercatorQuad/8/130/95.png", params={"variables": listing[0]}
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "radar geometry" in detail and "azimuth_time, ground_range" in detail
    assert all(v in detail for v in listing)


# ----------------------------------------------------------------------------------------------
# Latitude/longitude grids (meteorology)


def test_meteorology_on_its_lonlat_grid(client):
    """CAMS aod550 (9 x 9, latitude decreasing): a point on a grid node returns that node."""
    base = item(es.COLLECTION_NATIVE)
    variable = "/conditions/meteorology/cams:aod550"
    info = client.get(f"{base}/info", params={"variables": variable}).json()
    assert info["crs"].endswith("/4326") and info["width"] == 9 and info["height"] == 9
    minlon, minlat, maxlon, maxlat = es.BOUNDS_LONLAT
    lats = numpy.linspace(maxlat, minlat, 9)
    lons = numpy.linspace(minlon, maxlon, 9)
    for i, j in [(2, 3), (6, 1)]:
        response = client.get(f"{base}/point/{lons[j]},{lats[i]}", params={"variables": variable})
        assert response.status_code == 200, response.text
        assert response.json()["values"] == [pytest.approx((9 * i + j) * 0.5)]


# ----------------------------------------------------------------------------------------------
# Read budget of the variables read whole-chunk (multi-band, extra dimensions)


def test_quicklook_and_time_series_reads_are_budgeted(sample_store):
    """The quicklook's r10m chunk holds all 3 bands of the whole sample (6.2 M values): over a
    5 M budget its r10m tiles are refused before reading, while a reflectance band's r10m tile
    (one 720 x 720 chunk) and a time step (one date of one chunk) fit."""
    from fastapi.testclient import TestClient

    from titiler_eopf.tiler.app import create_tiler_app
    from titiler_eopf.tiler.settings import TilerSettings

    client = TestClient(
        create_tiler_app(TilerSettings(store_url=str(sample_store), read_max_pixels=5_000_000))
    )
    tms = morecantile.tms.get("WebMercatorQuad")
    t = tms.tile(*block_lonlat(1, 1), 14)
    path = f"/tiles/WebMercatorQuad/14/{t.x}/{t.y}.png"
    refused = client.get(f"{item(es.COLLECTION_NATIVE)}{path}", params={"variables": TCI})
    assert refused.status_code == 400 and "read budget" in refused.json()["detail"]
    assert "6 M pixels" in refused.json()["detail"]
    b04 = client.get(
        f"{item(es.COLLECTION_NATIVE)}{path}", params={"variables": "/measurements/reflectance:b04"}
    )
    assert b04.status_code == 200, b04.text
    t = tms.tile(*block_lonlat(1, 1), 11)
    ndvi = client.get(
        f"{item(es.COLLECTION_GEOZARR)}/tiles/WebMercatorQuad/11/{t.x}/{t.y}.tif",
        params={"variables": NDVI, "sel": "time=2022-01-05"},
    )
    assert ndvi.status_code == 200, ndvi.text
