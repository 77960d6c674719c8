"""The EOPF Explorer's products (issue 15): Sentinel-1 GRD RTC cubes, the Sentinel-2 GeoZarr as
the production converter writes it and its experimental-codecs variant.

Every level of the samples holds values that differ from one pixel to the next
(:mod:`eopf_sample.explorer`), so a point at a pixel centre returns that pixel only when the
reader places the level right: x/y corners of the RTC cubes, half-pixel-off transforms of the
converter, r360m shards that only partly cover the array.
"""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from rasterio.warp import transform as transform_coords

from eopf_sample import explorer as ex
from eopf_sample import scene
from tests.support.tiler import decode_image
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

S1 = f"/collections/{ex.COLLECTION_S1_RTC}/items/{ex.S1_RTC_ITEM_ID}"
S2 = f"/collections/{{collection}}/items/{scene.ITEM_ID}"
PRODUCTION = S2.format(collection=ex.COLLECTION_S2_PRODUCTION)
CODECS = S2.format(collection=ex.COLLECTION_S2_CODECS)
LEVELS = list(ex.LEVELS)
ORBITS = ["descending", "ascending"]


def lonlat(epsg: int, x: float, y: float) -> tuple[float, float]:
    (lon,), (lat,) = transform_coords(f"EPSG:{epsg}", "EPSG:4326", [x], [y])
    return lon, lat


def pixels(level: str) -> list[tuple[int, int]]:
    """Pixels to probe: corners, next to them, the middle (every shard at r360m)."""
    size = ex.LEVELS[level][1]
    picks = {(0, 1), (1, 0), (1, 3), (size // 2, size // 2), (size - 1, size - 2), (size - 2, 1)}
    return sorted((min(r, size - 1), min(c, size - 1)) for r, c in picks)


def point(client, base: str, epsg: int, x: float, y: float, **params):
    lon, lat = lonlat(epsg, x, y)
    response = client.get(f"{base}/point/{lon},{lat}", params=params)
    assert response.status_code == 200, response.text
    return response.json()["values"]


def full_grid(client, base: str, epsg: int, level: str, variables, **params):
    """The whole product as a ``size`` x ``size`` GeoTIFF in its own CRS (read from ``level``)."""
    size = ex.LEVELS[level][1]
    x0, y0 = (ex.S1_X0, ex.S1_Y0) if epsg == ex.S1_EPSG else (scene.X0, scene.Y0)
    bbox = f"{x0},{y0 - ex.SIZE_M},{x0 + ex.SIZE_M},{y0}"
    response = client.get(
        f"{base}/bbox/{bbox}/{size}x{size}.tif",
        params={
            "variables": variables,
            "coord_crs": f"EPSG:{epsg}",
            "dst_crs": f"EPSG:{epsg}",
            **params,
        },
    )
    assert response.status_code == 200, response.text
    return decode_image(response.content)


def same(got, expected) -> bool:
    if expected is None:
        return got is None or (isinstance(got, float) and math.isnan(got))
    return got == expected


# ----------------------------------------------------------------------------------------------
# Sentinel-1 GRD RTC cube


def test_s1_rtc_lists_orbit_groups_conditions_and_acquisitions_in_stored_order(client):
    listing = client.get(f"{S1}/info").json()
    variables = listing["variables"]
    for orbit in ORBITS:
        assert {f"/{orbit}:vv", f"/{orbit}:vh", f"/{orbit}:border_mask"} <= set(variables)
    assert "/descending/conditions:gamma_area_110" in variables
    assert not [v for v in variables if "platform" in v or "orbit" in v.split(":")[1]]
    info = client.get(f"{S1}/info", params={"variables": "/descending:vh"}).json()
    times = [ex.s1_second("descending", i) for i in range(3)]
    assert info["dimensions"]["/descending:vh"]["time"] == times  # not sorted, as stored
    assert times != sorted(times)
    # x/y are corners: the cube spans from x[0] (the transform's origin), not half a pixel west
    assert info["bounds"] == pytest.approx(
        [ex.S1_X0, ex.S1_Y0 - ex.SIZE_M, ex.S1_X0 + ex.SIZE_M, ex.S1_Y0]
    )
    assert [lv["name"] for lv in info["levels"]] == LEVELS


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("orbit", ORBITS)
def test_s1_rtc_points_are_exact_per_acquisition_at_pixel_centres(client, orbit, level):
    """The point at a pixel's centre, for each acquisition picked by its time at second
    precision on the unsorted axis, returns that pixel of that acquisition."""
    for index in range(len(ex.S1_TIMES[orbit])):
        sel = f"time={ex.s1_second(orbit, index)}"
        for row, col in pixels(level):
            x, y = ex.s1_pixel_centre(level, row, col)
            variables = [f"/{orbit}/{level}:vv", f"/{orbit}/{level}:vh"]
            values = point(client, S1, ex.S1_EPSG, x, y, variables=variables, sel=sel)
            expected = [ex.s1_value(orbit, p, index, level, row, col) for p in ("vv", "vh")]
            assert all(same(g, e) for g, e in zip(values, expected, strict=True)), (
                orbit,
                index,
                level,
                row,
                col,
                values,
                expected,
            )


@pytest.mark.parametrize("level", ["r10m", "r120m", "r720m"])
def test_s1_rtc_reads_the_right_pixels_of_a_level(client, level):
    """A read of the whole cube at a level's size gives that level's grid, pixel for pixel."""
    size = ex.LEVELS[level][1]
    sel = f"time={ex.s1_second('descending', 2)}"
    image = full_grid(client, S1, ex.S1_EPSG, level, ["/descending:vv"], sel=sel)
    assert image.shape[1:] == (size, size)  # data (+ mask)
    for row, col in pixels(level):
        assert float(image[0, row, col]) == ex.s1_value("descending", "vv", 2, level, row, col)


def test_s1_rtc_time_selection_forms(client):
    x, y = ex.s1_pixel_centre("r10m", 5, 40)
    expected = {i: ex.s1_value("descending", "vv", i, "r10m", 5, 40) for i in range(3)}

    def vv(sel: str) -> float:
        return point(client, S1, ex.S1_EPSG, x, y, variables="/descending:vv", sel=sel)[0]

    assert vv("time=2025-01-02T17:50:40") == expected[1]  # second precision, stored 2nd
    assert vv("time=2025-01-14") == expected[0]  # the day, when one acquisition falls in it
    assert vv("time=2025-01-08T17:42:11.5") == expected[2]  # full precision
    # methods compare values, not positions: the axis is 14th, 2nd, 8th
    assert vv("time=nearest::2025-01-07") == expected[2]
    assert vv("time=nearest::2025-01-13") == expected[0]
    assert vv("time=pad::2025-01-07") == expected[1]
    assert vv("time=ffill::2025-01-20") == expected[0]
    assert vv("time=backfill::2025-01-03") == expected[2]
    assert vv("time=bfill::2024-12-01") == expected[1]
    lon, lat = lonlat(ex.S1_EPSG, x, y)
    for sel, words in [
        ("time=2025-01", ["matches 3 values", "more precisely"]),
        ("time=2025-01-03T17:50:40", ["no such value", "2025-01-14T17:50:39"]),
        ("time=pad::2024-12-01", ["no value of 'time' at or before"]),
    ]:
        response = client.get(
            f"{S1}/point/{lon},{lat}", params={"variables": "/descending:vv", "sel": sel}
        )
        assert response.status_code == 400, (sel, response.text)
        assert all(w in response.json()["detail"] for w in words), response.text
    open_axis = client.get(f"{S1}/point/{lon},{lat}", params={"variables": "/descending:vv"})
    assert open_axis.status_code == 400 and "2025-01-02T17:50:40" in open_axis.json()["detail"]


def test_s1_rtc_border_is_nodata_and_border_mask_says_so(client):
    x, y = ex.s1_pixel_centre("r10m", 10, 3)  # west border of the first acquisition
    sel = f"time={ex.s1_second('ascending', 0)}"
    values = point(
        client, S1, ex.S1_EPSG, x, y, variables=["/ascending:vv", "/ascending:border_mask"], sel=sel
    )
    assert values[0] is None or math.isnan(values[0])
    other = f"time={ex.s1_second('ascending', 1)}"
    mask = point(client, S1, ex.S1_EPSG, x, y, variables="/ascending:border_mask", sel=other)
    assert mask == [1]
    border = point(client, S1, ex.S1_EPSG, x, y, variables="/ascending:border_mask", sel=sel)
    assert border in ([0], [None])  # 0 is the mask's nodata


def test_s1_rtc_conditions_are_placed_by_their_transform(client):
    """``conditions`` has no x/y arrays: its spatial:transform places it."""
    for row, col in [(0, 0), (7, 250), (359, 359)]:
        x, y = ex.s1_pixel_centre("r10m", row, col)
        values = point(
            client, S1, ex.S1_EPSG, x, y, variables="/descending/conditions:gamma_area_037"
        )
        assert values == [ex.s1_gamma_area(37, row, col)]


def test_s1_rtc_vv_vh_composite_renders(client):
    """The Explorer's VV/VH composite in the b1..bN form (3 bands, rescale 0..0.2)."""
    lon, lat = lonlat(ex.S1_EPSG, ex.S1_X0 + 1800, ex.S1_Y0 - 1800)
    params = {
        "variables": ["/descending:vv", "/descending:vh"],
        "expression": "b1;b2;b1/b2",
        "rescale": "0.0,0.2",
        "sel": f"time={ex.s1_second('descending', 1)}",
    }
    value = client.get(f"{S1}/point/{lon},{lat}", params=params).json()["values"]
    assert value[2] == pytest.approx(4.0)  # vh = vv / 4
    preview = client.get(f"{S1}/preview.png", params={**params, "max_size": 64})
    assert preview.status_code == 200, preview.text
    assert decode_image(preview.content).shape[0] == 4  # RGB + alpha


def cube_client(root, **options) -> TestClient:
    path = root / ex.COLLECTION_S1_RTC / f"{ex.S1_RTC_ITEM_ID}.zarr"
    path.mkdir(parents=True)
    ex.write_s1_rtc(path, **options)
    return TestClient(create_tiler_app(TilerSettings(store_url=str(root))))


def test_s1_rtc_conventions_are_matched_by_uuid(tmp_path):
    """Renamed conventions with new URLs (same uuids): the orbit group is still a multiscale
    pyramid beside its conditions, and its levels are still placed by spatial:transform."""
    client = cube_client(tmp_path, later=True)
    assert "/descending:vv" in client.get(f"{S1}/info").json()["variables"]
    sel = f"time={ex.s1_second('descending', 0)}"
    for level in ("r10m", "r720m"):
        x, y = ex.s1_pixel_centre(level, 3, 3)
        values = point(client, S1, ex.S1_EPSG, x, y, variables=f"/descending/{level}:vv", sel=sel)
        assert values == [ex.s1_value("descending", "vv", 0, level, 3, 3)]


def test_s1_rtc_levels_are_chosen_per_output_resolution(client):
    """``/descending:vh`` picks levels as ``/measurements/reflectance`` does."""
    from titiler_eopf.tiler.reader import EOPFReader

    product = client.app.state.catalog.open(ex.COLLECTION_S1_RTC, ex.S1_RTC_ITEM_ID)
    sel = [f"time={ex.s1_second('descending', 0)}"]
    reader = EOPFReader(product, variables=["/descending:vh"], sel=sel)
    assert [reader.chosen_levels(r)[0] for r in (None, 10, 59, 60, 200, 719, 5000)] == [
        "r10m",
        "r10m",
        "r20m",
        "r60m",
        "r120m",
        "r360m",
        "r720m",
    ]


def test_s1_rtc_with_one_orbit_group(tmp_path):
    """Either orbit group can be missing: the other reads, the missing one is a clear 400."""
    client = cube_client(tmp_path, orbits=("descending",))
    listing = client.get(f"{S1}/info").json()["variables"]
    assert "/descending:vv" in listing and not [v for v in listing if "ascending:" in v[:12]]
    x, y = ex.s1_pixel_centre("r10m", 21, 27)
    sel = f"time={ex.s1_second('descending', 1)}"
    assert point(client, S1, ex.S1_EPSG, x, y, variables="/descending:vv", sel=sel) == [
        ex.s1_value("descending", "vv", 1, "r10m", 21, 27)
    ]
    missing = client.get(f"{S1}/info", params={"variables": "/ascending:vv"})
    assert missing.status_code == 400 and "/descending:vv" in missing.json()["detail"]


# ----------------------------------------------------------------------------------------------
# Sentinel-2 GeoZarr: production converter, later converters, experimental codecs


@pytest.fixture(scope="module")
def later_client(tmp_path_factory) -> TestClient:
    """The product as a later converter writes it: half pixel fixed, conventions renamed."""
    root = tmp_path_factory.mktemp("later")
    path = root / ex.COLLECTION_S2_PRODUCTION / f"{scene.ITEM_ID}.zarr"
    path.mkdir(parents=True)
    ex.write_s2_production(path, later=True)
    return TestClient(create_tiler_app(TilerSettings(store_url=str(root))))


def _codecs():
    pytest.importorskip("cast_value_rs", reason="cast-value-rs (lambda_src/requirements.txt)")


S2_CASES = {
    "production": (PRODUCTION, ex.s2_reflectance),
    "codecs": (CODECS, ex.s2_codecs_reflectance),
    "later": (PRODUCTION, ex.s2_reflectance),
}


def _case(name: str, client, later_client):
    if name == "codecs":
        _codecs()
    base, expected = S2_CASES[name]
    return (later_client if name == "later" else client), base, expected


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("case", list(S2_CASES))
def test_s2_points_are_exact_at_pixel_centres_of_every_level(client, later_client, case, level):
    """Coarse levels' spatial:transform is half a pixel off in production: the x/y centres
    place them (at r720m a half pixel is 360 m)."""
    client, base, expected = _case(case, client, later_client)
    bands = ex.S2_BANDS[level][:: max(1, len(ex.S2_BANDS[level]) // 4)]
    for row, col in pixels(level):
        x, y = ex.s2_pixel_centre(level, row, col)
        variables = [f"/measurements/reflectance/{level}:{band}" for band in bands]
        values = point(client, base, scene.EPSG, x, y, variables=variables)
        wanted = [expected(band, level, row, col) for band in bands]
        assert all(same(g, e) for g, e in zip(values, wanted, strict=True)), (
            level,
            row,
            col,
            values,
            wanted,
        )


@pytest.mark.parametrize("level", ["r20m", "r360m", "r720m"])
@pytest.mark.parametrize("case", list(S2_CASES))
def test_s2_reads_the_right_pixels_of_a_level(client, later_client, case, level):
    """Chunk-wise reads (tiles, parts) of a level, r360m's partial shards included."""
    client, base, expected = _case(case, client, later_client)
    size = ex.LEVELS[level][1]
    image = full_grid(client, base, scene.EPSG, level, ["/measurements/reflectance:b08"])
    assert image.shape[1:] == (size, size)  # data (+ mask)
    for row in range(size):
        for col in range(0, size, max(1, size // 12)):
            assert same(float(image[0, row, col]), expected("b08", level, row, col)), (row, col)


def test_s2_production_places_the_data_in_its_own_crs_not_the_roots(client):
    """The root says EPSG:4326 with a lon/lat bbox: the data are in EPSG:32632."""
    info = client.get(f"{PRODUCTION}/info", params={"variables": "/measurements/reflectance:b04"})
    assert info.json()["crs"].endswith("/32632")
    assert info.json()["bounds"] == pytest.approx(
        [scene.X0, scene.Y0 - ex.SIZE_M, scene.X0 + ex.SIZE_M, scene.Y0]
    )


def test_s2_production_b08_is_read_from_coarse_levels(client):
    """b08 is in r20m and r60m here (not only r10m as in the native layout)."""
    info = client.get(f"{PRODUCTION}/info", params={"variables": "/measurements/reflectance:b08"})
    levels = {lv["name"]: lv["variables"] for lv in info.json()["levels"]}
    assert all(levels[name] == ["/measurements/reflectance:b08"] for name in LEVELS)


def test_s2_production_unsharded_atmosphere_and_masks(client):
    for row, col in [(0, 0), (13, 7), (59, 58)]:
        x, y = ex.s2_pixel_centre("r60m", row, col)
        aot = point(client, PRODUCTION, scene.EPSG, x, y, variables="/quality/atmosphere/r60m:aot")
        assert aot[0] == pytest.approx(ex.s2_aot(row, col, "r60m") * 0.001)
        mask = point(client, PRODUCTION, scene.EPSG, x, y, variables="/quality/mask/r60m:b01")
        assert mask == [ex.s2_mask(row, col)]


def test_codecs_product_decodes_uint16_to_float32_with_nan(client):
    _codecs()
    info = client.get(f"{CODECS}/info", params={"variables": "/measurements/reflectance:b02"})
    assert info.json()["dtype"] == "float32"
    x, y = ex.s2_pixel_centre("r10m", 359, 359)  # the nodata corner: stored 0
    values = point(client, CODECS, scene.EPSG, x, y, variables="/measurements/reflectance:b02")
    assert values[0] is None or math.isnan(values[0])
