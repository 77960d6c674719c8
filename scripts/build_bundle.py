#!/usr/bin/env python3
"""Build the Lambda bundle without Docker (``make bundle``).

    scripts/build_bundle.py                                  # -> build/lambda-x86_64
    scripts/build_bundle.py --arch arm64 --out build/lambda-arm64 --zip-size

See ``infrastructure/bundling/`` for what the bundle contains and what is cached in
~/.cache/titiler-eopf (TITILER_EOPF_BUILD_CACHE). ``--arch arm64`` on an x86_64 machine
cross-compiles libexpat with gcc-aarch64-linux-gnu (installed with apt-get if missing;
``make tools`` installs it too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # a script: its own folder, not the repository, is on the path

from infrastructure.bundling import (  # noqa: E402
    BUNDLE_SIZE_TARGET,
    PLATFORMS,
    SOURCE_DIR,
    BundleError,
    build_bundle,
    zipped_size,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the TiTiler-EOPF Lambda bundle without Docker."
    )
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default build/lambda-<arch>)"
    )
    parser.add_argument("--source", type=Path, default=SOURCE_DIR)
    parser.add_argument("--zip-size", action="store_true", help="also report the zipped size")
    args = parser.parse_args(argv)
    out = args.out or REPO_ROOT / "build" / f"lambda-{args.arch}"
    try:
        report = build_bundle(out, arch=args.arch, source_dir=args.source)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    if args.zip_size:
        print(f"zipped: {zipped_size(out):,} bytes")
    if report.unzipped_bytes > BUNDLE_SIZE_TARGET:
        print(f"warning: above the {BUNDLE_SIZE_TARGET:,}-byte target", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
