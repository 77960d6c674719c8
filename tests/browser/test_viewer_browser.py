"""The landing page, the map viewer and /docs in a real browser (Debian's chromium,
driven by playwright with ``executable_path``; no browser is downloaded).

The app runs as a uvicorn server with a Redis cache; every request the pages make
to another host is blocked and recorded, so a page that needs the internet fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from playwright import sync_api as playwright_api

from eopf_sample import ITEM_ID
from tests.support.servers import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BACKGROUND = (0xE4, 0xE8, 0xEE)  # the viewer's background colour (no basemap: offline)

if not os.path.exists(CHROMIUM):
    pytest.skip(
        "Debian's chromium is not installed (make tools installs it)", allow_module_level=True
    )
if not (ROOT / "node_modules" / "maplibre-gl" / "dist" / "maplibre-gl.js").is_file():
    pytest.skip("MapLibre GL is not installed: make tools (npm ci)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(sample_store, redis_server, tmp_path_factory):
    import redis

    redis.Redis(port=redis_server.port).flushall()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TITILER_EOPF_")} | {
        "TITILER_EOPF_STORE_URL": str(sample_store),
        "TITILER_EOPF_CACHE_BACKEND": "redis",
        "TITILER_EOPF_CACHE_REDIS_HOST": "127.0.0.1",
        "TITILER_EOPF_CACHE_REDIS_PORT": str(redis_server.port),
        "TITILER_EOPF_CACHE_NAMESPACE": "browser",
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": "0.5",
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": "1",
    }
    log = open(tmp_path_factory.mktemp("browser") / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "titiler_eopf", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
        )
        yield browser
        browser.close()


class Page:
    """A page whose console errors and off-host requests are recorded."""

    def __init__(self, browser, base: str):
        self.context = browser.new_context(viewport={"width": 1000, "height": 700})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        # Tiles in the corners of a product's lon/lat bounds but outside its (rotated UTM)
        # footprint are answered 404 + X-Tile-Empty, as the API says; the browser logs every
        # 4xx of a fetch as "Failed to load resource". Those, and only those, are not errors.
        self.empty_tiles: set[str] = set()
        self.page.on(
            "response",
            lambda r: (
                self.empty_tiles.add(r.url)
                if r.status == 404 and r.headers.get("x-tile-empty")
                else None
            ),
        )

        def console(message):
            if message.type != "error":
                return
            if (
                message.text.startswith("Failed to load resource")
                and message.location.get("url") in self.empty_tiles
            ):
                return
            self.errors.append(f"{message.text} ({message.location.get('url')})")

        self.page.on("console", console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(r):
            if r.request.url.startswith(base) or r.request.url.startswith(("data:", "blob:")):
                return r.continue_()
            self.outside.append(r.request.url)
            return r.abort()

        self.context.route("**/*", route)

    def close(self):
        self.context.close()


@pytest.fixture
def page(browser, server):
    p = Page(browser, server)
    yield p
    p.close()


def tile_stats(page) -> dict:
    return page.evaluate("() => ({...window.tileStats})")


def wait_for_tiles(page, timeout=30_000):
    page.wait_for_function(
        "() => window.eopfMap && window.eopfMap.getSource('eopf')"
        " && window.eopfMap.areTilesLoaded()"
        " && Object.values(window.tileStats).reduce((a, b) => a + b, 0) > 0",
        timeout=timeout,
    )
    page.wait_for_timeout(300)  # the last tiles drawn


def map_pixels(page) -> numpy.ndarray:
    from rasterio.io import MemoryFile

    png = page.locator("#map").screenshot()
    with MemoryFile(png) as mem, mem.open() as ds:
        return ds.read()[:3]


def test_landing_page_lists_the_sample_products(page, server):
    page.page.goto(server + "/")
    rows = page.page.locator("tr.item-row")
    assert rows.count() >= 4
    collections = page.page.locator("h2.collection").all_inner_texts()
    assert {"sentinel-2-l2a", "sentinel-2-l2a-geozarr", "sentinel-2-l1c"} <= set(collections)
    assert ITEM_ID in page.page.content()
    page.page.wait_for_function(
        "() => !document.getElementById('cache-status').textContent.startsWith('loading')"
    )
    assert "backend redis" in page.page.locator("#cache-status").inner_text()
    href = page.page.locator("a.map-link").first.get_attribute("href")
    assert href.startswith("/collections/") and href.endswith("/map")
    assert page.errors == [] and page.outside == []


def test_map_draws_tiles_offline_and_reload_hits(page, server):
    url = f"{server}/collections/sentinel-2-l2a/items/{ITEM_ID}/map"
    page.page.goto(url)
    wait_for_tiles(page.page)
    first = tile_stats(page.page)
    assert first.get("MISS", 0) >= 1, first
    pixels = map_pixels(page.page)
    background = numpy.all(pixels == numpy.array(BACKGROUND)[:, None, None], axis=0)
    drawn = 1 - background.mean()
    assert drawn > 0.2, f"only {drawn:.0%} of the map area differs from the background"

    page.page.reload()
    wait_for_tiles(page.page)
    again = tile_stats(page.page)
    assert again.get("HIT", 0) >= 1, again
    assert again.get("FAILED", 0) == 0 and first.get("FAILED", 0) == 0
    assert page.page.locator("#stat-HIT").inner_text() == str(again["HIT"])
    assert page.errors == [], page.errors
    assert page.outside == [], page.outside


def test_presets_and_controls(page, server):
    page.page.goto(f"{server}/collections/sentinel-2-l2a-geozarr/items/{ITEM_ID}/map?preset=ndvi")
    wait_for_tiles(page.page)
    assert page.page.locator("#preset").input_value() == "ndvi"
    assert page.page.locator("#colormap_name").input_value() == "rdylgn"
    tiles = page.page.evaluate("() => window.eopfMap.getSource('eopf').tiles[0]")
    assert "expression=" in tiles and "colormap_name=rdylgn" in tiles
    page.page.select_option("#preset", "false-colour")
    page.page.fill("#rescale", "0,0.5")
    page.page.click("#apply")
    page.page.wait_for_function(
        "() => { const s = window.eopfMap.getSource('eopf');"
        " return s && s.tiles && s.tiles[0].includes('rescale=0%2C0.5'); }"
    )
    wait_for_tiles(page.page)
    assert "b08" in page.page.evaluate("() => window.eopfMap.getSource('eopf').tiles[0]")
    assert page.errors == [] and page.outside == []


def test_docs_load_offline(page, server):
    page.page.goto(server + "/docs")
    page.page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "TiTiler-EOPF" in page.page.locator(".swagger-ui .info .title").inner_text()
    assert page.errors == [] and page.outside == []
