"""The code of the fresh processes of bench_fullsize.py (one cold container each).

``CHILD`` serves TileJSON, a first tile, its three neighbours and a HIT through the app (modes
``ours`` and ``whole``: sub-chunk reads off) or the same tiles through stock titiler.xarray
(``stock``); ``OPEN_CHILD`` opens a product cold, with or without the shared metadata tier.
Each prints one ``RESULT {json}`` line.
"""

CHILD = r"""
import json, resource, sys, time
args = json.loads(sys.argv[1])
from tests.support.loopback import remote_reset, remote_stats

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def measure(fn):
    remote_reset(args["store"])
    started, cpu = time.perf_counter(), time.process_time()
    status, extra = fn()
    ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu) * 1000  # every thread of the process
    stats = remote_stats(args["store"])
    return {"ms": ms, "cpu_ms": cpu_ms, "status": status, "requests": stats["requests"],
            "bytes": stats["bytes"], "rss_mb": rss_mb(), **extra}

out = {"rss_start_mb": rss_mb()}
if args["mode"] == "whole":  # TiTiler-EOPF with the sub-chunk path off: whole chunks
    from titiler_eopf.tiler import blosc_ranges
    blosc_ranges.eligible = lambda array: False
if args["mode"] in ("ours", "whole"):
    from fastapi.testclient import TestClient
    from titiler_eopf.cache.settings import CacheSettings
    from titiler_eopf.main import create_app
    from titiler_eopf.tiler.settings import TilerSettings
    app = create_app(TilerSettings(store_url=args["store"], store_allow_http=True),
                     CacheSettings(backend="memory"))
    client = TestClient(app)
    params = [("variables", f"/measurements/reflectance:{b}") for b in args["bands"]]
    params += [("rescale", "0,0.4")]
    base = f"/collections/{args['collection']}/items/{args['item']}"
    def get(path):
        def fn():
            r = client.get(base + path, params=params)
            return r.status_code, {"x_cache": r.headers.get("x-cache"),
                                   "detail": r.text[:300] if r.status_code != 200 else ""}
        return fn
    # the tiler is built (and rasterio, xarray, zarr imported) on the first request: not timed,
    # as the stock process imports titiler.xarray before its first tile
    client.get("/tileMatrixSets")
    import rasterio, xarray, zarr  # noqa: F401
    tj = measure(get("/WebMercatorQuad/tilejson.json"))
    out["open"] = tj
    tilejson = client.get(base + "/WebMercatorQuad/tilejson.json", params=params).json()
    out["minzoom"] = tilejson["minzoom"]
    out["tiles"] = [
        measure(get(f"/tiles/WebMercatorQuad/{z}/{x}/{y}.png")) for z, x, y in args["tiles"]
    ]
    out["hit"] = measure(get("/tiles/WebMercatorQuad/{}/{}/{}.png".format(*args["tiles"][0])))
    from titiler_eopf.tiler import chunkcache
    out["chunks"] = chunkcache.stats()
    if args["mode"] == "whole":
        print("RESULT " + json.dumps(out))
        sys.exit(0)
    from titiler_eopf.tiler.catalog import Catalog
    from titiler_eopf.tiler.reader import EOPFReader
    product = Catalog(TilerSettings(store_url=args["store"], store_allow_http=True)).open(
        args["collection"], args["item"])
    reader = EOPFReader(product, [f"/measurements/reflectance:{b}" for b in args["bands"]])
    out["levels"] = [reader.tile_levels(x, y, z) for z, x, y in args["tiles"]]
else:
    import numpy, xarray, rioxarray
    from datetime import timedelta
    import obstore
    from zarr.storage import ObjectStore
    from titiler.xarray.io import Reader
    from rio_tiler.models import ImageData

    def opener(src_path, group=None, decode_times=True, **_):
        # titiler.xarray's open_zarr, with allow_http for the loopback store
        store = obstore.store.from_url(src_path, client_options={"allow_http": True,
                                       "timeout": timedelta(seconds=120)})
        ds = xarray.open_dataset(ObjectStore(store=store, read_only=True), engine="zarr",
                                 group=group, decode_coords="all", decode_times=decode_times)
        if ds.rio.crs is None:  # native EOPF has its CRS in proj:epsg attributes only
            ds = ds.rio.write_crs(args["crs"])
        return ds

    url = f"{args['store']}/{args['collection']}/{args['item']}.zarr"
    def tile(z, x, y, levels):
        def fn():
            try:
                images = []
                for band, level in zip(args["bands"], levels):
                    with Reader(url, variable=band, group=f"measurements/reflectance/{level}",
                                opener=opener) as src:
                        images.append(src.tile(x, y, z))
                image = ImageData.create_from_list(images)
                image.render(img_format="PNG")
                return 200, {}
            except Exception as exc:
                return 500, {"detail": f"{type(exc).__name__}: {str(exc)[:200]}"}
        return fn
    out["tiles"] = [
        measure(tile(z, x, y, levels))
        for (z, x, y), levels in zip(args["tiles"], args["levels"], strict=True)
    ]
print("RESULT " + json.dumps(out))
"""

# A cold container opening a product (TileJSON: metadata + coordinates), with the product's
# metadata shared through a cache tier (files here, counted) or not.
OPEN_CHILD = r"""
import json, sys, time
args = json.loads(sys.argv[1])
from tests.support.loopback import remote_reset, remote_stats
from fastapi.testclient import TestClient
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

from bench.file_blobs import FileBlobs

blobs = FileBlobs(args["blobs"]) if args["blobs"] else None
settings = TilerSettings(store_url=args["store"], store_allow_http=True)
client = TestClient(create_tiler_app(settings, metadata_store=blobs))
client.get("/tileMatrixSets")
import rasterio, xarray, zarr  # noqa: F401
params = [("variables", f"/measurements/reflectance:{b}") for b in args["bands"]]
base = f"/collections/{args['collection']}/items/{args['item']}"
remote_reset(args["store"])
started = time.perf_counter()
status = client.get(base + "/WebMercatorQuad/tilejson.json", params=params).status_code
ms = (time.perf_counter() - started) * 1000
stats = remote_stats(args["store"])
out = {"ms": ms, "status": status, "store_requests": stats["requests"],
       "version_checks": 2, "tier_requests": blobs.requests if blobs else 0}
client.get(base + "/WebMercatorQuad/tilejson.json", params=params + [("v", "2")])  # publishes
print("RESULT " + json.dumps(out))
"""

# A cold container's TileJSON and first tile (MISS: no tile cache) of a product, with nothing
# shared (no cache tier), with its metadata shared, or with its metadata and its chunks' blosc
# headers shared (``share``: none / metadata / headers). The cache tier is a directory, one
# file per key, each request paying ``tier_latency`` s (a Redis GET in a VPC); round trips
# counted. ``publish``: afterwards, publish what was read (metadata, headers) for the next.
KNOWN_CHILD = r"""
import json, re, sys, time
args = json.loads(sys.argv[1])
from tests.support.loopback import remote_reset, remote_stats
from fastapi.testclient import TestClient
from titiler_eopf.tiler import shared_headers
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

from bench.file_blobs import FileBlobs

if args["share"] == "metadata":  # the tiler before chunk headers were shared
    shared_headers.for_product = lambda *a, **k: None
blobs = FileBlobs(args["blobs"], args["tier_latency"]) if args["share"] != "none" else None
settings = TilerSettings(store_url=args["store"], store_allow_http=True)
client = TestClient(create_tiler_app(settings, metadata_store=blobs))
client.get("/tileMatrixSets")
import rasterio, xarray, zarr  # noqa: F401
params = [("variables", f"/measurements/reflectance:{b}") for b in args["bands"]]
params += [("rescale", "0,0.4")]
base = f"/collections/{args['collection']}/items/{args['item']}"
chunk = re.compile(r"/measurements/reflectance/r\d+m/b\w+/\d+\.\d+$")

def measure(path):
    remote_reset(args["store"])
    tier = blobs.requests if blobs else 0
    started = time.perf_counter()
    status = client.get(base + path, params=params).status_code
    ms = (time.perf_counter() - started) * 1000
    stats = remote_stats(args["store"])
    starts = [s for p, s in stats["starts"].items() if chunk.search(p)]
    return {"ms": ms, "status": status, "requests": stats["requests"], "bytes": stats["bytes"],
            "chunks": len(starts), "header_reads": sum(s.count(0) for s in starts),
            "tier_requests": (blobs.requests if blobs else 0) - tier}

out = {"open": measure("/WebMercatorQuad/tilejson.json")}
z, x, y = args["tile"]
out["tile"] = measure(f"/tiles/WebMercatorQuad/{z}/{x}/{y}.png")
if args.get("publish"):
    client.get(base + "/WebMercatorQuad/tilejson.json", params=params + [("v", "2")])
    shared_headers.drain()
print("RESULT " + json.dumps(out))
"""
