"""The EOPF Explorer's link forms, replayed on every sample collection (issue 15).

The Explorer writes into its STAC items an ``xyz`` tile template, a ``tilejson`` link, a
``viewer`` (``{item}/viewer`` or ``{item}/WebMercatorQuad/map.html?{query}``), a thumbnail
``preview?format=png&{query}`` and STAC ``renders``, all in TiTiler-EOPF's parameter semantics
(``bidx`` per variable, ``{group}:{variable}`` expressions, ``sel=time=`` with encoded colons,
``assets``, ``tilesize``). Each form must answer 200 with the right image: the PNG has the
render's bands, and the same request as ``.npy`` holds the sample's known values.

A collection plugs in with one line of :data:`COLLECTIONS`: its item, the Explorer's query for
it and where its known values are.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import morecantile
import numpy
import pytest
from rasterio.warp import transform as warp

import eopf_sample as es
from eopf_sample.mosaic import COLLECTION_MOSAIC, MOSAIC_ITEMS
from tests.tiler.conftest import decode_image

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
REFLECTANCE = "/measurements/reflectance"
# The Explorer's Sentinel-2 true colour (its items' xyz/tilejson/thumbnail query, verbatim).
S2_TRUE_COLOUR = (
    "rescale=0%2C1&color_formula=gamma+rgb+1.3%2C+sigmoidal+rgb+6+0.1%2C+saturation+1.2"
    "&variables=%2Fmeasurements%2Freflectance%3Ab04&variables=%2Fmeasurements%2Freflectance%3Ab03"
    "&variables=%2Fmeasurements%2Freflectance%3Ab02&bidx=1"
)
S2_NDVI = "expression=" + quote(
    f"({REFLECTANCE}:b08-{REFLECTANCE}:b04)/({REFLECTANCE}:b08+{REFLECTANCE}:b04)", safe=""
)


def scene_value(variable: str, lon: float, lat: float) -> float | None:
    """The sample scene (native and GeoZarr layouts): reflectance of a band at a point."""
    (x,), (y,) = warp("EPSG:4326", f"EPSG:{es.EPSG}", [lon], [lat])
    return es.expected_reflectance(variable.rsplit(":", 1)[1], x, y)


def mosaic_value(item_id: str) -> Callable:
    """A mosaic sample product: one reflectance everywhere but its nodata block."""
    item = next(i for i in MOSAIC_ITEMS if i.id == item_id)
    return lambda variable, lon, lat: item.reflectance


@dataclass(frozen=True)
class Sample:
    collection: str
    item: str
    query: str  # the Explorer's rendering of it (a multi-band image)
    bands: int  # bands of that image
    # value of a variable at (lon, lat), a point chosen by `point`; None: the server's
    # /point answer for the same variables is the reference (no independent oracle)
    value: Callable[[str, float, float], float | None] | None
    point: Callable[[], tuple[float, float]]
    variables: tuple[str, ...] = (f"{REFLECTANCE}:b04", f"{REFLECTANCE}:b03", f"{REFLECTANCE}:b02")
    ndvi: str | None = S2_NDVI  # the Explorer's expression form, when the product has it


def block_centre(row: int, col: int) -> Callable[[], tuple[float, float]]:
    def point():
        x = es.X0 + (col + 0.5) * es.BLOCK_M
        y = es.Y0 - (row + 0.5) * es.BLOCK_M
        (lon,), (lat,) = warp(f"EPSG:{es.EPSG}", "EPSG:4326", [x], [y])
        return lon, lat

    return point


def bounds_centre(bounds) -> Callable[[], tuple[float, float]]:
    return lambda: ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)


# One line per sample collection (the readers' S1 GRD RTC, production GeoZarr and codecs
# collections plug in here).
COLLECTIONS = [
    Sample(es.COLLECTION_NATIVE, es.ITEM_ID, S2_TRUE_COLOUR, 3, scene_value, block_centre(1, 1)),
    Sample(es.COLLECTION_GEOZARR, es.ITEM_ID, S2_TRUE_COLOUR, 3, scene_value, block_centre(2, 1)),
    Sample(
        es.COLLECTION_L1C,
        es.L1C_ITEM_ID,
        S2_TRUE_COLOUR,
        3,
        None,
        bounds_centre(es.scene.L1C_BOUNDS_LONLAT),
    ),
    Sample(
        COLLECTION_MOSAIC,
        MOSAIC_ITEMS[0].id,
        S2_TRUE_COLOUR,
        3,
        mosaic_value(MOSAIC_ITEMS[0].id),
        block_centre(1, 1),
    ),
]
IDS = [s.collection for s in COLLECTIONS]


def base(sample: Sample) -> str:
    return f"/collections/{sample.collection}/items/{sample.item}"


def tile_and_pixel(lon: float, lat: float, z: int = 14) -> tuple[morecantile.Tile, int, int]:
    tile = WEB_MERCATOR.tile(lon, lat, z)
    minx, miny, maxx, maxy = WEB_MERCATOR.xy_bounds(tile)
    x, y = WEB_MERCATOR.xy(lon, lat)
    return tile, int((maxy - y) / (maxy - miny) * 256), int((x - minx) / (maxx - minx) * 256)


def tile_path(sample: Sample, tile, ext: str = "png") -> str:
    return f"{base(sample)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.{ext}"


def expected_values(client, sample: Sample, lon: float, lat: float) -> list[float]:
    if sample.value is not None:
        return [sample.value(v, lon, lat) for v in sample.variables]
    point = client.get(
        f"{base(sample)}/point/{lon},{lat}", params=[("variables", v) for v in sample.variables]
    )
    assert point.status_code == 200, point.text
    return point.json()["values"]


RENDERING = ("rescale", "color_formula", "colormap_name", "colormap")


def data_query(query: str) -> str:
    """The query without its rendering options: `.npy` then holds the values read."""
    return urlencode([(k, v) for k, v in parse_qsl(query) if k not in RENDERING])


def npy(response) -> numpy.ndarray:
    assert response.status_code == 200, response.text
    return numpy.load(io.BytesIO(response.content))


@pytest.mark.parametrize("sample", COLLECTIONS, ids=IDS)
def test_xyz_link_is_the_render_with_the_sample_values(client, sample):
    lon, lat = sample.point()
    tile, row, col = tile_and_pixel(lon, lat)
    png = client.get(f"{tile_path(sample, tile)}?{sample.query}")
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    image = decode_image(png.content)
    assert image.shape == (sample.bands + 1, 256, 256)  # the bands + alpha
    assert image[-1, row, col] == 255
    # the same link as data: bidx=1 is the first band of *each* variable, in order
    data = npy(client.get(f"{tile_path(sample, tile, 'npy')}?{data_query(sample.query)}"))
    assert data.shape[0] == sample.bands + 1
    expected = expected_values(client, sample, lon, lat)
    assert list(data[: sample.bands, row, col]) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("sample", COLLECTIONS, ids=IDS)
def test_tilejson_link_points_at_the_same_tiles(client, sample):
    response = client.get(f"{base(sample)}/WebMercatorQuad/tilejson.json?{sample.query}")
    assert response.status_code == 200, response.text
    body = response.json()
    template = body["tiles"][0]
    assert dict(parse_qsl(urlsplit(template).query))["bidx"] == "1"
    lon, lat = sample.point()
    tile, _, _ = tile_and_pixel(lon, lat, max(body["minzoom"], 12))
    url = template.replace("{z}", str(tile.z)).replace("{x}", str(tile.x))
    url = url.replace("{y}", str(tile.y))
    tile_response = client.get("/" + url.split("://", 1)[1].split("/", 1)[1])
    assert tile_response.status_code == 200, tile_response.text
    # TileJSON's default tilesize (512) travels in the template; no format in it: JPEG
    # when the tile needs no mask, else PNG with alpha
    bands, *size = decode_image(tile_response.content).shape
    assert size == [512, 512] and bands in (sample.bands, sample.bands + 1)


@pytest.mark.parametrize("sample", COLLECTIONS, ids=IDS)
def test_viewer_links_answer_the_map(client, sample):
    bare = client.get(f"{base(sample)}/viewer")
    assert bare.status_code == 200, bare.text
    assert "maplibre" in bare.text
    with_query = client.get(f"{base(sample)}/WebMercatorQuad/map.html?{sample.query}")
    assert with_query.status_code == 200, with_query.text
    assert '"initial": "custom"' in with_query.text  # opens with the link's rendering


@pytest.mark.parametrize("sample", COLLECTIONS, ids=IDS)
def test_preview_link_is_the_render(client, sample):
    png = client.get(f"{base(sample)}/preview?format=png&{sample.query}")
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    assert decode_image(png.content).shape[0] == sample.bands + 1
    data = npy(client.get(f"{base(sample)}/preview?format=npy&max_size=64&{sample.query}"))
    assert data.shape[0] == sample.bands + 1


@pytest.mark.parametrize("sample", COLLECTIONS, ids=IDS)
def test_renders_link_lists_renderings_whose_links_answer(client, sample):
    response = client.get(f"{base(sample)}/renders")
    assert response.status_code == 200, response.text
    renders = response.json()["renders"]
    assert renders, "no rendering"
    lon, lat = sample.point()
    tile, _, _ = tile_and_pixel(lon, lat)
    for name, render in renders.items():
        links = {k: v.split("testserver", 1)[1] for k, v in render["links"].items()}
        xyz = links["xyz"].format(z=tile.z, x=tile.x, y=tile.y)
        assert client.get(xyz).status_code == 200, (name, xyz)
        for form in ("tilejson", "viewer", "preview"):
            assert client.get(links[form]).status_code == 200, (name, form)
        assert client.get(f"{base(sample)}/renders/{name}").json() == render


@pytest.mark.parametrize("sample", [s for s in COLLECTIONS if s.ndvi], ids=lambda s: s.collection)
def test_expression_naming_variables_needs_no_variables(client, sample):
    lon, lat = sample.point()
    tile, row, col = tile_and_pixel(lon, lat)
    coloured = client.get(
        f"{tile_path(sample, tile)}?{sample.ndvi}&rescale=-1%2C1&colormap_name=rdylgn"
    )
    assert coloured.status_code == 200, coloured.text
    assert decode_image(coloured.content).shape[0] == 4  # colormapped RGB + alpha
    data = npy(client.get(f"{tile_path(sample, tile, 'npy')}?{sample.ndvi}"))
    assert data.shape[0] == 2  # one band + mask
    if sample.value is not None:
        red = sample.value(f"{REFLECTANCE}:b04", lon, lat)
        nir = sample.value(f"{REFLECTANCE}:b08", lon, lat)
        assert data[0, row, col] == pytest.approx((nir - red) / (nir + red), abs=1e-5)


def test_both_expression_forms_mix_and_assets_is_ignored(client):
    sample = COLLECTIONS[0]
    lon, lat = sample.point()
    tile, row, col = tile_and_pixel(lon, lat)
    query = urlencode(
        [
            ("variables", f"{REFLECTANCE}:b04"),
            ("expression", f"b1*2;{REFLECTANCE}:b08-b1"),
            ("assets", "reflectance"),
        ]
    )
    data = npy(client.get(f"{tile_path(sample, tile, 'npy')}?{query}"))
    red = scene_value(f"{REFLECTANCE}:b04", lon, lat)
    nir = scene_value(f"{REFLECTANCE}:b08", lon, lat)
    assert list(data[:2, row, col]) == pytest.approx([2 * red, nir - red], abs=1e-6)


@pytest.mark.parametrize(
    "sel, date_index",
    [
        ("time%3D2022-01-05T00%3A00%3A00", 1),  # second precision, colons encoded
        ("time%3D2022-01-09T00%3A00%3A00Z", 2),  # a STAC datetime (UTC)
        ("time%3Dnearest%3A%3A2022-01-02T06%3A00%3A00%2B00%3A00", 0),
    ],
)
def test_sel_time_link_by_value(client, sel, date_index):
    sample = COLLECTIONS[1]  # the GeoZarr sample holds a (time, y, x) variable
    lon, lat = block_centre(1, 2)()
    tile, row, col = tile_and_pixel(lon, lat, 12)
    query = f"variables={quote('/measurements/time_series:ndvi', safe='')}&bidx=1&sel={sel}"
    data = npy(client.get(f"{tile_path(sample, tile, 'npy')}?{query}&tilesize=256"))
    assert data[0, row, col] == pytest.approx(es.time_series_value(date_index, 1, 2))
