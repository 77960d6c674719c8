"""TiTiler-EOPF: tiles of ESA EOPF Zarr products, with a tile cache, on AWS Lambda."""

__version__ = "0.1.0"


def _bundle_layout() -> None:
    """The Lambda bundle's two space savers (infrastructure/bundling.py), undone at import:

    - pure-Python dependencies live in ``_packages.zip`` beside this package: put it on
      sys.path, after the loose packages;
    - PROJ's database ships once, in rasterio: point pyproj (which reads PROJ_DATA) at it.

    A development venv has neither, and nothing changes there.
    """
    import os
    import sys
    from pathlib import Path

    task_root = Path(__file__).resolve().parent.parent
    packages = task_root / "_packages.zip"
    if packages.is_file() and str(packages) not in sys.path:
        sys.path.append(str(packages))
    proj_data = task_root / "rasterio" / "proj_data"
    pyproj_data = task_root / "pyproj" / "proj_dir" / "share" / "proj"
    if (
        "PROJ_DATA" not in os.environ
        and (task_root / "pyproj").is_dir()
        and not pyproj_data.is_dir()
        and (proj_data / "proj.db").is_file()
    ):
        os.environ["PROJ_DATA"] = str(proj_data)


_bundle_layout()
