"""The browser assets the app serves (MapLibre GL, Swagger UI), from ``node_modules`` into
the bundle's ``_vendor/``, gzip-compressed.

Which files, the app decides: its ``VENDOR_FILES`` (``titiler_eopf/tiler/assets.py``) is
read from the asset's source as a literal, never imported or executed, so this package
knows ``lambda_src/`` only as the asset's path.
"""

from __future__ import annotations

import ast
import gzip
import json
from pathlib import Path

from .common import BundleError, log
from .recipe import REPO_ROOT, SOURCE_DIR, VENDOR_DIR_NAME, VENDOR_LIST_FILE, VENDOR_LIST_NAME


def vendor_files(source_dir: Path = SOURCE_DIR) -> dict[str, dict[str, str]]:
    """The app's ``VENDOR_FILES`` (npm package -> {served name: path in the package})."""
    path = source_dir / VENDOR_LIST_FILE
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == VENDOR_LIST_NAME for t in targets):
                try:
                    return ast.literal_eval(node.value)
                except ValueError:
                    break
    raise BundleError(f"{path}: {VENDOR_LIST_NAME} must be assigned a literal dict")


def vendor_versions() -> str:
    """The npm versions of the browser assets (part of the asset hash: an upgrade redeploys)."""
    deps = json.loads((REPO_ROOT / "package.json").read_text()).get("dependencies", {})
    return ",".join(f"{name}@{deps.get(name, '?')}" for name in sorted(vendor_files()))


def copy_vendor_assets(output_dir: Path, node_modules: Path | None = None) -> list[str]:
    """Copy the listed files from node_modules (``make tools``), gzip-compressed into
    ``_vendor/`` where the app reads them (~0.8 MB instead of ~3 MB: the bundle has a size
    target). Missing ones are reported: the viewer and /docs then answer 404 naming ``make
    tools``. Returns what was missing."""
    node_modules = node_modules or REPO_ROOT / "node_modules"
    missing = []
    for package, names in vendor_files().items():
        for name, source in names.items():
            src = node_modules / package / source
            if not src.is_file():
                missing.append(f"{package}/{source}")
                continue
            dst = Path(output_dir) / VENDOR_DIR_NAME / package / f"{name}.gz"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(gzip.compress(src.read_bytes(), compresslevel=9, mtime=0))
    if missing:
        log(
            f"WARNING: browser assets not installed ({', '.join(missing)}): run `make tools`; "
            "the map viewer and /docs of this bundle will not load"
        )
    return missing
