"""Cold-start benchmark of the tile Lambda handler: cache HIT vs MISS.

Each sample is a fresh Python process (a cold Lambda) that imports the
handler and serves one HTTP API v2 tile event, with the Redis backend shared
by all of them. A cold HIT never imports the tiler (rasterio, xarray, zarr,
titiler); a cold MISS must. Prints medians and their ratio, measured side by
side in one run, for the development tree (the venv) and for the built Lambda
bundle (``build/lambda-x86_64``, built if missing: a fresh ``python3.12 -I -S``
with only the bundle and a stand-in for the runtime's boto3 on ``sys.path``, as
the bundle smoke test runs it).

    .venv/bin/python -m bench.bench_lambda_cold [--repeat N] [--no-bundle]
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

from eopf_sample import write_samples
from tests.support.servers import RedisProcess

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
if os.environ.get("BENCH_BUNDLE"):  # only the bundle, the runtime stand-in and the test events
    kept = [p for p in sys.path if p and "site-packages" not in p]
    sys.path[:] = [os.environ["BENCH_BUNDLE"], *kept, os.environ["BENCH_RUNTIME"],
                   os.environ["BENCH_ROOT"]]
started = time.perf_counter()
from tests.support.events import http_api_event, FakeContext, RGB_QUERY
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


def run_child(env: dict, variant: str, python: list[str]) -> dict:
    out = subprocess.run(
        [*python, "-c", CHILD, TILE, variant],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def bundle_setup(tmp: Path) -> tuple[list[str], dict, int]:
    """(python command, extra env, unzipped bytes) of the built x86_64 bundle."""
    from infrastructure import bundling

    out = ROOT / "build" / "lambda-x86_64"
    report = bundling.build_bundle(out, arch="x86_64")
    import boto3

    site = Path(boto3.__file__).resolve().parents[1]
    runtime = tmp / "var-runtime"
    runtime.mkdir()
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"):
        if (site / name).exists():
            (runtime / name).symlink_to(site / name)
    python = str(Path(sys.base_prefix) / "bin" / "python3.12")
    if not Path(python).exists():
        python = bundling.find_python312()
    env = {"BENCH_BUNDLE": str(out), "BENCH_RUNTIME": str(runtime), "BENCH_ROOT": str(ROOT)}
    return [python, "-I", "-S"], env, report.unzipped_bytes


def measure(env: dict, python: list[str], repeat: int, tag: str) -> tuple[float, float]:
    assert (
        run_child(env, f"gamma rgb 1.0{tag}", python)["x_cache"] == "MISS"
    )  # warm the shared cache
    hits, misses = [], []
    for n in range(repeat):  # interleaved, so load drifts hit both alike
        hit = run_child(env, f"gamma rgb 1.0{tag}", python)
        miss = run_child(env, f"gamma rgb 1.{n + 1}{tag}", python)  # a key nobody cached
        assert (hit["x_cache"], miss["x_cache"]) == ("HIT", "MISS"), (hit, miss)
        hits.append(hit["ms"])
        misses.append(miss["ms"])
    return statistics.median(hits), statistics.median(misses)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-bundle", action="store_true", help="only the development tree")
    args = parser.parse_args()
    redis = RedisProcess().start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as tmp:
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
            rows.append(
                ("development tree (venv)", *measure(env, [sys.executable], args.repeat, "1"))
            )
            if not args.no_bundle:
                python, extra, size = bundle_setup(Path(tmp))
                bundle_env = {k: v for k, v in env.items() if k != "PYTHONPATH"} | extra
                label = f"built bundle ({size / 2**20:.1f} MiB unzipped)"
                rows.append((label, *measure(bundle_env, python, args.repeat, "2")))
    finally:
        redis.stop()
    print("cold tile Lambda (fresh process: import handler + one event), medians")
    print()
    print("| code | cold HIT ms | cold MISS ms | MISS/HIT |")
    print("|---|---|---|---|")
    for label, hit_ms, miss_ms in rows:
        print(f"| {label} | {hit_ms:.0f} | {miss_ms:.0f} | {miss_ms / hit_ms:.1f}x |")


if __name__ == "__main__":
    main()
