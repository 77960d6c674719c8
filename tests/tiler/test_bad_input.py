"""Hostile and careless input: each case a clear 4xx whose message names the problem.

Every request goes through the app as deployed (``create_app``: request guard, cache, tiler).
Before these bounds, most of them answered 500 or 502, and ``histogram_bins=1e8`` grew one
process to 19.9 GB. URLs over httpx's own length limit, and bytes that are not UTF-8, are sent
as raw ASGI requests (what a server hands the app).
"""

from __future__ import annotations

import asyncio
import json
import logging

import morecantile
import pytest
from fastapi.testclient import TestClient

from eopf_sample import BOUNDS_LONLAT, COLLECTION_NATIVE
from tests.support.tiler import RGB, item_path

ITEM = item_path(COLLECTION_NATIVE)
B04 = [("variables", RGB[0])]


def _tile():
    lon = (BOUNDS_LONLAT[0] + BOUNDS_LONLAT[2]) / 2
    lat = (BOUNDS_LONLAT[1] + BOUNDS_LONLAT[3]) / 2
    return morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 13)


TILE = _tile()
TILE_PATH = f"{ITEM}/tiles/WebMercatorQuad/{TILE.z}/{TILE.x}/{TILE.y}"


@pytest.fixture(scope="module")
def app(tiler_settings):
    from pydantic import SecretStr

    from titiler_eopf.cache import CacheSettings
    from titiler_eopf.main import create_app

    cache_settings = CacheSettings(backend="memory", admin_token=SecretStr("bad-input-token"))
    return create_app(tiler_settings, cache_settings)


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


def detail_text(response) -> str:
    """The message a client reads: titiler's string, or FastAPI's validation list."""
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else json.dumps(detail)


def expect(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    text = detail_text(response)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


def raw_request(app, method: str, raw_path: bytes, query: bytes = b"", chunks=(b"",), headers=()):
    """One request straight to the ASGI app (no client-side URL checks); the body is sent in
    ``chunks`` (several: streamed, as with Transfer-Encoding: chunked)."""
    messages = []
    pending = list(chunks)

    async def receive():
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message):
        messages.append(message)

    from urllib.parse import unquote_to_bytes

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    if start["status"] == 200:
        return 200, content
    return start["status"], json.loads(content)["detail"]


# -- 1. every size-like parameter bounded (422 naming the limit and its setting) -------------
def test_histogram_bins_over_the_limit(client):
    response = client.get(f"{ITEM}/statistics", params=B04 + [("histogram_bins", "100000000")])
    expect(response, 422, "histogram_bins", "1024", "TITILER_EOPF_MAX_HISTOGRAM_BINS")


def test_histogram_bin_edges_over_the_limit(client):
    edges = ",".join(str(i) for i in range(2000))
    response = client.get(f"{ITEM}/statistics", params=B04 + [("histogram_bins", edges)])
    expect(response, 422, "histogram_bins", "1024")


@pytest.mark.parametrize("path", [TILE_PATH + ".png", f"{ITEM}/WebMercatorQuad/tilejson.json"])
def test_tilesize_over_the_limit(client, path):
    response = client.get(path, params=B04 + [("tilesize", "100000")])
    expect(response, 422, "tilesize", "4096")


@pytest.mark.parametrize(
    "path,query",
    [
        ("/preview/100000x100000.png", []),
        ("/preview.png", [("max_size", "100000")]),
        ("/bbox/11.45,42.3,11.5,42.35/100000x10.png", []),
        ("/bbox/11.45,42.3,11.5,42.35.png", [("height", "5000")]),
    ],
)
def test_image_sizes_over_the_limit(client, path, query):
    response = client.get(f"{ITEM}{path}", params=B04 + query)
    expect(response, 422, "less than or equal to 4096")


def test_feature_size_over_the_limit(client):
    response = client.post(f"{ITEM}/feature/100000x10.png", params=B04, json=_square())
    expect(response, 422, "less than or equal to 4096")


def test_huge_scale(client):
    response = client.get(f"{TILE_PATH}@1000000000000000000000x.png", params=B04)
    expect(response, 422, "scale", "less than or equal to 4")


def test_output_pixels_over_the_limit_before_reading(client):
    # 16 bands of 4096 x 4096: each parameter is within its limit, the whole is not
    response = client.get(
        f"{TILE_PATH}.png", params=[("variables", RGB[0])] * 16 + [("tilesize", "4096")]
    )
    expect(response, 422, "16 band(s) x 4096 x 4096", "TITILER_EOPF_MAX_OUTPUT_PIXELS")


def test_output_pixels_of_a_derived_size(client):
    # a thin bbox with only its width fixed: the height follows the bbox (126,521 px here)
    response = client.get(
        f"{ITEM}/bbox/11.5,42.35,11.5001,42.4.png", params=B04 + [("width", "4096")]
    )
    expect(response, 422, "4096 x 126521", "TITILER_EOPF_MAX_OUTPUT_PIXELS")


def test_percentiles_range_and_count(client):
    expect(
        client.get(f"{ITEM}/statistics", params=B04 + [("p", "1000")]),
        422,
        '"p"',
        "less than or equal to 100",
    )
    many = [("p", str(i % 100)) for i in range(33)]
    expect(client.get(f"{ITEM}/statistics", params=B04 + many), 422, '"p"', "at most 32")


def test_categories_count(client):
    many = [("c", str(i)) for i in range(300)]
    expect(client.get(f"{ITEM}/statistics", params=B04 + many), 422, '"c"', "at most 256")


def test_colormap_bytes_and_entries(client):
    big = json.dumps({str(i): [i % 256, 0, 0, 255] for i in range(500)})  # ~10 kB
    expect(
        client.get(f"{TILE_PATH}.png", params=B04 + [("colormap", big)]),
        422,
        "colormap",
        "8192 bytes",
        "TITILER_EOPF_MAX_COLORMAP_BYTES",
    )
    many = json.dumps({str(i): "#fff" for i in range(300)})  # ~3.6 kB, 300 entries
    expect(
        client.get(f"{TILE_PATH}.png", params=B04 + [("colormap", many)]),
        422,
        "colormap is 300 entries",
        "TITILER_EOPF_MAX_COLORMAP_ENTRIES",
    )


def test_huge_colormap_json_in_a_huge_query(app):
    colormap = json.dumps({str(i): [i % 256, 0, 0, 255] for i in range(20000)})
    from urllib.parse import quote

    query = f"variables={quote(RGB[0])}&colormap={quote(colormap)}".encode()
    status, detail = raw_request(app, "GET", f"{TILE_PATH}.png".encode(), query)
    assert status == 414 and "query string" in detail and "TITILER_EOPF_MAX_QUERY_BYTES" in detail


def test_number_of_variables(client):
    response = client.get(f"{TILE_PATH}.png", params=[("variables", RGB[0])] * 17)
    expect(response, 422, "'variables'", "16", "TITILER_EOPF_MAX_VARIABLES")


def test_5000_repeated_variables(app):
    from urllib.parse import quote

    query = "&".join([f"variables={quote(RGB[0])}"] * 5000).encode()
    status, detail = raw_request(app, "GET", f"{TILE_PATH}.png".encode(), query)
    assert status == 414 and f"{len(query)} bytes" in detail


def test_100_kb_query_string(app):
    query = b"variables=%2Fmeasurements%2Freflectance%3Ab04&x=" + b"a" * 100_000
    status, detail = raw_request(app, "GET", f"{TILE_PATH}.png".encode(), query)
    assert status == 414 and "query string" in detail and "32768" in detail


def test_long_expression_and_too_many_expression_bands(client):
    long = "+".join(["b1"] * 600)
    expect(
        client.get(f"{TILE_PATH}.png", params=B04 + [("expression", long)]),
        422,
        "expression",
        "TITILER_EOPF_MAX_EXPRESSION_LENGTH",
    )
    bands = ";".join(["b1"] * 17)
    expect(
        client.get(f"{TILE_PATH}.png", params=B04 + [("expression", bands)]),
        422,
        "bands of 'expression'",
        "17",
    )


def test_too_many_features_for_statistics(client):
    collection = {"type": "FeatureCollection", "features": [_square()] * 65}
    expect(
        client.post(f"{ITEM}/statistics", params=B04, json=collection),
        422,
        "features",
        "TITILER_EOPF_MAX_FEATURES",
    )


def test_oversize_bodies(client):
    body = b'{"type": "Feature", "geometry": null, "pad": "' + b"x" * (2**20) + b'"}'
    for path in (f"{ITEM}/feature.png", "/admin/cache/invalidate"):
        response = client.post(
            path,
            params=B04,
            content=body,
            headers={"content-type": "application/json", "authorization": "Bearer bad-input-token"},
        )
        expect(response, 413, "request body", "TITILER_EOPF_MAX_BODY_BYTES")


def test_streamed_bodies(app):
    """A body without Content-Length is bounded too (413), and one within the limit works."""
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    path, query = f"{ITEM}/feature.png".encode(), b"variables=%2Fmeasurements%2Freflectance%3Ab04"
    big = [b'{"type": "Feature", "geometry": null, "pad": "'] + [b"x" * 65536] * 17 + [b'"}']
    status, detail = raw_request(app, "POST", path, query, big, headers)
    assert status == 413 and "TITILER_EOPF_MAX_BODY_BYTES" in detail
    square = json.dumps(_square()).encode()
    status, content = raw_request(app, "POST", path, query, [square[:50], square[50:]], headers)
    assert status == 200 and content.startswith(b"\x89PNG")


def test_limits_are_settings(tiler_settings):
    """A deployment changes a limit through its TITILER_EOPF_ variable; the 422 names it."""
    from titiler_eopf.tiler.app import create_tiler_app
    from titiler_eopf.tiler.settings import TilerSettings

    settings = TilerSettings(
        **{**tiler_settings.model_dump(), "max_histogram_bins": 8, "max_image_size": 300}
    )
    client = TestClient(create_tiler_app(settings), raise_server_exceptions=False)
    within = client.get(f"{ITEM}/statistics", params=B04 + [("histogram_bins", "8")])
    assert within.status_code == 200 and len(within.json()["b1"]["histogram"][0]) == 8
    expect(
        client.get(f"{ITEM}/statistics", params=B04 + [("histogram_bins", "9")]),
        422,
        "limit of 8 bins",
    )
    expect(client.get(f"{ITEM}/preview/301x10.png", params=B04), 422, "less than or equal to 300")
    expect(
        client.get(f"{TILE_PATH}.png", params=B04 + [("tilesize", "512")]),
        422,
        "less than or equal to 300",
    )


def test_limit_settings_are_validated(monkeypatch):
    from titiler_eopf.main import SettingsError, load_settings

    monkeypatch.setenv("TITILER_EOPF_MAX_HISTOGRAM_BINS", "0")
    with pytest.raises(SettingsError, match="TITILER_EOPF_MAX_HISTOGRAM_BINS"):
        load_settings()


# -- 2. what answered 500 for client input --------------------------------------------------
@pytest.mark.parametrize(
    "z,x,y,fragment",
    [
        ("1180591620717411303424", "1", "1", "less than or equal to 30"),
        ("99", "1", "1", "less than or equal to 30"),
        ("13", "-1", "1", "greater than or equal to 0"),
    ],
)
def test_tile_coordinates_out_of_range(client, z, x, y, fragment):
    response = client.get(f"{ITEM}/tiles/WebMercatorQuad/{z}/{x}/{y}.png", params=B04)
    expect(response, 422, fragment)


@pytest.mark.parametrize(
    "tms,z", [("WGS1984Quad", 29), ("CDB1GlobalGrid", 29), ("EuropeanETRS89_LAEAQuad", 30)]
)
def test_zoom_beyond_a_tile_matrix_set(client, tms, z):
    response = client.get(f"{ITEM}/tiles/{tms}/{z}/1/1.png", params=B04)
    expect(response, 400, f"z={z} is not a zoom level of {tms}")


def test_tile_outside_the_matrix(client):
    response = client.get(f"{ITEM}/tiles/GNOSISGlobalGrid/1/248/4762.png", params=B04)
    expect(response, 404, "outside the tile matrix of GNOSISGlobalGrid")


@pytest.mark.parametrize(
    "bbox", ["nan,42.3,11.5,42.4", "-inf,42.3,11.5,42.4", "11.4,42.3,inf,42.4"]
)
def test_bbox_not_finite(client, bbox):
    expect(client.get(f"{ITEM}/bbox/{bbox}.png", params=B04), 422, "finite number")


@pytest.mark.parametrize(
    "bbox,fragment",
    [
        ("-1e308,42.3,11.5,42.4", "not a longitude/latitude"),
        ("12,43,11,42", "minx < maxx and miny < maxy"),
        ("0,0,0,0", "minx < maxx and miny < maxy"),
    ],
)
def test_bad_bbox(client, bbox, fragment):
    expect(client.get(f"{ITEM}/bbox/{bbox}.jp2", params=B04), 400, fragment)


def test_point_not_a_lonlat(client):
    expect(client.get(f"{ITEM}/point/11.5,95", params=B04), 400, "not a longitude/latitude")
    expect(client.get(f"{ITEM}/point/nan,42", params=B04), 422, "finite number")


def test_colormap_with_a_key_that_is_not_a_value(client):
    response = client.get(f"{TILE_PATH}.png", params=B04 + [("colormap", '{"x":[1,2,3,4]}')])
    expect(response, 400, "Invalid colormap", "'x'", "A colormap is a JSON object")


@pytest.mark.parametrize("bins,fragment", [("0", "at least 1"), ("5,3,1", "must increase")])
def test_histogram_bins_invalid(client, bins, fragment):
    expect(client.get(f"{ITEM}/statistics", params=B04 + [("histogram_bins", bins)]), 400, fragment)


def test_histogram_range_inverted(client):
    response = client.get(f"{ITEM}/statistics", params=B04 + [("histogram_range", "10,1")])
    expect(response, 400, "histogram_range", "min <= max")


def test_algorithm_that_does_not_fit_the_image(client):
    response = client.get(f"{TILE_PATH}.png", params=B04 + [("algorithm", "normalizedIndex")])
    expect(response, 400, "algorithm 'normalizedIndex' cannot be applied", "1 band(s)")
    response = client.get(
        f"{TILE_PATH}.png", params=B04 + [("algorithm", "cast"), ("algorithm_params", "[1]")]
    )
    expect(response, 400, "Invalid algorithm_params")


def test_preview_of_one_pixel_as_jp2(client):
    expect(
        client.get(f"{ITEM}/preview/1x1.jp2", params=B04),
        400,
        "Cannot draw",
        "/measurements/reflectance",
    )


def test_feature_without_geometry(client):
    feature = {"type": "Feature", "geometry": None, "properties": {}}
    expect(client.post(f"{ITEM}/feature", params=B04, json=feature), 400, "has no geometry")
    empty = {
        "type": "Feature",
        "geometry": {"type": "MultiPolygon", "coordinates": []},
        "properties": None,
    }
    expect(client.post(f"{ITEM}/feature.png", params=B04, json=empty), 400, "empty geometry")


def test_map_with_an_empty_tile_matrix_set(client):
    response = client.get(f"{ITEM}/map", params=B04 + [("tileMatrixSetId", "")])
    expect(response, 400, "Unknown tileMatrixSetId", "WebMercatorQuad")


@pytest.mark.parametrize(
    "query,fragment",
    [
        ({"width": "-1", "height": "10"}, "greater than 0"),
        ({"width": "0", "height": "0"}, "greater than 0"),
        ({"width": "100000000", "height": "100000"}, "less than or equal to 4096"),
    ],
)
def test_colormap_image_sizes(client, query, fragment):
    response = client.get("/colorMaps/viridis", params={**query, "format": "png"})
    expect(response, 422, fragment)


# -- issue 10's hand-written cases ------------------------------------------------------------
def test_10_kb_ids(client, app):
    status, detail = raw_request(
        app, "GET", f"/collections/{COLLECTION_NATIVE}/items/{'a' * 10_000}/info".encode()
    )
    assert status == 414 and "URL path" in detail and "TITILER_EOPF_MAX_PATH_BYTES" in detail
    expect(
        client.get(f"/collections/{COLLECTION_NATIVE}/items/{'a' * 1000}/info"),
        422,
        "item_id",
        "pattern",
    )


def test_invalid_utf8_after_percent_decoding(app):
    status, detail = raw_request(app, "GET", f"{ITEM}/info".encode(), b"variables=%ff%fe")
    assert status == 400 and "'variables'" in detail and "UTF-8" in detail
    status, detail = raw_request(
        app, "GET", f"/collections/{COLLECTION_NATIVE}/items/%ff%fe/info".encode()
    )
    assert status == 400 and "URL path" in detail and "UTF-8" in detail


def test_invalid_percent_escape_is_taken_literally(client):
    response = client.get(f"{TILE_PATH}.png", params=[("variables", "%zz")])
    expect(response, 400, "%zz")


@pytest.mark.parametrize(
    "path,fragment",
    [(f"{TILE_PATH}.gif", "'png'"), (f"{ITEM}/tiles/NoSuchTMS/13/1/1.png", "WebMercatorQuad")],
)
def test_unknown_format_and_tms(client, path, fragment):
    expect(client.get(path, params=B04), 422, fragment)


@pytest.mark.parametrize(
    "rescale,status", [("nan,nan", 400), ("0,inf", 400), ("nan", 422), ("1,2,3", 422)]
)
def test_rescale_not_two_finite_numbers(client, rescale, status):
    # titiler's own validator answers the malformed ones (422), the bounds the non-finite
    expect(client.get(f"{TILE_PATH}.png", params=B04 + [("rescale", rescale)]), status, "rescale")


@pytest.mark.parametrize(
    "expression,fragment",
    [
        ("__import__('os').system('id')", "disallowed"),
        ("b1.sum()", "disallowed"),
        ("open('/etc/passwd')", "disallowed"),
        ("b9", "Invalid expression"),
    ],
)
def test_expressions_that_call_or_import(client, expression, fragment):
    expect(client.get(f"{TILE_PATH}.png", params=B04 + [("expression", expression)]), 400, fragment)


# -- 3. errors in their class -----------------------------------------------------------------
def test_no_data_in_the_area_is_404_not_a_store_error(client):
    response = client.get(f"{ITEM}/bbox/5,40,5.01,40.01.png", params=B04)
    expect(response, 404, "No data of", "in the requested area")
    assert "/tmp" not in detail_text(response) and "zarr" not in detail_text(response)


def test_client_nodata_that_does_not_fit_an_integer_variable(client):
    mask = [("variables", "/quality/mask:b07")]
    response = client.get(f"{ITEM}/preview.png", params=mask + [("nodata", "-1.5e-139")])
    expect(response, 400, "nodata value does not fit")


@pytest.mark.parametrize("nodata", ["-2.8121284573231395e+62", "3.5e38"])
def test_client_nodata_beyond_float32_is_a_400_on_float_data(client, nodata):
    """Reflectance is float32 once decoded: a finite nodata beyond its range cannot be written
    by the warp (found by schemathesis: a 500 before the check covered float data)."""
    response = client.get(f"{ITEM}/statistics", params=B04 + [("nodata", nodata)])
    expect(response, 400, "nodata value does not fit", "float32")
    assert client.get(f"{ITEM}/statistics", params=B04 + [("nodata", "-9999")]).status_code == 200


def test_read_errors_in_their_class(sample_store, caplog):
    """A MemoryError and a bug inside a read are 500s logged with the item and group, a store
    I/O failure a 502 that does not show the store's path. The exceptions are raised inside
    the reader's real error boundary (no other part of the stack can raise them on demand)."""
    from titiler_eopf.tiler.catalog import Catalog
    from titiler_eopf.tiler.errors import InternalError, StoreError, reading
    from titiler_eopf.tiler.settings import TilerSettings

    catalog = Catalog(TilerSettings(store_url=str(sample_store)))
    product = catalog.open(COLLECTION_NATIVE, ITEM.rsplit("/", 1)[1])
    level = product.pyramid("measurements/reflectance").levels[0]
    cases = [
        (MemoryError("Unable to allocate 74.5 GiB"), InternalError, "Out of memory"),
        (TypeError("a bug"), InternalError, "Internal error while reading"),
        (OSError(f"read failed: {sample_store}/x.zarr/b04/0.0"), StoreError, "Cannot read"),
    ]
    for raised, expected, fragment in cases:
        caplog.clear()
        with caplog.at_level(logging.ERROR), pytest.raises(expected) as info:
            with reading(product.location, level.path):
                raise raised
        message = str(info.value)
        assert fragment in message and product.location.label in message and "/r10m" in message
        assert str(sample_store) not in message
        assert any(product.location.label in r.getMessage() for r in caplog.records)


def test_internal_bug_is_500_logged_with_item_and_variables(client, monkeypatch, caplog):
    """A bug in the reader (injected: the code has none on demand) is a 500 naming the item,
    logged with the item and the variables."""
    from titiler_eopf.tiler.reader import EOPFReader

    def broken(self, *args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(EOPFReader, "preview", broken)
    with caplog.at_level(logging.ERROR):
        response = client.get(f"{ITEM}/preview.png", params=B04 + [("max_size", "77")])
    expect(response, 500, "Internal error", COLLECTION_NATIVE)
    logged = [r for r in caplog.records if "ZeroDivisionError" in r.getMessage()]
    assert (
        logged and RGB[0] in logged[0].getMessage() and COLLECTION_NATIVE in logged[0].getMessage()
    )


def _square():
    lon = (BOUNDS_LONLAT[0] + BOUNDS_LONLAT[2]) / 2
    lat = (BOUNDS_LONLAT[1] + BOUNDS_LONLAT[3]) / 2
    d = 0.01
    ring = [
        [lon - d, lat - d],
        [lon + d, lat - d],
        [lon + d, lat + d],
        [lon - d, lat + d],
        [lon - d, lat - d],
    ]
    return {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
