"""PNG encode benchmark: GDAL's PNG driver against TiTiler-EOPF's libdeflate writer, side by side.

titiler's ``render_image`` (GDAL's PNG driver, zlib level 6) against TiTiler-EOPF's
(tiler/png.py: one "Sub" filter, libdeflate level 6) on the same prepared images, and what it
changes for a whole tile whose data is already read.

The images are tiles of the full-size products (``make bench-data``; the small sample
products when they are missing), taken as the app's ``.npy`` (the bands and the mask before
encoding), in the renders users ask for: true colour (rescaled reflectance), one band grey,
an NDVI expression with a colormap, a tile on the product's edge (mostly transparent).
Every round encodes each image with both, in a new random order (the machine is shared:
its load drifts); CPU time of this process, medians. Pixels are compared, not only timed.

The whole-tile part requests the same tile over and over (the chunk cache holds its blocks:
the floor of a neighbour's MISS) from two apps in one process, one with titiler's encoder,
interleaved.

    .venv/bin/python -m bench.bench_encode [--rounds 40]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import morecantile
import numpy
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile
from rio_tiler.models import ImageData
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image as titiler_render_image

from eopf_sample import fullsize
from titiler_eopf.cache.settings import CacheSettings
from titiler_eopf.main import create_app
from titiler_eopf.tiler import factory
from titiler_eopf.tiler.png import render_image as our_render_image
from titiler_eopf.tiler.settings import TilerSettings

REFLECTANCE = "/measurements/reflectance"
NDVI = f"({REFLECTANCE}:b08-{REFLECTANCE}:b04)/({REFLECTANCE}:b08+{REFLECTANCE}:b04)"
# name -> (query of the tile, render options, zoom, where: "centre" or "edge")
RENDERS = {
    "true colour z14": (
        [("variables", f"{REFLECTANCE}:{b}") for b in ("b04", "b03", "b02")],
        {"rescale": [(0, 0.4)] * 3},
        14,
        "centre",
    ),
    "true colour z12 edge": (
        [("variables", f"{REFLECTANCE}:{b}") for b in ("b04", "b03", "b02")],
        {"rescale": [(0, 0.4)] * 3},
        12,
        "edge",
    ),
    "grey b08 z13": ([("variables", f"{REFLECTANCE}:b08")], {"rescale": [(0, 0.5)]}, 13, "centre"),
    "NDVI + colormap z13": (
        [("expression", NDVI)],
        {"rescale": [(-1, 1)], "colormap": "rdylgn"},
        13,
        "centre",
    ),
}


def store_and_item() -> tuple[str, str, str, str]:
    """(store, collection, item, what): the full-size L2A product, else the sample."""
    out = fullsize.default_out_dir()
    product = fullsize.PRODUCTS["l2a-native"]
    path = out / product.collection / f"{product.item_id}.zarr"
    if path.exists():
        return str(out), product.collection, product.item_id, "full-size L2A native (10980 x 10980)"
    from eopf_sample import COLLECTION_NATIVE, ITEM_ID, write_samples

    tmp = Path(tempfile.mkdtemp(prefix="bench-encode-"))
    write_samples(tmp)
    return str(tmp), COLLECTION_NATIVE, ITEM_ID, "sample L2A native (no bench data)"


def tile_url(client, base: str, query, zoom: int, where: str) -> str:
    bounds = client.get(f"{base}/WebMercatorQuad/tilejson.json", params=query).json()["bounds"]
    west, south, east, north = bounds
    lon = west + 0.002 if where == "edge" else (west + east) / 2
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, (south + north) / 2, zoom)
    return f"{base}/tiles/WebMercatorQuad/{zoom}/{tile.x}/{tile.y}"


def prepared_image(client, url: str, query) -> ImageData:
    """The tile's bands and mask before encoding (the app's .npy: bands, then the mask)."""
    response = client.get(f"{url}.npy", params=query)
    assert response.status_code == 200, response.text
    stacked = numpy.load(io.BytesIO(response.content))
    data, mask = stacked[:-1], stacked[-1] > 0
    return ImageData(numpy.ma.MaskedArray(data, mask=numpy.repeat(~mask[None], len(data), 0)))


def pixels(content: bytes) -> numpy.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with MemoryFile(content) as mem, mem.open() as ds:
            return ds.read()


def cpu_ms(fn) -> tuple[float, bytes]:
    started = time.process_time()
    out = fn()
    return (time.process_time() - started) * 1000, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    from rio_tiler.colormap import cmap

    store, collection, item, what = store_and_item()
    settings = TilerSettings(store_url=store)
    ours_app = TestClient(create_app(settings, CacheSettings(backend="none")))
    base = f"/collections/{collection}/items/{item}"

    jobs = {}
    for name, (query, options, zoom, where) in RENDERS.items():
        url = tile_url(ours_app, base, query, zoom, where)
        options = dict(options, output_format=ImageType.png)
        if "colormap" in options:
            options["colormap"] = cmap.get(options["colormap"])
        # the same render asked of the app: the options as query parameters
        rendered = query + [("rescale", ",".join(map(str, r))) for r in options["rescale"]]
        if "colormap" in options:
            rendered.append(("colormap_name", RENDERS[name][1]["colormap"]))
        jobs[name] = (prepared_image(ours_app, url, query), options, url, rendered)

    encoders = {
        "titiler (GDAL)": titiler_render_image,
        "TiTiler-EOPF (libdeflate)": our_render_image,
    }
    times = {(n, e): [] for n in jobs for e in encoders}
    sizes, same = {}, {}
    rng = random.Random(17)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.rounds):
            order = [(n, e) for n in jobs for e in encoders]
            rng.shuffle(order)
            outputs = {}
            for n, e in order:
                image, options, _, _ = jobs[n]
                copy = ImageData(image.array.copy())  # render_image rescales in place
                ms, (content, _) = cpu_ms(lambda: encoders[e](copy, **options))  # noqa: B023
                times[(n, e)].append(ms)
                outputs[(n, e)] = content
            for n in jobs:
                a, b = (outputs[(n, e)] for e in encoders)
                sizes[n] = (len(a), len(b))
                same[n] = bool(numpy.array_equal(pixels(a), pixels(b)))

    print(f"{what}; {args.rounds} rounds, CPU ms per encode (medians), 256 x 256 tiles")
    print(
        f"{'render':24} {'GDAL ms':>8} {'ours ms':>8} {'speed-up':>9} {'GDAL B':>8} {'ours B':>8} "
        f"{'size':>6}  same pixels"
    )
    for n in jobs:
        g, o = (statistics.median(times[(n, e)]) for e in encoders)
        gb, ob = sizes[n]
        print(f"{n:24} {g:8.2f} {o:8.2f} {g / o:8.1f}x {gb:8d} {ob:8d} {ob / gb:6.3f}  {same[n]}")

    # Whole tiles whose blocks are cached: the same request again and again, two apps.
    original = factory.render_image
    factory.render_image = titiler_render_image
    try:
        gdal_app = TestClient(create_app(settings, CacheSettings(backend="none")))
        gdal_app.get("/tileMatrixSets")  # built now, with titiler's encoder
        gdal_app.get(f"{base}/WebMercatorQuad/tilejson.json", params=jobs["true colour z14"][3])
    finally:
        factory.render_image = original
    apps = {"titiler (GDAL)": gdal_app, "TiTiler-EOPF (libdeflate)": ours_app}
    print()
    print(
        "A tile whose data is cached (the floor of a neighbour's MISS): "
        "wall and CPU ms per tile, medians"
    )
    print(
        f"{'render':24} {'GDAL ms':>8} {'ours ms':>8} {'GDAL CPU':>9} {'ours CPU':>9} "
        f"{'ours/GDAL':>10}"
    )
    for n, (_, _, url, query) in jobs.items():
        samples = {e: ([], []) for e in apps}
        for client in apps.values():
            client.get(f"{url}.png", params=query)  # the blocks into the chunk cache
        for _ in range(max(args.rounds // 2, 5)):
            order = list(apps)
            rng.shuffle(order)
            for e in order:
                wall, cpu = time.perf_counter(), time.process_time()
                response = apps[e].get(f"{url}.png", params=query)
                assert response.status_code == 200, response.text
                samples[e][0].append((time.perf_counter() - wall) * 1000)
                samples[e][1].append((time.process_time() - cpu) * 1000)
        (gw, gc), (ow, oc) = ((statistics.median(s) for s in samples[e]) for e in apps)
        print(f"{n:24} {gw:8.1f} {ow:8.1f} {gc:9.1f} {oc:9.1f} {ow / gw:10.2f}")


if __name__ == "__main__":
    main()
