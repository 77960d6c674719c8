"""Cold-start benchmark of the tile Lambda handler: cache HIT vs MISS.

Each sample is a fresh Python process (a cold Lambda) that imports the
handler and serves one HTTP API v2 tile event, with the Redis backend shared
by all of them. A cold HIT never imports the tiler (rasterio, xarray, zarr,
titiler); a cold MISS must. Prints medians and their ratio, measured side by
side in one run.

    .venv/bin/python bench/bench_lambda_cold.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambda_src")]

from eopf_sample import write_samples  # noqa: E402
from tests.servers import RedisProcess  # noqa: E402

CHILD = r"""
import json, sys, time
started = time.perf_counter()
from tests.handlers.events import http_api_event, FakeContext, RGB_QUERY
from titiler_eopf.handlers import tile
query = RGB_QUERY + [("color_formula", sys.argv[2])] if sys.argv[2] else RGB_QUERY
response = tile.handler(http_api_event(sys.argv[1], query), FakeContext())
print(json.dumps({"ms": (time.perf_counter() - started) * 1000,
                  "x_cache": response["headers"].get("x-cache"),
                  "status": response["statusCode"]}))
"""
TILE = (
    "/collections/sentinel-2-l2a/items/S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
    "/tiles/WebMercatorQuad/12/2178/1514.png"
)


def run_child(env: dict, variant: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, TILE, variant],
        env=env, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    redis = RedisProcess().start()
    try:
        with tempfile.TemporaryDirectory() as data:
            write_samples(data, log=lambda *_: None)
            env = {
                **os.environ,
                "PYTHONPATH": f"{ROOT / 'lambda_src'}:{ROOT}",
                "TITILER_EOPF_STORE_URL": data,
                "TITILER_EOPF_CACHE_BACKEND": "redis",
                "TITILER_EOPF_CACHE_REDIS_HOST": "127.0.0.1",
                "TITILER_EOPF_CACHE_REDIS_PORT": str(redis.port),
                "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": "0.5",
                "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": "0.5",
            }
            assert run_child(env, "")["x_cache"] == "MISS"  # warm the shared cache
            hits, misses = [], []
            for n in range(args.repeat):  # interleaved, so load drifts hit both alike
                hit = run_child(env, "")
                miss = run_child(env, f"gamma rgb 1.{n + 1}")  # a key nobody cached
                assert (hit["x_cache"], miss["x_cache"]) == ("HIT", "MISS"), (hit, miss)
                hits.append(hit["ms"])
                misses.append(miss["ms"])
    finally:
        redis.stop()
    hit_ms, miss_ms = statistics.median(hits), statistics.median(misses)
    print("cold tile Lambda (fresh process: import handler + one event), medians")
    print(f"  HIT  {hit_ms:8.0f} ms")
    print(f"  MISS {miss_ms:8.0f} ms")
    print(f"  MISS/HIT ratio: {miss_ms / hit_ms:.1f}x")


if __name__ == "__main__":
    main()
