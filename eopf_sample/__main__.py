"""CLI: ``python -m eopf_sample [--out DIR] [--force]``."""

from __future__ import annotations

import argparse
import sys
import time

from .mosaic import write_mosaic_collection
from .writer import write_samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eopf_sample",
        description=(
            "Write small sample EOPF products (S2 L2A native and GeoZarr, S2 L1C, S1 GRD, "
            "S1 GRD RTC, S2 GeoZarr production and codecs)."
        ),
    )
    parser.add_argument("--out", default="data", help="output directory (default: data)")
    parser.add_argument("--force", action="store_true", help="rewrite products that already exist")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    write_samples(args.out, force=args.force)
    write_mosaic_collection(args.out, force=args.force, log=None)  # + its STAC items
    print(f"done in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
