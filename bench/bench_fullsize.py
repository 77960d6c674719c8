"""Full-size MISS benchmark through the loopback store, side by side with stock titiler.xarray.

For each product of ``make bench-data`` (L2A and L1C, native and GeoZarr) and each zoom, a fresh
process (a cold Lambda container) serves, through the loopback store (HTTP, 20 ms per request,
100 MB/s per response):

1. TileJSON (opens the product: metadata only),
2. a first true-colour tile (MISS), then its three neighbours (MISS, warm process),
3. the first tile again (tile cache HIT, memory backend).

Per tile: latency, requests and bytes fetched (the store's own counters) against the minimum (the
compressed size of the chunks or inner chunks that intersect the tile, plus the shard indexes,
read from the files), and the process's peak RSS. In a second fresh process the same four tiles go
through stock ``titiler.xarray`` (its ``Reader`` on the level TiTiler-EOPF chose for the tile,
one Reader per band as titiler.xarray serves one variable, opening the level for every request as
its tile endpoint does; the native layout keeps its CRS in ``proj:epsg`` attributes, which
titiler.xarray does not read, so the opener writes EPSG:32632 for it). Ratios are stock / ours.

    .venv/bin/python -m bench.bench_fullsize [--zooms 7-14] [--products l1c-native,...]
        [--repeat 3] [--baseline ../previous-checkout] [--known-only]

Then, for the native products, a cold container's first tile of a known product with nothing,
its metadata, or its metadata and chunk headers shared through the cache tier
(:mod:`bench.fullsize_known`; ``--known-only``: that table alone).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.fullsize_children import CHILD, OPEN_CHILD
from bench.fullsize_known import known_product_tiles, report_known
from eopf_sample import fullsize

ROOT = Path(__file__).resolve().parents[1]

BANDS = ["b04", "b03", "b02"]
LATENCY = 0.02
BANDWIDTH = 100e6


def run_child(args: dict, timeout: float, code: str = CHILD, root: Path = ROOT) -> dict:
    """``code`` in a fresh process running the code of the checkout ``root``."""
    env = {**os.environ, "PYTHONPATH": f"{root / 'lambda_src'}:{root}"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(args)],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}


# -- the minimum a tile must fetch -------------------------------------------------------------


def minimum_bytes(product_dir: Path, name: str, level: str, band: str, tile, blocks=True) -> int:
    """Compressed bytes a tile must fetch: GeoZarr, the inner chunks that intersect it plus the
    shard indexes; native (blosc chunks), the header, block table and blocks holding the tile's
    rows of each chunk it intersects (``blocks=False``: the whole chunks)."""
    import morecantile
    import numpy
    from rasterio.warp import transform_bounds

    from titiler_eopf.tiler import blosc_ranges

    node = fullsize.reflectance_node(fullsize.load_structure(name))["members"][level]["members"][
        band
    ]
    height, width = node["shape"]
    x0, y0, extent = fullsize.grid(name)
    res = extent / width
    tms = morecantile.tms.get("WebMercatorQuad")
    b = tms.xy_bounds(tile)
    minx, miny, maxx, maxy = transform_bounds("EPSG:3857", "EPSG:32632", *b, densify_pts=21)
    col0, col1 = max(0, math.floor((minx - x0) / res)), min(width, math.ceil((maxx - x0) / res))
    row0, row1 = max(0, math.floor((y0 - maxy) / res)), min(height, math.ceil((y0 - miny) / res))
    if col1 <= col0 or row1 <= row0:
        return 0
    path = product_dir / "measurements" / "reflectance" / level / band
    if node["zarr_format"] == 2:
        ch, cw = node["chunks"]
        total = 0
        for i in range(row0 // ch, (row1 - 1) // ch + 1):
            for j in range(col0 // cw, (col1 - 1) // cw + 1):
                chunk = path / f"{i}.{j}"
                if not chunk.exists():
                    continue
                if not blocks:
                    total += chunk.stat().st_size
                    continue
                # the block minimum: header + block table + the blocks holding the rows
                raw = chunk.read_bytes()
                header = blosc_ranges.parse_header(raw[: blosc_ranges.table_size(raw[:16])])
                r0, r1 = max(row0, i * ch) - i * ch, min(row1, (i + 1) * ch) - i * ch
                row_bytes = cw * numpy.dtype(node["dtype"]).itemsize
                span = header.block_span(r0 * row_bytes, r1 * row_bytes)
                total += len(header.table)
                total += sum(int(header.ends[b] - header.starts[b]) for b in span)
        return total
    config = fullsize._sharding(node)
    ih, iw = config["chunk_shape"]
    sh, sw = node["chunk_grid"]["configuration"]["chunk_shape"]
    per = (-(-sh // ih), -(-sw // iw))
    index_size = per[0] * per[1] * 16 + 4
    total = 0
    for si in range(row0 // sh, (row1 - 1) // sh + 1):
        for sj in range(col0 // sw, (col1 - 1) // sw + 1):
            shard = path / "c" / str(si) / str(sj)
            if not shard.exists():
                continue
            with open(shard, "rb") as f:
                f.seek(-index_size, os.SEEK_END)
                index = numpy.frombuffer(f.read(index_size - 4), dtype="<u8").reshape(*per, 2)
            total += index_size
            for i in range(max(row0, si * sh) // ih, (min(row1, (si + 1) * sh) - 1) // ih + 1):
                for j in range(max(col0, sj * sw) // iw, (min(col1, (sj + 1) * sw) - 1) // iw + 1):
                    li, lj = i - si * per[0], j - sj * per[1]
                    if index[li, lj, 0] != 2**64 - 1:
                        total += int(index[li, lj, 1])
    return total


def first_tile(name: str, z: int):
    """The tile over a point a quarter into the product (inside a native chunk, not on its edge)."""
    import morecantile
    from rasterio.warp import transform

    x0, y0, extent = fullsize.grid(name)
    (lon,), (lat,) = transform(
        "EPSG:32632", "EPSG:4326", [x0 + 0.27 * extent], [y0 - 0.27 * extent]
    )
    return morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)


def mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zooms", default="7-14")
    parser.add_argument("--products", default=",".join(fullsize.PRODUCTS))
    parser.add_argument("--data", default=str(fullsize.default_out_dir()))
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="fresh processes of TiTiler-EOPF per product and zoom: each figure is their median",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. a worktree of the previous commit): its tiler runs beside "
        "this one, interleaved, same store, and a before/after table follows the goals",
    )
    parser.add_argument(
        "--known-only",
        action="store_true",
        help="only the table of cold containers on a known product (shared metadata, headers)",
    )
    args = parser.parse_args()
    lo, hi = map(int, args.zooms.split("-"))
    data = Path(args.data)
    missing = [n for n in args.products.split(",") if not fullsize.product_path(data, n).exists()]
    if missing:
        fullsize.write_bench_data(data, missing)

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.loopback",
            str(data),
            "--latency",
            str(LATENCY),
            "--bandwidth",
            str(BANDWIDTH),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'lambda_src'}:{ROOT}"},
    )
    store = server.stdout.readline().strip()
    import morecantile

    rows = []
    names = [] if args.known_only else args.products.split(",")
    try:
        for name in names:
            product = fullsize.PRODUCTS[name]
            product_dir = fullsize.product_path(data, name)
            for z in range(lo, hi + 1):
                t = first_tile(name, z)
                tiles = [(z, t.x, t.y), (z, t.x + 1, t.y), (z, t.x, t.y + 1), (z, t.x + 1, t.y + 1)]
                common = {
                    "store": store,
                    "collection": product.collection,
                    "item": product.item_id,
                    "bands": BANDS,
                    "tiles": tiles,
                    "crs": "EPSG:32632",
                }
                runs, before = [], []
                for _ in range(args.repeat):  # interleaved: both see the same machine load
                    runs.append(run_child({**common, "mode": "ours"}, args.timeout))
                    if args.baseline:
                        before.append(
                            run_child({**common, "mode": "ours"}, args.timeout, root=args.baseline)
                        )
                ours = median_run(runs)
                if args.baseline:
                    ours["before"] = median_run(before)
                if "error" in ours:
                    rows.append((name, z, ours, None, None))
                    print(f"{name} z{z}: {ours['error']}", file=sys.stderr, flush=True)
                    continue
                stock = run_child(
                    {**common, "mode": "stock", "levels": ours["levels"]}, args.timeout
                )
                whole = None
                if product.layout == "native":
                    whole = run_child({**common, "mode": "whole"}, args.timeout)
                    ours["whole"] = whole
                minimum = [
                    sum(
                        minimum_bytes(product_dir, name, lv, band, morecantile.Tile(x, y, zz))
                        for lv, band in zip(levels, BANDS, strict=True)
                    )
                    for (zz, x, y), levels in zip(tiles, ours["levels"], strict=True)
                ]
                rows.append((name, z, ours, stock, minimum))
                first = ours["tiles"][0]
                print(
                    f"{name} z{z}: first {first['ms']:.0f} ms ({first['status']}), "
                    f"stock {stock.get('tiles', [{}])[0].get('ms', float('nan')):.0f} ms",
                    file=sys.stderr,
                    flush=True,
                )
        opens = cold_opens(store, names, args.timeout)
        known = known_product_tiles(
            store, args.products.split(","), range(lo, hi + 1), args.repeat, args.timeout, BANDS
        )
    finally:
        server.terminate()
        server.wait(10)
    if args.known_only:
        report_known(known, args.repeat)
        return
    report(rows, lo, hi)
    goals(rows)
    if args.baseline:
        report_before_after(rows, args.baseline, args.repeat)
    report_opens(opens)
    report_known(known, args.repeat)
    chunk_cache_choice(data)


def cold_opens(store: str, names: list[str], timeout: float) -> list:
    """Per product: a cold open from the store alone, the first open with a shared tier
    (publishes), then a cold open of the known product from the shared tier."""
    import tempfile

    out = []
    for name in names:
        product = fullsize.PRODUCTS[name]
        common = {
            "store": store,
            "collection": product.collection,
            "item": product.item_id,
            "bands": BANDS,
        }
        with tempfile.TemporaryDirectory() as blobs:
            plain = run_child({**common, "blobs": ""}, timeout, OPEN_CHILD)
            first = run_child({**common, "blobs": blobs}, timeout, OPEN_CHILD)
            known = run_child({**common, "blobs": blobs}, timeout, OPEN_CHILD)
        out.append((name, plain, first, known))
    return out


def report_opens(opens) -> None:
    print()
    print(
        "Cold-container open (TileJSON of a product in a fresh process: metadata + coordinates), "
        "from the store alone, and with product metadata shared through the cache tier (here a "
        "directory standing for it, its round trips counted): the first container publishes, a "
        "later cold container opens the known product from one blob. Store requests include "
        "the version check (HEAD .zmetadata + HEAD zarr.json)."
    )
    print()
    print(
        "| product | store only: ms | store requests | first with tier: ms | store requests | "
        "known product: ms | store requests | cache-tier requests | known/store-only |"
    )
    print("|" + "---|" * 9)
    for name, plain, first, known in opens:
        if any("error" in r for r in (plain, first, known)):
            error = plain.get("error") or first.get("error") or known.get("error")
            print(f"| {name} | error: {error} |")
            continue
        print(
            f"| {name} | {plain['ms']:.0f} | {plain['store_requests']} | {first['ms']:.0f} | "
            f"{first['store_requests']} | {known['ms']:.0f} | {known['store_requests']} | "
            f"{known['tier_requests']} | {known['ms'] / plain['ms']:.2f} |"
        )
    worst = max((k["tier_requests"] for _, _, _, k in opens if "error" not in k), default=-1)
    beyond = max(
        (k["store_requests"] - k["version_checks"] for _, _, _, k in opens if "error" not in k),
        default=-1,
    )
    print()
    print(
        f"Goal: cold open of a known product <= 2 requests to the cache tier (max {worst}), "
        f"0 to the store beyond the version check (max {beyond})."
    )


def chunk_cache_choice(data: Path) -> None:
    """Why the chunk cache keeps decoded chunks: what a hit on compressed bytes would still cost."""
    import numcodecs

    path = fullsize.product_path(data, "l2a-native") / "measurements/reflectance/r10m/b04"
    codec = numcodecs.get_codec(json.loads((path / ".zarray").read_text())["compressor"])
    raw = (path / "0.0").read_bytes()
    decode = []
    for _ in range(3):
        started = time.perf_counter()
        decoded = codec.decode(raw)
        decode.append((time.perf_counter() - started) * 1000)
    fetch = len(raw) / BANDWIDTH * 1000 + LATENCY * 1000
    print()
    print(
        f"Chunk cache: a native 5490 x 5490 chunk is {len(raw) / 1e6:.1f} MB compressed, "
        f"{len(decoded) / 1e6:.1f} MB decoded; fetching it whole costs {fetch:.0f} ms here, "
        f"decoding it whole {min(decode):.0f} ms. Sub-chunk reads fetch and decode only the "
        "blosc blocks (~12 rows each) holding a tile's rows, and the chunk cache keeps those "
        "decoded blocks: a neighbour sharing the rows decodes nothing, one below fetches only "
        "its new blocks."
    )


def median_run(runs: list[dict]) -> dict:
    """One child's result with every time (wall and CPU) the median over ``runs`` (bytes and
    requests do not vary); an error if any run failed."""
    import statistics

    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    out = json.loads(json.dumps(runs[0]))
    for key in ("open", "hit"):
        out[key]["ms"] = statistics.median(r[key]["ms"] for r in runs)
    for k, tile in enumerate(out["tiles"]):
        for field in ("ms", "cpu_ms"):
            tile[field] = statistics.median(r["tiles"][k][field] for r in runs)
    return out


def report_before_after(rows, baseline: Path, repeat: int) -> None:
    print()
    print(
        f"Before/after in the same run: the tiler of {baseline.name} (before) and of this "
        f"checkout (after), each in {repeat} fresh process(es) per product and zoom, "
        "interleaved; medians. CPU = process time of the request (every thread)."
    )
    print()
    print(
        "| product | z | first MISS ms before | after | neighbours ms E/S/SE before | after | "
        "CPU ms first before | after | CPU ms neighbours E/S/SE before | after |"
    )
    print("|" + "---|" * 10)
    for name, z, ours, _stock, _minimum in rows:
        before = ours.get("before") or {}
        if "error" in ours or "error" in before or not before:
            continue
        a, b = ours["tiles"], before["tiles"]

        def row(tiles, field):
            return "/".join(f"{t[field]:.0f}" for t in tiles[1:])

        print(
            f"| {name} | {z} | {b[0]['ms']:.0f} | {a[0]['ms']:.0f} | {row(b, 'ms')} | "
            f"{row(a, 'ms')} | {b[0]['cpu_ms']:.0f} | {a[0]['cpu_ms']:.0f} | "
            f"{row(b, 'cpu_ms')} | {row(a, 'cpu_ms')} |"
        )


def _neighbour_mean(tiles) -> float:
    ok = [t["ms"] for t in tiles[1:] if t["status"] == 200]
    return sum(ok) / len(ok) if ok else float("nan")


def goals(rows) -> None:
    """The issue's goals (17, with 7's), computed from the rows above."""
    ok = {(n, z): (o, s, m) for n, z, o, s, m in rows if s is not None}
    nan = float("nan")
    print()
    print("Goals (issue 17), from the table above:")
    for layout in ("l2a", "l1c"):
        native = [
            (z, *ok[(f"{layout}-native", z)])
            for z in range(11, 15)
            if (f"{layout}-native", z) in ok
        ]
        ratios = [o["tiles"][0]["bytes"] / m[0] for z, o, s, m in native if m[0]]
        print(
            f"- {layout}-native z11-z14 bytes fetched per first MISS / block minimum: max "
            f"{max(ratios, default=nan):.2f} (goal <= 1.5)"
        )
        versus = []
        for z, o, _s, _m in native:
            geo = ok.get((f"{layout}-geozarr", z))
            if geo:
                versus.append(f"z{z} {o['tiles'][0]['ms']:.0f}/{geo[0]['tiles'][0]['ms']:.0f}")
        print(
            f"- {layout}-native first MISS ms / {layout}-geozarr first MISS ms: "
            f"{', '.join(versus)} (goal: native <= GeoZarr)"
        )
        neighbours = [_neighbour_mean(o["tiles"]) / o["tiles"][0]["ms"] for z, o, s, m in native]
        print(
            f"- {layout}-native z11-z14 neighbours' MISS / first tile's: max "
            f"{max(neighbours, default=nan):.2f} (goal <= 0.20)"
        )
        speedups = [
            o["whole"]["tiles"][0]["ms"] / o["tiles"][0]["ms"]
            for z, o, s, m in native
            if o.get("whole", {}).get("tiles")
        ]
        print(
            f"- {layout}-native z11-z14 whole-chunk first MISS / sub-chunk first MISS: min "
            f"{min(speedups, default=nan):.2f}, max {max(speedups, default=nan):.2f}"
        )
    speed = []
    for o, s, _m in ok.values():
        st = (s.get("tiles") or [{}])[0]
        speed.append(
            (st.get("ms", float("inf")) if st.get("status") == 200 else float("inf"))
            / (o["tiles"][0]["ms"] + o["open"]["ms"])
        )
    print(
        "- stock titiler.xarray / TiTiler-EOPF (open + first tile): min "
        f"{min(speed, default=nan):.2f} over every product and zoom (goal >= 1; inf = stock fails)"
    )


def report(rows, lo, hi) -> None:
    print()
    print(
        f"Through the loopback store ({LATENCY * 1000:.0f} ms per request, "
        f"{BANDWIDTH / 1e6:.0f} MB/s per response); true colour b04,b03,b02; each product and "
        "zoom in a fresh process (cold container); neighbours = the 3 tiles east, south, "
        "south-east of the first, in the same process; open = TileJSON (opens the product: "
        "metadata and coordinates; imports done before, in every process). MB minimum: GeoZarr, "
        "the inner chunks intersecting the first tile + shard indexes; native, the block "
        "minimum (header + block table + the blosc blocks holding the tile's rows, per chunk). "
        "whole-chunk = TiTiler-EOPF with sub-chunk reads off (the previous path), in its own "
        "fresh process in the same run; stock = titiler.xarray Reader per band on the same "
        "level, in its own fresh process, opening the level for every request as its tile "
        "endpoint does: stock/ours (first) compares it with open + first MISS."
    )
    print()
    print(
        "| product | z | levels | status | open ms | first MISS ms | neighbours MISS ms (mean) | "
        "neighbours/first | HIT ms | requests (first) | MB fetched (first) | MB minimum | "
        "fetched/min | peak RSS MB | whole-chunk first ms | whole-chunk neighbours ms | "
        "whole-chunk MB (first) | whole-chunk peak RSS MB | stock first ms | "
        "stock neighbours ms | stock/ours (first) | stock peak RSS MB | TileJSON minzoom |"
    )
    print("|" + "---|" * 23)
    for name, z, ours, stock, minimum in rows:
        if stock is None:
            print(f"| {name} | {z} | | error: {ours['error']} |" + " |" * 19)
            continue
        tiles = ours["tiles"]
        first = tiles[0]
        n_ms = _neighbour_mean(tiles)
        status = ",".join(str(t["status"]) for t in tiles)
        if first["status"] != 200:
            status += f" ({first.get('detail', '')[:120]})"
        whole = ours.get("whole") or {}
        if whole.get("tiles"):
            w = whole["tiles"]
            whole_txt = (
                f"{w[0]['ms']:.0f} | {_neighbour_mean(w):.0f} | {mb(w[0]['bytes'])} | "
                f"{max(t['rss_mb'] for t in w):.0f}"
            )
        else:
            whole_txt = f"{whole.get('error', '')[:60]} | | |"
        stock_tiles = stock.get("tiles") or []
        if stock_tiles and stock_tiles[0]["status"] == 200:
            s_first = stock_tiles[0]["ms"]
            s_n = _neighbour_mean(stock_tiles)
            s_rss = max(t["rss_mb"] for t in stock_tiles)
            s_first_txt = f"{s_first:.0f}"
        else:
            detail = stock.get("error") or (stock_tiles[0].get("detail") if stock_tiles else "")
            s_first, s_n, s_rss = float("nan"), float("nan"), float("nan")
            s_first_txt = f"fails: {detail[:80]}"
        levels = "/".join(sorted(set(ours["levels"][0])))
        min_first = minimum[0]
        ratio = first["bytes"] / min_first if min_first else float("nan")
        print(
            f"| {name} | {z} | {levels} | {status} | {ours['open']['ms']:.0f} | "
            f"{first['ms']:.0f} | {n_ms:.0f} | {n_ms / first['ms']:.2f} | "
            f"{ours['hit']['ms']:.0f} | {first['requests']} | {mb(first['bytes'])} | "
            f"{mb(min_first)} | {ratio:.2f} | {max(t['rss_mb'] for t in tiles):.0f} | "
            f"{whole_txt} | {s_first_txt} | {s_n:.0f} | "
            f"{s_first / (first['ms'] + ours['open']['ms']):.2f} | {s_rss:.0f} | "
            f"{ours['minzoom']} |"
        )


if __name__ == "__main__":
    main()
