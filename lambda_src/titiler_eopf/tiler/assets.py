"""Third-party browser assets (MapLibre GL, Swagger UI), served by the app itself.

They come from the npm registry (``package.json``), never from the internet at
page load and never committed. Two places are looked up, in order:

* ``<task root>/_vendor/<package>/<name>.gz``: the Lambda bundle, where the bundler
  (``infrastructure/bundling.py``) copies these files gzip-compressed (bundle size);
* ``<repository>/node_modules/<package>/<path>``: a development checkout after
  ``make tools`` (``npm ci``).

Only the files listed in ``VENDOR_FILES`` can be served. This module imports
nothing heavy: the bundler reads ``VENDOR_FILES`` too.
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

# package -> {served name: path inside the npm package}
VENDOR_FILES: dict[str, dict[str, str]] = {
    "maplibre-gl": {
        "maplibre-gl.js": "dist/maplibre-gl.js",
        "maplibre-gl.css": "dist/maplibre-gl.css",
    },
    "swagger-ui-dist": {
        "swagger-ui-bundle.js": "swagger-ui-bundle.js",
        "swagger-ui.css": "swagger-ui.css",
        "favicon-32x32.png": "favicon-32x32.png",
    },
}
VENDOR_DIR_NAME = "_vendor"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}

_TASK_ROOT = Path(__file__).resolve().parents[2]  # lambda_src/ in a checkout, /var/task on Lambda


class AssetMissing(LookupError):
    """A listed asset that is not installed (``make tools`` was not run)."""


def _roots() -> list[tuple[Path, bool]]:
    """(directory, gzip-compressed?) in lookup order."""
    roots = []
    if os.environ.get("TITILER_EOPF_VENDOR_DIR"):
        roots.append((Path(os.environ["TITILER_EOPF_VENDOR_DIR"]), False))
    roots.append((_TASK_ROOT / VENDOR_DIR_NAME, True))
    roots.append((_TASK_ROOT.parent / "node_modules", False))
    return roots


def media_type(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


def is_listed(package: str, name: str) -> bool:
    return name in VENDOR_FILES.get(package, {})


@functools.cache
def read_asset(package: str, name: str) -> bytes:
    """The asset's bytes (uncompressed; the app's compression middleware compresses
    per client). Read once per process."""
    source = VENDOR_FILES[package][name]
    for root, compressed in _roots():
        if compressed:
            path = root / package / f"{name}.gz"
            if path.is_file():
                return gzip.decompress(path.read_bytes())
        else:
            path = root / package / source
            if path.is_file():
                return path.read_bytes()
    raise AssetMissing(
        f"{package}/{source} is not installed: run `make tools` (npm ci) in the repository "
        "(a Lambda bundle carries it under _vendor/)"
    )


def vendor_versions(package_json: Path) -> dict[str, str]:
    """The pinned versions of the vendored packages (``dependencies`` of package.json)."""
    import json

    deps = json.loads(package_json.read_text()).get("dependencies", {})
    return {name: deps[name] for name in VENDOR_FILES if name in deps}
