"""Tiler benchmark: what choosing the pyramid level per request buys.

Renders the same low-zoom tiles (a) through the multiscale group, where the
reader picks the coarsest level fine enough, and (b) forcing the full
resolution level (`.../r10m:bNN`), side by side in one run, on both layouts.
Prints ratios (the machine is shared: absolute times drift, ratios hold).

    .venv/bin/python -m bench.bench_tiler [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import morecantile
from fastapi.testclient import TestClient

from eopf_sample import BOUNDS_LONLAT, COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID, write_samples
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

BANDS = ["b04", "b03", "b02"]


def timed(client: TestClient, url: str, params, repeat: int) -> float:
    client.get(url, params=params)  # open the product and the level once
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params=params)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_samples(tmp, log=lambda *_: None)
        client = TestClient(create_tiler_app(TilerSettings(store_url=tmp)))
        lon = (BOUNDS_LONLAT[0] + BOUNDS_LONLAT[2]) / 2
        lat = (BOUNDS_LONLAT[1] + BOUNDS_LONLAT[3]) / 2
        tms = morecantile.tms.get("WebMercatorQuad")
        print(f"{'layout':<24}{'z':>3}{'pyramid ms':>12}{'r10m ms':>10}{'r10m/pyramid':>14}")
        for collection in (COLLECTION_NATIVE, COLLECTION_GEOZARR):
            for z in (9, 11, 13):
                tile = tms.tile(lon, lat, z)
                url = (
                    f"/collections/{collection}/items/{ITEM_ID}"
                    f"/tiles/WebMercatorQuad/{z}/{tile.x}/{tile.y}.png"
                )
                pyramid = [("variables", f"/measurements/reflectance:{b}") for b in BANDS]
                full = [("variables", f"/measurements/reflectance/r10m:{b}") for b in BANDS]
                extra = [("rescale", "0,1")]
                t_pyr = timed(client, url, pyramid + extra, args.repeat)
                t_full = timed(client, url, full + extra, args.repeat)
                print(
                    f"{collection:<24}{z:>3}{t_pyr * 1000:>12.1f}{t_full * 1000:>10.1f}"
                    f"{t_full / t_pyr:>14.2f}"
                )


if __name__ == "__main__":
    main()
