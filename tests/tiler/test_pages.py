"""Pages for people, without a browser: the landing page lists the store, the viewer
and /docs reference only the app's own assets, which the app serves."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from eopf_sample import COLLECTION_NATIVE, ITEM_ID
from tests.support.tiler import item_path
from titiler_eopf.tiler import assets, listing
from titiler_eopf.tiler.settings import TilerSettings

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
needs_npm = pytest.mark.skipif(
    not (NODE_MODULES / "maplibre-gl").is_dir(), reason="npm packages not installed: make tools"
)


def external_urls(html: str) -> list[str]:
    return [
        u
        for u in re.findall(r"""(?:src|href)=["']([^"']+)""", html)
        if u.startswith(("http:", "https:", "//"))
        and "127.0.0.1" not in u
        and "testserver" not in u
    ]


def test_landing_page_lists_collections_and_items(client):
    response = client.get("/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    html = response.text
    for collection in (
        "sentinel-2-l2a",
        "sentinel-2-l2a-geozarr",
        "sentinel-2-l1c",
        "sentinel-1-l1-grd",
    ):
        assert f'<h2 class="collection">{collection}</h2>' in html
    base = f"/collections/{COLLECTION_NATIVE}/items/{ITEM_ID}"
    assert f'href="{base}/map"' in html and f'href="{base}/info"' in html
    tilejson = re.search(
        rf'href="({re.escape(base)}/WebMercatorQuad/tilejson.json\?[^"]+)"', html
    ).group(1)
    assert client.get(tilejson.replace("&amp;", "&")).status_code == 200
    assert "/cache/status" in html
    assert external_urls(html) == []


def test_map_viewer_uses_presets_and_the_apps_own_maplibre(client):
    html = client.get(f"{item_path(COLLECTION_NATIVE)}/map").text
    assert "/_vendor/maplibre-gl/maplibre-gl.js" in html and external_urls(html) == []
    assert '"initial": "true-colour"' in html and '"name": "ndvi"' in html
    html = client.get(f"{item_path(COLLECTION_NATIVE)}/map", params={"preset": "false-colour"}).text
    assert '"initial": "false-colour"' in html


def test_map_viewer_errors(client):
    response = client.get(f"{item_path(COLLECTION_NATIVE)}/map", params={"preset": "infrared"})
    assert response.status_code == 400
    assert (
        "unknown preset 'infrared'; expected one of: true-colour, false-colour, ndvi"
        in response.json()["detail"]
    )
    s1 = (
        "/collections/sentinel-1-l1-grd/items/"
        "S1A_IW_GRDH_1SDV_20241124T180254_20241124T180319_056700_06F516_BA27/map"
    )
    response = client.get(s1)
    assert (
        response.status_code == 400
        and "none of the bands of the viewer's presets" in response.json()["detail"]
    )


def test_docs_reference_only_local_assets(client):
    html = client.get("/docs").text
    assert "/_vendor/swagger-ui-dist/swagger-ui-bundle.js" in html and "/openapi.json" in html
    assert external_urls(html) == []
    assert client.get("/redoc").status_code == 404  # redoc would load from a CDN


def test_unlisted_asset_is_a_404_naming_the_assets(client):
    response = client.get("/_vendor/maplibre-gl/package.json")
    assert response.status_code == 404
    assert "maplibre-gl/maplibre-gl.js" in response.json()["detail"]


@needs_npm
def test_assets_served_from_node_modules(client):
    response = client.get("/_vendor/maplibre-gl/maplibre-gl.js")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/javascript"
    )
    assert response.content == (NODE_MODULES / "maplibre-gl/dist/maplibre-gl.js").read_bytes()
    assert (
        client.get("/_vendor/swagger-ui-dist/swagger-ui.css")
        .headers["content-type"]
        .startswith("text/css")
    )


@needs_npm
def test_bundle_copy_is_compressed_and_served_the_same(tmp_path, monkeypatch):
    from infrastructure.bundling import copy_vendor_assets

    copy_vendor_assets(tmp_path)
    for package, names in assets.VENDOR_FILES.items():
        for name, source in names.items():
            packed = tmp_path / assets.VENDOR_DIR_NAME / package / f"{name}.gz"
            assert (
                gzip.decompress(packed.read_bytes())
                == (NODE_MODULES / package / source).read_bytes()
            )
    monkeypatch.setattr(assets, "_TASK_ROOT", tmp_path / "elsewhere" / "task")
    monkeypatch.setattr(assets, "_roots", lambda: [(tmp_path / assets.VENDOR_DIR_NAME, True)])
    assets.read_asset.cache_clear()
    try:
        body = assets.read_asset("maplibre-gl", "maplibre-gl.js")
    finally:
        assets.read_asset.cache_clear()
    assert body == (NODE_MODULES / "maplibre-gl/dist/maplibre-gl.js").read_bytes()


def test_listing_is_bounded(tmp_path, monkeypatch):
    for c in range(3):
        for i in range(4):
            (tmp_path / f"c{c}" / f"item{i}.zarr").mkdir(parents=True)
    (tmp_path / "c0" / "notes.txt").write_text("not an item")
    monkeypatch.setattr(listing, "MAX_COLLECTIONS", 2)
    monkeypatch.setattr(listing, "MAX_ITEMS", 3)
    result = listing.list_store(TilerSettings(store_url=str(tmp_path)))
    assert [c.id for c in result.collections] == ["c0", "c1"] and result.truncated
    assert (
        result.collections[0].items == ["item0", "item1", "item2"]
        and result.collections[0].truncated
    )


def test_listing_of_an_s3_store(moto_server, monkeypatch):
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="listing")
    for key in (
        "eopf/s2/a.zarr/zarr.json",
        "eopf/s2/b.zarr/zarr.json",
        "eopf/s1/c.zarr/.zmetadata",
        "eopf/readme.txt",
    ):
        s3.put_object(Bucket="listing", Key=key, Body=b"{}")
    settings = TilerSettings(
        store_url="s3://listing/eopf",
        store_endpoint_url=moto_server,
        store_allow_http=True,
        store_region="us-east-1",
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = listing.list_store(settings)
    assert result.note is None, result.note
    assert {c.id: c.items for c in result.collections} == {"s1": ["c"], "s2": ["a", "b"]}


def test_https_store_says_it_cannot_be_listed():
    result = listing.list_store(TilerSettings(store_url="https://example.invalid/eopf"))
    assert result.collections == [] and "https:// stores cannot be listed" in result.note
