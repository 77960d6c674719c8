"""Rendered pixels against values computed from the sample scene."""

from __future__ import annotations

import morecantile
import numpy
import pytest
from rasterio.warp import transform as warp

from eopf_sample import (
    BOUNDS,
    COLLECTION_GEOZARR,
    COLLECTION_NATIVE,
    EPSG,
    ITEM_ID,
    block_of,
    expected_reflectance,
)
from tests.support.tiler import RGB, decode_image, item_path, variables_query
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.reader import EOPFReader

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
BANDS = ["b04", "b03", "b02"]


def tile_over(x_utm: float, y_utm: float, z: int) -> morecantile.Tile:
    (lon,), (lat,) = warp(f"EPSG:{EPSG}", "EPSG:4326", [x_utm], [y_utm])
    return WEB_MERCATOR.tile(lon, lat, z)


def pixel_centres_utm(tile: morecantile.Tile, size: int = 256):
    """UTM coordinates of every pixel centre of a tile (rows, cols)."""
    minx, miny, maxx, maxy = WEB_MERCATOR.xy_bounds(tile)
    res = (maxx - minx) / size
    cols, rows = numpy.meshgrid(numpy.arange(size), numpy.arange(size))
    xs = minx + (cols + 0.5) * res
    ys = maxy - (rows + 0.5) * res
    ux, uy = warp("EPSG:3857", f"EPSG:{EPSG}", xs.ravel().tolist(), ys.ravel().tolist())
    return numpy.array(ux).reshape(size, size), numpy.array(uy).reshape(size, size)


def safe_pixels(ux, uy, margin: float):
    """Pixels whose neighbourhood (+-margin metres) lies in one block: resampling-proof."""
    keep = []
    for row in range(0, ux.shape[0], 7):
        for col in range(0, ux.shape[1], 7):
            x, y = ux[row, col], uy[row, col]
            blocks = {
                block_of(x + dx, y + dy) for dx in (-margin, margin) for dy in (-margin, margin)
            }
            if len(blocks) == 1:
                keep.append((row, col, blocks.pop()))
    return keep


@pytest.mark.parametrize("collection", [COLLECTION_NATIVE, COLLECTION_GEOZARR])
@pytest.mark.parametrize("z", [11, 14])
def test_rgb_tile_pixels_match_the_scene(client, collection, z):
    # A tile over the middle of the scene, straddling several blocks at z11.
    tile = tile_over(BOUNDS[0] + 7200, BOUNDS[3] - 7200, z)
    response = client.get(
        f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
        params=variables_query() + [("rescale", "0,1")],
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = decode_image(response.content)
    assert image.shape == (4, 256, 256)  # RGB + alpha

    ux, uy = pixel_centres_utm(tile)
    checked = 0
    for row, col, block in safe_pixels(ux, uy, margin=200):
        x, y = ux[row, col], uy[row, col]
        if block is None:  # outside the scene or the nodata block: transparent
            assert image[3, row, col] == 0, (row, col)
            continue
        expected = [expected_reflectance(b, x, y) for b in BANDS]
        if expected[0] is None:
            assert image[3, row, col] == 0, (row, col)
            continue
        rgb = image[:3, row, col].astype(int)
        want = [int(numpy.clip(v, 0, 1) * 255) for v in expected]
        assert numpy.abs(rgb - want).max() <= 1, (row, col, rgb, want)
        assert image[3, row, col] == 255
        checked += 1
    assert checked > 20


def test_nodata_block_is_transparent(client, collection):
    # Block (4, 4) is nodata in every band: its centre must be transparent.
    x = BOUNDS[0] + 2880 * 4.5
    y = BOUNDS[3] - 2880 * 4.5
    tile = tile_over(x, y, 15)
    response = client.get(
        f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
        params=variables_query() + [("rescale", "0,1")],
    )
    assert response.status_code == 200
    image = decode_image(response.content)
    assert (image[3] == 0).all()


@pytest.mark.parametrize("z", [9, 11, 13, 15])
def test_native_and_geozarr_render_the_same_tile(client, z):
    tile = tile_over(BOUNDS[0] + 5000, BOUNDS[3] - 9000, z)
    renders = []
    for collection in (COLLECTION_NATIVE, COLLECTION_GEOZARR):
        response = client.get(
            f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
            params=variables_query() + [("rescale", "0,1")],
        )
        assert response.status_code == 200
        renders.append(decode_image(response.content).astype(int))
    native, geozarr = renders
    assert (native[3] == geozarr[3]).mean() > 0.99  # same footprint
    both = (native[3] == 255) & (geozarr[3] == 255)
    assert both.sum() > 100
    assert numpy.abs(native[:3, both] - geozarr[:3, both]).max() <= 1


def test_production_true_colour_url(client, collection):
    tile = tile_over(BOUNDS[0] + 7200, BOUNDS[3] - 7200, 12)
    url = (
        f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
        "?variables=/measurements/reflectance:b04&variables=/measurements/reflectance:b03"
        "&variables=/measurements/reflectance:b02&rescale=0,1"
        "&color_formula=gamma rgb 1.3, sigmoidal rgb 6 0.1, saturation 1.2"
    )
    response = client.get(url)
    assert response.status_code == 200, response.text
    image = decode_image(response.content)
    plain = decode_image(client.get(url.split("&color_formula")[0]).content)
    # The colour formula changes the colours, not the footprint.
    assert (image[3] == plain[3]).all()
    assert (image[:3] != plain[:3]).any()


def test_band_order_follows_variables(client, collection):
    tile = tile_over(BOUNDS[0] + 1400, BOUNDS[3] - 1400, 14)  # block (0, 0)
    path = f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    forward = client.get(path, params=variables_query(RGB))
    backward = client.get(path, params=variables_query(RGB[::-1]))
    a = numpy.load(__import__("io").BytesIO(forward.content))
    b = numpy.load(__import__("io").BytesIO(backward.content))
    centre = (slice(None), 128, 128)
    # block (0,0): b04=2000 -> 0.1, b03=3000 -> 0.2, b02=4000 -> 0.3
    assert numpy.allclose(a[:3][centre], [0.1, 0.2, 0.3], atol=1e-6)
    assert numpy.allclose(b[:3][centre], [0.3, 0.2, 0.1], atol=1e-6)


# -- level choice ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def catalog(tiler_settings):
    return Catalog(tiler_settings)


@pytest.mark.parametrize(
    "collection,z,expected",
    [
        (COLLECTION_NATIVE, 16, "r10m"),
        (COLLECTION_NATIVE, 13, "r10m"),
        (COLLECTION_NATIVE, 12, "r20m"),
        (COLLECTION_NATIVE, 8, "r60m"),
        (COLLECTION_GEOZARR, 16, "r10m"),
        (COLLECTION_GEOZARR, 12, "r20m"),
        (COLLECTION_GEOZARR, 10, "r60m"),
        (COLLECTION_GEOZARR, 9, "r120m"),
        (COLLECTION_GEOZARR, 8, "r360m"),
        (COLLECTION_GEOZARR, 6, "r720m"),
    ],
)
def test_level_is_the_coarsest_fine_enough(catalog, collection, z, expected):
    product = catalog.open(collection, ITEM_ID)
    reader = EOPFReader(product, variables=RGB)
    tile = tile_over(BOUNDS[0] + 7200, BOUNDS[3] - 7200, z)
    levels = reader.tile_levels(tile.x, tile.y, tile.z, tilesize=256)
    assert levels == [expected] * 3
    # and the level really is fine enough: its pixel is not coarser than the tile's
    minx, _, maxx, _ = WEB_MERCATOR.xy_bounds(tile)
    chosen = next(lv for lv in reader.reference.levels if lv.name == expected)
    finer = [lv for lv in reader.reference.levels if lv.resolution < chosen.resolution]
    assert (
        chosen.resolution
        <= reader._target_resolution(
            WEB_MERCATOR.xy_bounds(tile), WEB_MERCATOR.rasterio_crs, 256, 256
        )
        * 1.0001
        or not finer
    )


def test_band_missing_from_a_level_is_read_where_it_exists(client, catalog):
    # Native layout: b08 exists only at r10m; at z8 b04 comes from r60m.
    product = catalog.open(COLLECTION_NATIVE, ITEM_ID)
    variables = ["/measurements/reflectance:b04", "/measurements/reflectance:b08"]
    reader = EOPFReader(product, variables=variables)
    tile = tile_over(BOUNDS[0] + 1400, BOUNDS[3] - 1400, 8)
    assert reader.tile_levels(tile.x, tile.y, tile.z, tilesize=256) == ["r60m", "r10m"]
    tile = tile_over(BOUNDS[0] + 1400, BOUNDS[3] - 1400, 14)
    response = client.get(
        f"{item_path(COLLECTION_NATIVE)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy",
        params=variables_query(variables),
    )
    assert response.status_code == 200
    data = numpy.load(__import__("io").BytesIO(response.content))
    # block (0,0): b04 2000 -> 0.1, b08 5000 -> 0.4
    assert numpy.allclose(data[:2, 128, 128], [0.1, 0.4], atol=1e-6)


def test_explicit_level_group(client, collection):
    tile = tile_over(BOUNDS[0] + 1400, BOUNDS[3] - 1400, 14)
    response = client.get(
        f"{item_path(collection)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy",
        params=[("variables", "/measurements/reflectance/r20m:b05")],
    )
    assert response.status_code == 200, response.text
    data = numpy.load(__import__("io").BytesIO(response.content))
    assert numpy.isclose(data[0, 128, 128], 1500 * 1e-4 - 0.1, atol=1e-6)


def test_a_tile_reads_only_the_chunks_under_it(sample_store, tmp_path):
    """Full-resolution bands are never read whole: a tile in the north-west
    corner renders even when the r10m chunks elsewhere are unreadable."""
    import shutil

    from fastapi.testclient import TestClient

    from titiler_eopf.tiler.app import create_tiler_app
    from titiler_eopf.tiler.settings import TilerSettings

    shutil.copytree(sample_store / COLLECTION_NATIVE, tmp_path / COLLECTION_NATIVE)
    r10m = tmp_path / COLLECTION_NATIVE / f"{ITEM_ID}.zarr" / "measurements/reflectance/r10m"
    for band in BANDS:  # chunks are 720 x 720: keep only the north-west one ("0.0")
        for chunk in ("0.1", "1.0", "1.1"):
            (r10m / band / chunk).write_bytes(b"garbage")
    client = TestClient(create_tiler_app(TilerSettings(store_url=str(tmp_path))))
    tile = tile_over(BOUNDS[0] + 1000, BOUNDS[3] - 1000, 15)
    path = f"{item_path(COLLECTION_NATIVE)}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    response = client.get(path, params=variables_query() + [("rescale", "0,1")])
    assert response.status_code == 200, response.text
    point = client.get(
        f"{item_path(COLLECTION_NATIVE)}/point/"
        f"{WEB_MERCATOR.ul(tile).x + 0.0001},{WEB_MERCATOR.ul(tile).y - 0.0001}",
        params=variables_query(),
    )
    assert point.status_code == 200, point.text
    # and the damage is real: a tile over the south-east is a clear 502
    far = tile_over(BOUNDS[2] - 5000, BOUNDS[1] + 5000, 15)
    broken = client.get(
        f"{item_path(COLLECTION_NATIVE)}/tiles/WebMercatorQuad/{far.z}/{far.x}/{far.y}.png",
        params=variables_query() + [("rescale", "0,1")],
    )
    assert broken.status_code == 502
