"""Cold containers on a known product: what sharing blosc chunk headers saves on a first MISS.

For each native product and zoom, in fresh processes (cold containers) through the loopback
store: a first container serves TileJSON and a first tile with a cache tier (a directory,
1 ms per request) and publishes what it read; then, interleaved, ``repeat`` cold containers
each with nothing shared (no tier), with the product's metadata shared (the tiler before
headers were shared), and with metadata and chunk headers shared. Medians.
"""

from __future__ import annotations

import statistics
import tempfile

from bench.fullsize_children import KNOWN_CHILD
from eopf_sample import fullsize

TIER_LATENCY = 0.001  # s per cache-tier request (a Redis GET in a VPC: sub-ms)
SHARES = ("none", "metadata", "headers")


def known_product_tiles(store: str, names, zooms, repeat: int, timeout: float, bands) -> list:
    from bench.bench_fullsize import first_tile, run_child

    rows = []
    for name in names:
        product = fullsize.PRODUCTS[name]
        if product.layout != "native":
            continue
        for z in zooms:
            t = first_tile(name, z)
            common = {
                "store": store,
                "collection": product.collection,
                "item": product.item_id,
                "bands": bands,
                "tile": [z, t.x, t.y],
                "tier_latency": TIER_LATENCY,
            }
            with tempfile.TemporaryDirectory() as blobs:
                common["blobs"] = blobs
                first = run_child(
                    {**common, "share": "headers", "publish": True}, timeout, KNOWN_CHILD
                )
                runs = {share: [] for share in SHARES}
                for _ in range(repeat):  # interleaved: each sees the same machine load
                    for share in SHARES:
                        runs[share].append(
                            run_child({**common, "share": share}, timeout, KNOWN_CHILD)
                        )
            rows.append((name, z, first, {s: _median(r) for s, r in runs.items()}))
    return rows


def _median(runs: list[dict]) -> dict:
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    out = dict(runs[0])
    for part in ("open", "tile"):
        times = [r[part]["ms"] for r in runs]
        out[part] = {**runs[0][part], "ms": statistics.median(times), "min_ms": min(times)}
    return out


def report_known(rows, repeat: int) -> None:
    print()
    print(
        "Cold container, known product: TileJSON then the first tile (MISS, no tile cache) in a "
        "fresh process, with nothing shared (no cache tier), with the product's metadata shared "
        "through the cache tier (before), and with its metadata and its chunks' blosc headers "
        f"shared (after); the tier a directory at {TIER_LATENCY * 1000:.0f} ms per request, "
        f"published by a first container. Medians of {repeat} processes each, interleaved "
        "(min in brackets: the shared machine's load moves medians). Header reads = store "
        "requests for a chunk's first bytes; store requests and header reads are the same in "
        "every process."
    )
    print()
    print(
        "| product | z | chunks | first tile ms: nothing shared | metadata shared | "
        "+ headers shared | headers/metadata | store requests (tile): nothing | metadata | "
        "+ headers | header reads: metadata | + headers | tier requests (tile): + headers | "
        "open + tile ms: nothing | metadata | + headers |"
    )
    print("|" + "---|" * 16)
    for name, z, first, runs in rows:
        failed = [r for r in (first, *runs.values()) if "error" in r]
        if failed or any(r["tile"]["status"] != 200 for r in runs.values()):
            error = failed[0]["error"] if failed else "status != 200"
            print(f"| {name} | {z} | error: {error} |")
            continue
        none, meta, head = (runs[s] for s in SHARES)
        tiles = [r["tile"] for r in (none, meta, head)]
        both = [r["open"]["ms"] + r["tile"]["ms"] for r in (none, meta, head)]
        print(
            f"| {name} | {z} | {head['tile']['chunks']} | "
            + " | ".join(f"{t['ms']:.0f} ({t['min_ms']:.0f})" for t in tiles)
            + f" | {tiles[2]['ms'] / tiles[1]['ms']:.2f} "
            f"({tiles[2]['min_ms'] / tiles[1]['min_ms']:.2f}) | "
            + " | ".join(str(t["requests"]) for t in tiles)
            + f" | {tiles[1]['header_reads']} | {tiles[2]['header_reads']} | "
            f"{tiles[2]['tier_requests']} | " + " | ".join(f"{ms:.0f}" for ms in both) + " |"
        )
