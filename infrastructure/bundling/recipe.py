"""The recipe: what goes into the Lambda bundle and what the Lambda runtime demands of it.

Constants only (no I/O), read by every other module of the package. Change
:data:`BUILDER_VERSION` whenever the processing changes.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO_ROOT / "lambda_src"
REQUIREMENTS_NAME = "requirements.txt"

# Bump when the processing changes: it keys the dependency cache and is part of the CDK
# asset hash (through the bundling environment), so a change redeploys.
BUILDER_VERSION = "6"

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: "Unzipped size must be smaller than 262144000 bytes"
BUNDLE_SIZE_TARGET = 200 * 1024 * 1024
LAMBDA_TASK_ROOT = "/var/task"

# Amazon Linux 2023 (Lambda python3.12): glibc 2.34, libstdc++ from GCC 11.
MAX_GLIBC = (2, 34)
MAX_GLIBCXX = (3, 4, 29)
MAX_CXXABI = (1, 3, 13)
# Libraries an .so may need without the bundle shipping them (Lambda base image).
SYSTEM_LIBRARIES = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libutil.so.1",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
        "libstdc++.so.6",
        "libgcc_s.so.1",
        "libz.so.1",
    }
)

# Provided by the Lambda Python runtime (/var/runtime): never shipped in the bundle.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")

# pip's --platform tags per Lambda architecture, newest first.
PLATFORMS = {
    arch: [f"manylinux_2_{minor}_{machine}" for minor in (34, 28, 27, 26, 24, 17)]
    + [f"manylinux2014_{machine}"]
    for arch, machine in (("x86_64", "x86_64"), ("arm64", "aarch64"))
}
GNU_TRIPLET = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
ELF_MACHINE = {"x86_64": "Advanced Micro Devices X86-64", "arm64": "AArch64"}

# Directories removed from the installed dependencies (never imported at runtime).
PRUNE_DIRS = frozenset({"tests", "__pycache__"})
# Files removed from the installed dependencies.
PRUNE_SUFFIXES = (".pyi", ".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".hpp")
# Never imported at runtime (numpy's Fortran wrapper generator, PyInstaller hooks, docs).
PRUNE_PATHS = ("numpy/f2py", "numpy/_pyinstaller", "numpy/doc")
# Files never read by this app (globs): numpy's extension modules that exist only for its own
# test suite, and GDAL data of drivers and services it never uses (ECW, ESRI State Plane,
# NITF, GRIB2, PDF, logos). Together ~3 MB, which keeps arm64 under BUNDLE_SIZE_TARGET.
PRUNE_GLOBS = (
    "numpy/_core/_*_tests.cpython-*.so",
    "numpy/_core/_simd.cpython-*.so",
    "rasterio/gdal_data/ecw_cs.wkt",
    "rasterio/gdal_data/esri_StatePlane_extra.wkt",
    "rasterio/gdal_data/nitf_spec.xml",
    "rasterio/gdal_data/grib2_*.csv",
    "rasterio/gdal_data/pdfcomposition.xsd",
    "rasterio/gdal_data/GDALLogo*.svg",
    "rasterio/gdal_data/gdalicon.png",
)
# Shared objects that are not stripped (numpy's OpenBLAS, as titiler's own build does).
NO_STRIP_DIRS = ("numpy.libs",)
# Compiled without docstrings and asserts (python -OO): pandas' .pyc are two-thirds docstrings
# (29 -> 25.5 MB); pandas supports running optimized. Sourceless .pyc load whatever -O says.
DOCSTRING_FREE = ("pandas",)

# What is never copied from lambda_src/ into the bundle (shutil.ignore_patterns syntax) ...
SOURCE_EXCLUDES = (
    "tests",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    "*.egg-info",
    ".ruff_cache",
)
# ... and the same for the CDK asset fingerprint (cdk `exclude` glob syntax).
ASSET_EXCLUDES = [f"**/{pattern}" for pattern in SOURCE_EXCLUDES]

# The rasterio wheel's GDAL needs libexpat, which the Lambda runtime does not ship.
EXPAT_SONAME = "libexpat.so.1"
EXPAT_DIR = "rasterio.libs"

# Pure-Python packages imported from one zip (zipimport) instead of loose files: Lambda counts
# the zip at its compressed size (~30 MiB of .pyc -> ~10 MiB). Only packages that read no data
# file by path (importlib.resources works from a zip; titiler's, rio-tiler's and morecantile's
# templates, colormaps and TMS files are read by path, so those stay loose; opentelemetry is a
# namespace package, which zipimport cannot import). titiler_eopf puts
# the zip on sys.path (after the loose packages) when it is imported.
ZIPPED_PACKAGES = (
    "xarray",
    "pydantic",
    "zarr",
    "redis",
    "aws_lambda_powertools",
    "pystac",
    "fastapi",
    "anyio",
    "jinja2",
    "pyparsing",
    "packaging",
    "click",
    "httpx2",
    "httpcore2",
    "starlette",
    "dateutil",
    "pydantic_settings",
    "idna",
    "h11",
    "cachetools",
    "mangum",
    "donfig",
    "dotenv",
    "attr",
    "attrs",
    "affine",
    "geojson_pydantic",
    "typing_inspection",
    "annotated_types",
    "annotated_doc",
    "rioxarray",
    "tzdata",
    "starlette_cramjam",
)
PACKAGES_ZIP = "_packages.zip"

# The browser assets the app serves: the app's own list, read from its source as data.
VENDOR_LIST_FILE = Path("titiler_eopf") / "tiler" / "assets.py"
VENDOR_LIST_NAME = "VENDOR_FILES"
VENDOR_DIR_NAME = "_vendor"
