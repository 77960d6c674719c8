"""Full-size bench products: the real structures, predictable values (one slow smoke test)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from eopf_sample import fullsize


def test_structures_match_the_real_dumps():
    """Every reflectance array keeps the real shape, chunks and codecs (L1C GeoZarr derived)."""
    l1c = fullsize.reflectance_node(fullsize.load_structure("l1c-native"))["members"]
    assert sorted(l1c["r10m"]["members"]) == ["b02", "b03", "b04", "b08", "x", "y"]
    assert l1c["r10m"]["members"]["b04"]["chunks"] == [1830, 1830]
    l2a = fullsize.reflectance_node(fullsize.load_structure("l2a-native"))["members"]
    assert l2a["r10m"]["members"]["b04"]["chunks"] == [5490, 5490]
    derived = fullsize.reflectance_node(fullsize.load_structure("l1c-geozarr"))
    levels = derived["members"]
    assert [e["asset"] for e in derived["attributes"]["multiscales"]["layout"]] == [
        "r10m",
        "r20m",
        "r60m",
        "r120m",
        "r360m",
        "r720m",
    ]
    # bands only where they exist: r20m has no 60 m band, r60m and coarser have all 13
    assert "b01" not in levels["r20m"]["members"] and "b04" in levels["r20m"]["members"]
    assert {"b01", "b10", "b04"} <= set(levels["r60m"]["members"])
    geozarr = fullsize.reflectance_node(fullsize.load_structure("l2a-geozarr"))["members"]
    assert levels["r10m"]["members"]["b04"]["codecs"] == geozarr["r10m"]["members"]["b04"]["codecs"]
    assert levels["r10m"]["members"]["b04"]["attributes"]["proj:transform"][2] == 300000.0


@pytest.mark.slow
def test_full_shape_product_reads_back_as_predicted(tmp_path):
    """A reduced full-shape product (b04 only) read back through zarr, as the tiler reads it."""
    for name in ("l1c-native", "l1c-geozarr"):
        dest = tmp_path / name
        levels = {"r10m"} if name == "l1c-native" else {"r20m"}
        fullsize.write_product(name, dest, bands={"b04"}, levels=levels, log=None)
        root = zarr.open_group(str(dest), mode="r")
        level = sorted(levels)[0]
        array = root[f"measurements/reflectance/{level}/b04"]
        real = fullsize.reflectance_node(fullsize.load_structure(name))["members"][level][
            "members"
        ]["b04"]
        assert list(array.shape) == real["shape"]
        for row, col in [(0, 0), (1829, 1830), (3000, 4000), (5000, 10)]:
            got = array[row, col]
            if name == "l1c-native":
                assert int(got) == fullsize.expected_dn(name, level, "b04", row, col)
            else:
                assert float(got) == fullsize.expected_reflectance(name, level, "b04", row, col)
        # the south-east corner is nodata; consolidated metadata lists every array
        assert (array[-1, -1] == 0) if name == "l1c-native" else np.isnan(array[-1, -1])
        meta = "zarr.json" if name.endswith("geozarr") else ".zmetadata"
        assert "b12" in json.dumps(json.loads((dest / meta).read_text()))


@pytest.mark.slow
def test_full_shape_band_without_coarse_level_renders_at_minzoom(tmp_path):
    """L1C native b04 (10980 x 10980, only at r10m): TileJSON's minzoom tile renders, read chunk
    by chunk within the default budget; a budget too small for it is a 400 naming a zoom."""
    import morecantile
    from fastapi.testclient import TestClient
    from rasterio.warp import transform

    from titiler_eopf.tiler.app import create_tiler_app
    from titiler_eopf.tiler.settings import TilerSettings

    product = fullsize.PRODUCTS["l1c-native"]
    fullsize.write_product(
        "l1c-native",
        fullsize.product_path(tmp_path, "l1c-native"),
        bands={"b04"},
        levels={"r10m"},
        log=None,
    )
    base = f"/collections/{product.collection}/items/{product.item_id}"
    params = [("variables", "/measurements/reflectance:b04"), ("rescale", "0,0.4")]
    client = TestClient(create_tiler_app(TilerSettings(store_url=str(tmp_path))))
    minzoom = client.get(f"{base}/WebMercatorQuad/tilejson.json", params=params).json()["minzoom"]
    x0, y0, extent = fullsize.grid("l1c-native")
    (lon,), (lat,) = transform("EPSG:32632", "EPSG:4326", [x0 + extent / 2], [y0 - extent / 2])
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, minzoom)
    path = f"{base}/tiles/WebMercatorQuad/{minzoom}/{tile.x}/{tile.y}.npy"
    response = client.get(path, params=params[:1])
    assert response.status_code == 200, response.text
    data = np.load(__import__("io").BytesIO(response.content))
    assert np.isfinite(data[0][data[-1] > 0]).all() and (data[-1] > 0).sum() > 1000
    small = TestClient(
        create_tiler_app(TilerSettings(store_url=str(tmp_path), read_max_pixels=50_000_000))
    )
    refused = small.get(path, params=params)
    assert refused.status_code == 400
    assert "fit from zoom" in refused.json()["detail"]
