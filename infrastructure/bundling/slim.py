"""The bundle's space savers (undone by ``titiler_eopf`` at import) and its zipped size.

* PROJ's 10 MB database shipped once: pyproj and rasterio each ship the same PROJ release;
  pyproj's copy goes when both are the same PROJ version (the app then points PROJ_DATA at
  rasterio's copy before pyproj is imported);
* the pure-Python packages of :data:`ZIPPED_PACKAGES` as one zip on ``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from .common import BundleError, log
from .elf import is_shared_object_name
from .recipe import PACKAGES_ZIP, ZIPPED_PACKAGES


def _proj_version(libs: Path) -> str | None:
    found = sorted(libs.glob("libproj-*.so.*"))
    return found[0].name.split(".so.", 1)[1] if found else None


def ship_proj_data_once(output_dir: Path) -> None:
    pyproj_data = output_dir / "pyproj" / "proj_dir" / "share" / "proj"
    rasterio_data = output_dir / "rasterio" / "proj_data"
    same_proj = _proj_version(output_dir / "pyproj.libs") == _proj_version(
        output_dir / "rasterio.libs"
    )
    if same_proj and (rasterio_data / "proj.db").is_file() and pyproj_data.is_dir():
        shutil.rmtree(pyproj_data)
        log("PROJ data shipped once (rasterio/proj_data)")


def zip_pure_python_packages(output_dir: Path) -> None:
    zipped = [name for name in ZIPPED_PACKAGES if (output_dir / name).is_dir()]
    with zipfile.ZipFile(
        output_dir / PACKAGES_ZIP, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as zf:
        for name in zipped:
            for path in sorted((output_dir / name).rglob("*")):
                if path.is_file():
                    if is_shared_object_name(path.name):
                        raise BundleError(f"{path} is a shared object: {name} cannot be zipped")
                    zf.write(path, path.relative_to(output_dir).as_posix())
    for name in zipped:
        shutil.rmtree(output_dir / name)
    log(f"zipped {len(zipped)} pure-Python packages into {PACKAGES_ZIP}")


def slim_bundle(output_dir: Path) -> None:
    """Ship PROJ's database once and the pure-Python packages as one zip."""
    ship_proj_data_once(output_dir)
    zip_pure_python_packages(output_dir)


def zipped_size(output_dir: Path) -> int:
    """Size of the bundle zipped with deflate (what is uploaded; for reporting)."""
    with tempfile.TemporaryFile() as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for dirpath, _dirs, files in os.walk(output_dir):
                for name in files:
                    p = Path(dirpath, name)
                    zf.write(p, p.relative_to(output_dir))
        fh.seek(0, os.SEEK_END)
        return fh.tell()
