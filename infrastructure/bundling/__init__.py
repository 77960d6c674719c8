"""Build the Lambda bundle without Docker; one module per job.

The bundle is a directory that AWS Lambda unpacks in ``/var/task``:

* the runtime dependencies pinned in ``lambda_src/requirements.txt``, installed by Python
  3.12's pip for the Lambda platform, slimmed and compiled (:mod:`.dependencies`,
  :mod:`.bytecode`);
* the contents of ``lambda_src/`` (without tests and caches), with .py kept beside
  hash-based bytecode so tracebacks show our own source lines (:mod:`.assemble`);
* ``rasterio.libs/libexpat.so.1``, built from Debian's source for the runtime's glibc 2.34
  (:mod:`.libexpat`, :mod:`.debian_source`, :mod:`.toolchain`), checked with readelf like
  every shared object of the bundle (:mod:`.elf`);
* the browser assets the app serves (:mod:`.vendor`), and two space savers (:mod:`.slim`).

What it must satisfy is in :mod:`.recipe`; the build cache (``~/.cache/titiler-eopf``,
``TITILER_EOPF_BUILD_CACHE``), errors and the subprocess runner in :mod:`.common`. The CDK
glue (``ILocalBundling``, Docker only when asked for) is :mod:`.cdk`, imported only by the stack, so
building a bundle needs no CDK. Command line: ``scripts/build_bundle.py --help``.
"""

from .assemble import BundleReport, build_bundle, verify_bundle
from .common import BundleError, ToolchainUnavailable, cache_root, dir_size
from .dependencies import build_dependencies
from .elf import ElfInfo, check_elf_compat, elf_info, shared_objects
from .libexpat import build_libexpat
from .recipe import (
    BUNDLE_SIZE_TARGET,
    ELF_MACHINE,
    LAMBDA_UNZIPPED_LIMIT,
    PACKAGES_ZIP,
    PLATFORMS,
    RUNTIME_PROVIDED,
    SOURCE_DIR,
)
from .slim import zipped_size
from .toolchain import find_python312
from .vendor import copy_vendor_assets, vendor_versions

__all__ = [
    "BUNDLE_SIZE_TARGET",
    "ELF_MACHINE",
    "LAMBDA_UNZIPPED_LIMIT",
    "PACKAGES_ZIP",
    "PLATFORMS",
    "RUNTIME_PROVIDED",
    "SOURCE_DIR",
    "BundleError",
    "BundleReport",
    "ElfInfo",
    "ToolchainUnavailable",
    "build_bundle",
    "build_dependencies",
    "build_libexpat",
    "cache_root",
    "check_elf_compat",
    "copy_vendor_assets",
    "dir_size",
    "elf_info",
    "find_python312",
    "shared_objects",
    "vendor_versions",
    "verify_bundle",
    "zipped_size",
]
