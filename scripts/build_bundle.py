#!/usr/bin/env python3
"""Build the Lambda bundle without Docker: ``scripts/build_bundle.py [--arch x86_64|arm64] [--out DIR]``.

Same as ``python -m infrastructure.bundling``; see infrastructure/bundling.py for what the
bundle contains and what is cached in ~/.cache/titiler-eopf (TITILER_EOPF_BUILD_CACHE).
``--arch arm64`` on an x86_64 machine cross-compiles libexpat with gcc-aarch64-linux-gnu
(installed with apt-get if missing; ``make tools`` installs it too).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infrastructure.bundling import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
