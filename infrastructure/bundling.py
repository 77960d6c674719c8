"""Build the Lambda bundle without Docker (and the CDK ``ILocalBundling`` that uses it).

The bundle is a directory that AWS Lambda unpacks in ``/var/task``:

* the runtime dependencies pinned in ``lambda_src/requirements.txt``, installed by
  Python 3.12's pip for the Lambda platform (manylinux wheels only), without the
  packages the Lambda runtime already provides (boto3, botocore, s3transfer, jmespath);
  ``tests/`` folders, ``__pycache__``, type stubs, Cython sources and headers removed,
  shared objects stripped (except ``numpy.libs``: its OpenBLAS), sources replaced by
  sourceless Python 3.12 bytecode (Lambda's ``/var/task`` is read-only: without .pyc
  every cold start compiles everything again, ~4 s instead of ~1.4 s);
* the contents of ``lambda_src/`` (without tests and caches), with .py kept beside
  hash-based (``unchecked-hash``) bytecode so tracebacks show our own source lines;
* ``rasterio.libs/libexpat.so.1``: the rasterio wheel's GDAL needs libexpat, which the
  Lambda python3.12 runtime (Amazon Linux 2023, glibc 2.34) does not ship; Debian's
  copy needs GLIBC_2.36 (arc4random_buf), so it is built here from Debian's ``expat``
  source package with ``-DHAVE_ARC4RANDOM_BUF=0 -DHAVE_ARC4RANDOM=0`` (expat then
  uses getrandom, GLIBC_2.25). For arm64 on an x86_64 host it is cross-compiled with
  Debian's ``gcc-aarch64-linux-gnu`` (+ ``libc6-dev-arm64-cross``; installed with apt-get
  from the system's sources if missing, when running as root, unless
  ``TITILER_EOPF_NO_APT=1``) through a CMake toolchain file; expat's own tests then run
  only if qemu-user (and the cross g++) is there. Either way the result is checked with
  ``readelf`` (target machine, no GLIBC_2.35+).

What is slow and safe to reuse is cached in ``~/.cache/titiler-eopf/`` (override with
``TITILER_EOPF_BUILD_CACHE``): pip's wheel cache, the built libexpat (keyed by Debian
version and architecture) and the processed dependency tree (keyed by the requirements
hash, architecture, Python version and :data:`BUILDER_VERSION`). Cache entries are
written to a temporary directory and renamed into place, so concurrent builds are safe.

Command line (``python -m infrastructure.bundling --help``)::

    python -m infrastructure.bundling                 # -> build/lambda-x86_64
    python -m infrastructure.bundling --arch arm64 --out build/lambda-arm64
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = REPO_ROOT / "lambda_src"
REQUIREMENTS_NAME = "requirements.txt"

# Bump when the processing below changes: it keys the dependency cache and is part
# of the CDK asset hash (through the bundling environment), so a change redeploys.
BUILDER_VERSION = "5"

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes, "Unzipped size must be smaller than 262144000 bytes"
BUNDLE_SIZE_TARGET = 200 * 1024 * 1024
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

PLATFORMS = {
    "x86_64": [
        "manylinux_2_34_x86_64",
        "manylinux_2_28_x86_64",
        "manylinux_2_27_x86_64",
        "manylinux_2_26_x86_64",
        "manylinux_2_24_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
    ],
    "arm64": [
        "manylinux_2_34_aarch64",
        "manylinux_2_28_aarch64",
        "manylinux_2_27_aarch64",
        "manylinux_2_26_aarch64",
        "manylinux_2_24_aarch64",
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
    ],
}
GNU_TRIPLET = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
ELF_MACHINE = {"x86_64": "Advanced Micro Devices X86-64", "arm64": "AArch64"}

# Directories removed from the installed dependencies (never imported at runtime).
PRUNE_DIRS = frozenset({"tests", "__pycache__"})
# Files removed from the installed dependencies.
PRUNE_SUFFIXES = (".pyi", ".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".hpp")
# Shared objects that are not stripped (numpy's OpenBLAS, as titiler's own build does).
NO_STRIP_DIRS = ("numpy.libs",)
# What is never copied from lambda_src/ into the bundle.
SOURCE_EXCLUDES = (
    "tests",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    "*.egg-info",
    ".ruff_cache",
)
# Same exclusions for the CDK asset fingerprint (cdk `exclude` glob syntax).
ASSET_EXCLUDES = [
    "**/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/*.egg-info",
    "**/.ruff_cache",
]

EXPAT_SONAME = "libexpat.so.1"
LAMBDA_TASK_ROOT = "/var/task"

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
# Compiled without docstrings and asserts (python -OO): pandas' .pyc are two-thirds docstrings
# (29 -> 25.5 MB); pandas supports running optimized. Sourceless .pyc load whatever -O says.
DOCSTRING_FREE = ("pandas",)
# Never imported at runtime (numpy's Fortran wrapper generator, PyInstaller hooks, docs).
PRUNE_PATHS = ("numpy/f2py", "numpy/_pyinstaller", "numpy/doc")


class BundleError(RuntimeError):
    """The bundle cannot be built or fails a check."""


class ToolchainUnavailable(BundleError):
    """A tool the local build needs is missing (CDK then falls back to Docker)."""


def log(message: str) -> None:
    print(f"[bundle] {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    env = os.environ.get("TITILER_EOPF_BUILD_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "titiler-eopf"


def find_python312() -> str:
    """A Python 3.12 interpreter: the current one if it is 3.12, else a well-known path."""
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    candidates = [os.environ.get("TITILER_EOPF_PYTHON312", "")]
    candidates.append(shutil.which("python3.12") or "")
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [
        str(p) for p in sorted((pyenv_root / "versions").glob("3.12*/bin/python3.12"), reverse=True)
    ]
    candidates += ["/usr/local/bin/python3.12", "/usr/bin/python3.12"]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "3.12":
            return candidate
    raise ToolchainUnavailable("no Python 3.12 interpreter found (set TITILER_EOPF_PYTHON312)")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise BundleError(
            f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def _atomic_publish(tmp_dir: Path, final_dir: Path) -> Path:
    """Rename a finished cache entry into place; another process may have won the race."""
    try:
        os.rename(tmp_dir, final_dir)
    except OSError:
        if not final_dir.exists():
            raise
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


# --------------------------------------------------------------------------- ELF checks


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


@dataclass
class ElfInfo:
    path: Path
    machine: str = ""
    needed: list[str] = field(default_factory=list)
    glibc: set[str] = field(default_factory=set)
    glibcxx: set[str] = field(default_factory=set)
    cxxabi: set[str] = field(default_factory=set)

    @property
    def max_glibc(self) -> tuple[int, ...]:
        return max((_version_tuple(v) for v in self.glibc), default=(0,))


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_info(path: Path) -> ElfInfo:
    """``readelf -h -d -V``: machine, DT_NEEDED and the version needs (GLIBC_x.y...)."""
    out = _run(["readelf", "-W", "-h", "-d", "-V", str(path)]).stdout
    info = ElfInfo(path=path)
    m = re.search(r"Machine:\s+(.+)", out)
    info.machine = m.group(1).strip() if m else ""
    info.needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    # Only the version-needs section (".gnu.version_r") lists requirements;
    # the version-definition section of libc-like libraries would be false positives.
    needs = out.split("Version needs section", 1)
    if len(needs) == 2:
        section = needs[1]
        info.glibc = set(re.findall(r"Name: GLIBC_([0-9.]+)", section))
        info.glibcxx = set(re.findall(r"Name: GLIBCXX_([0-9.]+)", section))
        info.cxxabi = set(re.findall(r"Name: CXXABI_([0-9.]+)", section))
    return info


def shared_objects(root: Path) -> list[Path]:
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if ".so" in name and (name.endswith(".so") or ".so." in name):
                p = Path(dirpath, name)
                if not p.is_symlink() and is_elf(p):
                    found.append(p)
    return sorted(found)


def check_elf_compat(root: Path, arch: str) -> list[str]:
    """Problems with the shared objects of a bundle (empty list: all good)."""
    problems = []
    infos = [elf_info(p) for p in shared_objects(root)]
    shipped = {name for _dirpath, _dirs, files in os.walk(root) for name in files if ".so" in name}
    for info in infos:
        rel = info.path.relative_to(root)
        if ELF_MACHINE[arch] not in info.machine:
            problems.append(f"{rel}: built for {info.machine!r}, not {arch}")
        too_new = sorted(v for v in info.glibc if _version_tuple(v) > MAX_GLIBC)
        if too_new:
            problems.append(
                f"{rel}: needs GLIBC_{', GLIBC_'.join(too_new)} (runtime has {'.'.join(map(str, MAX_GLIBC))})"
            )
        too_new = sorted(v for v in info.glibcxx if _version_tuple(v) > MAX_GLIBCXX)
        if too_new:
            problems.append(f"{rel}: needs GLIBCXX_{', GLIBCXX_'.join(too_new)}")
        too_new = sorted(v for v in info.cxxabi if _version_tuple(v) > MAX_CXXABI)
        if too_new:
            problems.append(f"{rel}: needs CXXABI_{', CXXABI_'.join(too_new)}")
        for lib in info.needed:
            if lib not in SYSTEM_LIBRARIES and lib not in shipped:
                problems.append(
                    f"{rel}: needs {lib}, which is neither in the bundle nor in the Lambda runtime"
                )
    return problems


# --------------------------------------------------------------------------- libexpat


def _apt_options(work: Path) -> list[str]:
    """apt options that use a private deb-src list and state (the system is untouched)."""
    etc = work / "etc"
    (etc / "sources.list.d").mkdir(parents=True, exist_ok=True)
    (work / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (work / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (etc / "sources.list").write_text("")
    (etc / "sources.list.d" / "deb-src.sources").write_text(
        "Types: deb-src\n"
        "URIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates trixie trixie-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security trixie-security\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    return [
        f"-oDir::Etc::sourcelist={etc / 'sources.list'}",
        f"-oDir::Etc::sourceparts={etc / 'sources.list.d'}",
        f"-oDir::State::Lists={work / 'lists'}",
        f"-oDir::Cache={work / 'cache'}",
        "-oAPT::Sandbox::User=root",
        "-qq",
    ]


def _debian_version_key(version: str) -> list:
    """Good-enough ordering of Debian versions (dpkg --compare-versions is authoritative)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", version)]


def fetch_expat_source(work: Path, prefer: str | None = None) -> tuple[str, Path]:
    """Download and unpack Debian's newest available ``expat`` source; returns (version, dir).

    ``prefer`` (a Debian version, e.g. the one already built for the other architecture)
    is tried first so both bundles ship the same libexpat.
    """
    for tool in ("apt-get", "apt-cache", "dpkg-source"):
        if not shutil.which(tool):
            raise ToolchainUnavailable(f"{tool} not found: cannot fetch Debian's expat source")
    opts = _apt_options(work)
    _run(["apt-get", *opts, "update"])
    showsrc = _run(["apt-cache", *opts, "showsrc", "expat"]).stdout
    versions = sorted(
        set(re.findall(r"^Version: (\S+)", showsrc, re.M)), key=_debian_version_key, reverse=True
    )
    pinned = os.environ.get("TITILER_EOPF_EXPAT_VERSION")
    if pinned:
        versions = [pinned]
    elif prefer in versions:
        versions = [prefer] + [v for v in versions if v != prefer]
    errors = []
    download = work / "src"
    for version in versions:  # the mirror does not serve every indexed version
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir()
        result = subprocess.run(
            ["apt-get", *opts, "source", "--download-only", f"expat={version}"],
            cwd=download,
            capture_output=True,
            text=True,
        )
        dsc = list(download.glob("*.dsc"))
        if result.returncode == 0 and dsc:
            _run(["dpkg-source", "--no-check", "-x", str(dsc[0]), "expat"], cwd=download)
            log(f"expat source {version}")
            return version, download / "expat"
        errors.append(f"{version}: {result.stderr.strip().splitlines()[-1:]}")
    raise BundleError(f"no expat source could be downloaded: {errors}")


# Debian's cross compiler and the target's libc headers/startup files (only a Recommends
# of gcc-<triplet>): gcc-aarch64-linux-gnu + libc6-dev-arm64-cross.
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}


def _cross_packages(arch: str) -> list[str]:
    return [f"gcc-{GNU_TRIPLET[arch]}", f"libc6-dev-{DEBIAN_ARCH[arch]}-cross"]


def _cross_compiler(arch: str) -> str | None:
    """``<triplet>-gcc`` if it is installed together with the target's libc development files."""
    triplet = GNU_TRIPLET[arch]
    cc = shutil.which(f"{triplet}-gcc")
    return cc if cc and (Path("/usr") / triplet / "lib" / "crti.o").is_file() else None


def _host_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def ensure_cross_compiler(arch: str, root: Path | None = None) -> str:
    """Path to ``<triplet>-gcc``; installs Debian's ``gcc-<triplet>`` with apt-get if missing.

    Only the binary package is installed, from the system's own apt sources (left as they
    are). Installing needs root and apt-get; ``TITILER_EOPF_NO_APT=1`` forbids it. Without a
    compiler the local build is unavailable (CDK then falls back to Docker).
    """
    triplet = GNU_TRIPLET[arch]
    cc = _cross_compiler(arch)
    if cc:
        return cc
    packages = _cross_packages(arch)
    hint = f"cross-compiling libexpat for {arch} needs {triplet}-gcc (apt-get install {' '.join(packages)}, or make tools)"
    if (
        os.environ.get("TITILER_EOPF_NO_APT") == "1"
        or not shutil.which("apt-get")
        or os.geteuid() != 0
    ):
        raise ToolchainUnavailable(hint)
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".apt-install.lock", "w") as lock:  # one installer at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        cc = _cross_compiler(arch)
        if cc:
            return cc
        log(f"installing {' '.join(packages)} with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
        result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0:  # stale package lists: refresh once, then retry
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=env)
            result = subprocess.run(install, capture_output=True, text=True, env=env)
        cc = _cross_compiler(arch)
        if result.returncode != 0 or not cc:
            raise ToolchainUnavailable(f"{hint}: apt-get failed: {result.stderr.strip()[-1000:]}")
    return cc


def _qemu_for(arch: str) -> str | None:
    """A qemu-user binary able to run ``arch`` executables (to run expat's tests), if any."""
    name = {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    return shutil.which(f"qemu-{name}") or shutil.which(f"qemu-{name}-static")


def _cmake_toolchain_file(
    work: Path, arch: str, cc: str, cxx: str | None, emulator: str | None
) -> Path:
    """A CMake toolchain file for cross-compiling to ``arch`` with Debian's cross gcc."""
    triplet = GNU_TRIPLET[arch]
    sysroot = Path("/usr") / triplet  # where Debian's libc6-dev-<arch>-cross puts headers/libs
    lines = [
        "set(CMAKE_SYSTEM_NAME Linux)",
        f"set(CMAKE_SYSTEM_PROCESSOR {triplet.split('-')[0]})",
        f"set(CMAKE_C_COMPILER {cc})",
    ]
    if cxx:
        lines.append(f"set(CMAKE_CXX_COMPILER {cxx})")
    lines += [
        f"set(CMAKE_FIND_ROOT_PATH {sysroot})",
        "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)",
    ]
    if emulator:
        lines.append(f'set(CMAKE_CROSSCOMPILING_EMULATOR "{emulator};-L;{sysroot}")')
    path = work / f"toolchain-{arch}.cmake"
    path.write_text("\n".join(lines) + "\n")
    return path


def build_libexpat(arch: str = "x86_64", root: Path | None = None) -> Path:
    """Path to a cached ``libexpat.so.1`` for ``arch`` that needs no glibc newer than 2.34."""
    root = root or cache_root()
    existing = sorted((root / "libexpat").glob(f"*-{arch}/{EXPAT_SONAME}"))
    pinned = os.environ.get("TITILER_EOPF_EXPAT_VERSION")
    if pinned:
        existing = [p for p in existing if p.parent.name == f"{pinned}-{arch}"]
    if existing and not os.environ.get("TITILER_EOPF_REBUILD_EXPAT"):
        return existing[-1]
    for tool in ("cmake", "make"):
        if not shutil.which(tool):
            raise ToolchainUnavailable(f"{tool} not found: cannot build libexpat")
    triplet = GNU_TRIPLET[arch]
    cross = _host_arch() != arch
    cc = ensure_cross_compiler(arch, root) if cross else None
    # expat's tests (C and C++) run under qemu-user when cross-compiling, if it is there.
    cxx = shutil.which(f"{triplet}-g++") if cross else None
    emulator = _qemu_for(arch) if cross and cxx else None
    run_tests = not cross or emulator is not None
    started = time.monotonic()
    (root / "libexpat").mkdir(parents=True, exist_ok=True)
    # Same Debian version as an existing build for another architecture, if there is one.
    others = sorted(
        p.name.rsplit("-", 1)[0]
        for p in (root / "libexpat").glob("*-*")
        if (p / EXPAT_SONAME).is_file()
    )
    with tempfile.TemporaryDirectory(prefix="expat-", dir=root / "libexpat") as tmp:
        work = Path(tmp)
        version, src = fetch_expat_source(work, prefer=others[-1] if others else None)
        cmake_args = []
        if cross:
            cmake_args.append(
                f"-DCMAKE_TOOLCHAIN_FILE={_cmake_toolchain_file(work, arch, cc, cxx, emulator)}"
            )
        expat_dir = src / "expat"
        # CMake's config header defines XML_DTD/XML_NS without a value, but Debian's
        # security patches test "#if XML_DTD == 1" (they build with autotools).
        header = expat_dir / "expat_config.h.cmake"
        header.write_text(
            re.sub(
                r"^#cmakedefine (XML_DTD|XML_NS)$",
                r"#cmakedefine \1 1",
                header.read_text(),
                flags=re.M,
            )
        )
        build = work / "build"
        _run(
            [
                "cmake", "-S", str(expat_dir), "-B", str(build),
                "-DCMAKE_BUILD_TYPE=Release",
                "-DEXPAT_SHARED_LIBS=ON",
                "-DEXPAT_BUILD_TOOLS=OFF",
                "-DEXPAT_BUILD_EXAMPLES=OFF",
                "-DEXPAT_BUILD_DOCS=OFF",
                f"-DEXPAT_BUILD_TESTS={'ON' if run_tests else 'OFF'}",
                # No arc4random (GLIBC_2.36): expat falls back to getrandom (GLIBC_2.25).
                "-DHAVE_ARC4RANDOM_BUF=0",
                "-DHAVE_ARC4RANDOM=0",
                *cmake_args,
            ]
        )  # fmt: skip
        _run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)])
        if emulator:
            # ctest would exec the test programs directly (bash run.sh FILE): run them under qemu.
            for program in ("runtests", "runtestspp"):
                _run(
                    [emulator, "-L", str(Path("/usr") / triplet), str(build / "tests" / program)],
                    cwd=build,
                )
        elif run_tests:
            _run(["ctest", "--output-on-failure"], cwd=build)
        tests = (
            "expat's tests passed" + (f" (under {Path(emulator).name})" if emulator else "")
            if run_tests
            else "expat's tests not run (cross-compiled, no qemu-user)"
        )
        built = (build / EXPAT_SONAME).resolve()
        info = elf_info(built)
        if ELF_MACHINE[arch] not in info.machine:
            raise BundleError(f"libexpat {version} was built for {info.machine!r}, not {arch}")
        if info.max_glibc > MAX_GLIBC:
            raise BundleError(
                f"libexpat {version} needs GLIBC_{'.'.join(map(str, info.max_glibc))} > 2.34"
            )
        staged = work / "out"
        staged.mkdir()
        shutil.copy2(built, staged / EXPAT_SONAME)
        _strip([staged / EXPAT_SONAME], arch)
        compiler = (
            f"cross-compiled with {Path(cc).name} ({_run([cc, '-dumpfullversion']).stdout.strip()})"
            if cross
            else "native build"
        )
        (staged / "SOURCE").write_text(
            f"Debian expat {version}, cmake -DHAVE_ARC4RANDOM_BUF=0 -DHAVE_ARC4RANDOM=0\n"
            f"{compiler}; {tests}\n"
            f"Machine: {info.machine}\nGLIBC needs: {sorted(info.glibc, key=_version_tuple)}\n"
        )
        final = _atomic_publish(staged, root / "libexpat" / f"{version}-{arch}")
    log(
        f"built libexpat {version} for {arch} in {time.monotonic() - started:.1f}s ({compiler}; {tests})"
    )
    return final / EXPAT_SONAME


# --------------------------------------------------------------------------- dependencies


def _strip(paths: list[Path], arch: str) -> None:
    strip = shutil.which(f"{GNU_TRIPLET[arch]}-strip") or shutil.which("strip")
    if not strip:
        log("strip not found: shared objects left unstripped")
        return
    for i in range(0, len(paths), 200):
        chunk = [str(p) for p in paths[i : i + 200]]
        result = subprocess.run([strip, "--strip-unneeded", *chunk], capture_output=True, text=True)
        if result.returncode != 0:
            # e.g. the host strip cannot handle another architecture: strip one by one, keep going
            for p in chunk:
                subprocess.run([strip, "--strip-unneeded", p], capture_output=True)


def requirements_key(requirements: Path, arch: str) -> str:
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(
        json.dumps(
            [arch, BUILDER_VERSION, PLATFORMS[arch], RUNTIME_PROVIDED, sys.version_info[:2]]
        ).encode()
    )
    return digest.hexdigest()[:16]


def _compile_tree(
    python: str, target: Path, legacy: bool, runtime_dir: str = LAMBDA_TASK_ROOT
) -> None:
    """Compile every .py to 3.12 bytecode (hash-based, unchecked: no mtime dependency).

    File names recorded in the bytecode are those on Lambda (``/var/task/...``), so
    tracebacks point at the deployed files, not at the build machine's temp dirs.
    """
    script = (
        "import compileall, sys, py_compile\n"
        "ok = compileall.compile_dir(sys.argv[1], quiet=2, workers=0, legacy=sys.argv[2] == '1',"
        " stripdir=sys.argv[1], prependdir=sys.argv[3],"
        " invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
    )
    subprocess.run(
        [python, "-c", script, str(target), "1" if legacy else "0", runtime_dir],
        check=False,
        capture_output=True,
    )
    if legacy:  # docstrings out of the biggest pure-Python part (-OO), see DOCSTRING_FREE
        optimized = (
            "import compileall, sys, py_compile\n"
            "for d in sys.argv[4:]:\n"
            "    compileall.compile_dir(d, quiet=2, workers=0, legacy=True, force=True, optimize=2,"
            " stripdir=sys.argv[1], prependdir=sys.argv[3],"
            " invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
        )
        dirs = [str(target / d) for d in DOCSTRING_FREE if (target / d).is_dir()]
        if dirs:
            subprocess.run(
                [python, "-c", optimized, str(target), "1", runtime_dir, *dirs],
                check=True,
                capture_output=True,
            )
    if legacy:
        for dirpath, _dirs, files in os.walk(target):
            for name in files:
                if name.endswith(".py") and (name + "c") in files:
                    os.unlink(os.path.join(dirpath, name))


def _prune(target: Path) -> None:
    for dirpath, dirs, files in os.walk(target, topdown=True):
        for d in list(dirs):
            if d in PRUNE_DIRS:
                shutil.rmtree(os.path.join(dirpath, d))
                dirs.remove(d)
        for name in files:
            if name.endswith(PRUNE_SUFFIXES):
                os.unlink(os.path.join(dirpath, name))


def _remove_runtime_provided(target: Path) -> list[str]:
    removed = []
    canon = {re.sub(r"[-_.]+", "_", n).lower() for n in RUNTIME_PROVIDED}
    for entry in target.iterdir():
        base = (
            entry.name.split("-", 1)[0]
            if entry.name.endswith((".dist-info", ".egg-info"))
            else entry.name
        )
        base = re.sub(r"[-_.]+", "_", base.removesuffix(".py")).lower()
        if base in canon:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    return removed


def build_dependencies(
    requirements: Path,
    arch: str = "x86_64",
    root: Path | None = None,
    python: str | None = None,
) -> Path:
    """Install, prune, strip and compile the pinned dependencies; cached by requirements hash."""
    root = root or cache_root()
    final = root / "deps" / f"{arch}-{requirements_key(requirements, arch)}"
    if (final / ".complete").exists():
        return final
    python = python or find_python312()
    (root / "deps").mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{arch}-", dir=root / "deps"))
    try:
        started = time.monotonic()
        cmd = [
            python, "-m", "pip", "install",
            "--target", str(staged),
            "--implementation", "cp",
            "--python-version", "3.12",
            "--only-binary=:all:",
            "--no-compile",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--cache-dir", str(root / "pip"),
            "--quiet",
        ]  # fmt: skip
        for platform in PLATFORMS[arch]:
            cmd += ["--platform", platform]
        cmd += ["-r", str(requirements)]
        env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_NO_INPUT="1")
        _run(cmd, env=env)
        log(f"pip install for {arch}: {time.monotonic() - started:.1f}s")
        removed = _remove_runtime_provided(staged)
        if removed:
            log(f"removed runtime-provided packages: {', '.join(sorted(removed))}")
        shutil.rmtree(staged / "bin", ignore_errors=True)  # console scripts: useless on Lambda
        _prune(staged)
        for path in PRUNE_PATHS:
            shutil.rmtree(staged / path, ignore_errors=True)
        for record in staged.glob(
            "*.dist-info/RECORD"
        ):  # pip's install manifest, not read at runtime
            record.unlink()
        to_strip = [
            p
            for p in shared_objects(staged)
            if not any(part in NO_STRIP_DIRS for part in p.relative_to(staged).parts)
        ]
        _strip(to_strip, arch)
        _compile_tree(python, staged, legacy=True)
        (staged / ".complete").write_text(
            json.dumps(
                {"requirements": requirements.read_text(), "arch": arch, "builder": BUILDER_VERSION}
            )
        )
        log(
            f"dependencies for {arch} ready: {dir_size(staged) / 1e6:.1f} MB, {time.monotonic() - started:.1f}s"
        )
        return _atomic_publish(staged, final)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- the bundle


@dataclass
class BundleReport:
    output_dir: Path
    arch: str
    unzipped_bytes: int
    seconds: float
    expat: Path
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"bundle {self.output_dir} ({self.arch}): {self.unzipped_bytes:,} bytes unzipped "
            f"({self.unzipped_bytes / 1024 / 1024:.1f} MiB, limit {LAMBDA_UNZIPPED_LIMIT:,}), built in {self.seconds:.1f}s"
        )


def _copy_source(source_dir: Path, output_dir: Path) -> None:
    shutil.copytree(
        source_dir,
        output_dir,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(*SOURCE_EXCLUDES, REQUIREMENTS_NAME, "requirements*.txt"),
    )


def _vendor_files() -> dict[str, dict[str, str]]:
    """``VENDOR_FILES`` of the app's assets module, read from the source (no import of the app)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_eopf_assets", SOURCE_DIR / "titiler_eopf" / "tiler" / "assets.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VENDOR_FILES


def vendor_versions() -> str:
    """The npm versions of the browser assets (part of the asset hash: an upgrade redeploys)."""
    deps = json.loads((REPO_ROOT / "package.json").read_text()).get("dependencies", {})
    return ",".join(f"{name}@{deps.get(name, '?')}" for name in sorted(_vendor_files()))


def copy_vendor_assets(output_dir: Path, node_modules: Path | None = None) -> list[str]:
    """The browser assets the app serves (MapLibre GL, Swagger UI), from node_modules (``make
    tools``), gzip-compressed into ``_vendor/`` where ``titiler_eopf.tiler.assets`` reads them
    (~0.8 MB instead of ~3 MB: the bundle has a size target). Missing ones are reported: the
    viewer and /docs then answer 404 naming ``make tools``. Returns what was missing."""
    node_modules = node_modules or REPO_ROOT / "node_modules"
    missing = []
    for package, names in _vendor_files().items():
        for name, source in names.items():
            src = node_modules / package / source
            if not src.is_file():
                missing.append(f"{package}/{source}")
                continue
            dst = Path(output_dir) / "_vendor" / package / f"{name}.gz"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(gzip.compress(src.read_bytes(), compresslevel=9, mtime=0))
    if missing:
        log(
            f"WARNING: browser assets not installed ({', '.join(missing)}): run `make tools`; "
            "the map viewer and /docs of this bundle will not load"
        )
    return missing


def verify_bundle(output_dir: Path, arch: str = "x86_64") -> list[str]:
    """Everything that would make the bundle fail on Lambda (empty list: deployable)."""
    problems = []
    size = dir_size(output_dir)
    if size > LAMBDA_UNZIPPED_LIMIT:
        problems.append(
            f"unzipped size {size:,} bytes exceeds the Lambda limit {LAMBDA_UNZIPPED_LIMIT:,}"
        )
    if not (output_dir / "rasterio.libs" / EXPAT_SONAME).is_file():
        problems.append(f"rasterio.libs/{EXPAT_SONAME} missing")
    for name in RUNTIME_PROVIDED:
        if (output_dir / name).exists():
            problems.append(f"{name} is in the bundle (the Lambda runtime provides it)")
    for dirpath, dirs, _files in os.walk(output_dir):
        for d in dirs:
            if d == "tests":
                problems.append(f"tests directory left: {Path(dirpath, d).relative_to(output_dir)}")
    problems += check_elf_compat(output_dir, arch)
    return problems


def build_bundle(
    output_dir: Path | str,
    arch: str = "x86_64",
    source_dir: Path | str = SOURCE_DIR,
    root: Path | None = None,
    verify: bool = True,
) -> BundleReport:
    """Write the complete Lambda bundle for ``arch`` to ``output_dir`` (emptied first)."""
    if arch not in PLATFORMS:
        raise BundleError(f"architecture must be one of {sorted(PLATFORMS)}, got {arch!r}")
    started = time.monotonic()
    source_dir = Path(source_dir).resolve()
    output_dir = Path(output_dir).resolve()
    requirements = source_dir / REQUIREMENTS_NAME
    if not requirements.is_file():
        raise BundleError(f"{requirements} not found")
    root = root or cache_root()
    expat = build_libexpat(arch, root)
    deps = build_dependencies(requirements, arch, root)
    if output_dir.exists():
        for entry in output_dir.iterdir():  # CDK hands us an existing, empty staging dir
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    output_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        deps, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete")
    )
    (output_dir / "rasterio.libs").mkdir(exist_ok=True)
    shutil.copy2(expat, output_dir / "rasterio.libs" / EXPAT_SONAME)
    _copy_source(source_dir, output_dir)
    copy_vendor_assets(output_dir)
    # Our own package keeps its .py (readable tracebacks) beside unchecked-hash .pyc.
    for entry in source_dir.iterdir():
        if (
            entry.is_dir()
            and (output_dir / entry.name).is_dir()
            and entry.name not in SOURCE_EXCLUDES
        ):
            _compile_tree(
                find_python312(),
                output_dir / entry.name,
                legacy=False,
                runtime_dir=f"{LAMBDA_TASK_ROOT}/{entry.name}",
            )
    slim_bundle(output_dir)
    report = BundleReport(output_dir, arch, dir_size(output_dir), time.monotonic() - started, expat)
    if verify:
        report.problems = verify_bundle(output_dir, arch)
        if report.problems:
            raise BundleError("bundle checks failed:\n  " + "\n  ".join(report.problems))
    log(report.summary())
    return report


def _proj_version(libs: Path) -> str | None:
    found = sorted(libs.glob("libproj-*.so.*"))
    return found[0].name.split(".so.", 1)[1] if found else None


def slim_bundle(output_dir: Path) -> None:
    """Ship PROJ's database once and the pure-Python packages as one zip.

    pyproj and rasterio each ship the same PROJ release with its 10 MB proj.db: pyproj's copy
    goes when both libraries are the same PROJ version (titiler_eopf then points PROJ_DATA at
    rasterio's copy before pyproj is imported).
    """
    pyproj_data = output_dir / "pyproj" / "proj_dir" / "share" / "proj"
    rasterio_data = output_dir / "rasterio" / "proj_data"
    same_proj = _proj_version(output_dir / "pyproj.libs") == _proj_version(
        output_dir / "rasterio.libs"
    )
    if same_proj and (rasterio_data / "proj.db").is_file() and pyproj_data.is_dir():
        shutil.rmtree(pyproj_data)
        log("PROJ data shipped once (rasterio/proj_data)")
    zipped = [name for name in ZIPPED_PACKAGES if (output_dir / name).is_dir()]
    with zipfile.ZipFile(
        output_dir / PACKAGES_ZIP, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as zf:
        for name in zipped:
            for path in sorted((output_dir / name).rglob("*")):
                if path.is_file():
                    if path.suffix in (".so",) or ".so." in path.name:
                        raise BundleError(f"{path} is a shared object: {name} cannot be zipped")
                    zf.write(path, path.relative_to(output_dir).as_posix())
    for name in zipped:
        shutil.rmtree(output_dir / name)
    log(f"zipped {len(zipped)} pure-Python packages into {PACKAGES_ZIP}")


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


# --------------------------------------------------------------------------- CDK


def docker_command(arch: str) -> list[str]:
    """The same recipe for the Docker fallback (Lambda build image, Amazon Linux 2023)."""
    removed = " ".join(f"/asset-output/{n} /asset-output/{n}-*.dist-info" for n in RUNTIME_PROVIDED)
    script = " && ".join(
        [
            "set -eu",
            "pip install --no-cache-dir --no-compile --only-binary=:all: -r /asset-input/requirements.txt -t /asset-output",
            f"rm -rf {removed} /asset-output/bin",
            "find /asset-output -type d -name tests -prune -exec rm -rf {} +",
            "find /asset-output -type d -name __pycache__ -prune -exec rm -rf {} +",
            r"find /asset-output \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \) -delete",
            "find /asset-output -name '*.so*' -type f -not -path '*/numpy.libs/*' -exec strip --strip-unneeded {} + || true",
            "python -m compileall -q -b -j 0 --invalidation-mode unchecked-hash -s /asset-output -p /var/task /asset-output",
            r"find /asset-output -name '*.py' -exec sh -c 'test -f \"${1}c\" && rm \"$1\"' _ {} \;",
            "tar -C /asset-input --exclude=tests --exclude=__pycache__ --exclude='*.pyc' --exclude='requirements*.txt' -cf - . | tar -C /asset-output -xf -",
            "python -m compileall -q -j 0 --invalidation-mode unchecked-hash -s /asset-output -p /var/task /asset-output/titiler_eopf",
            "mkdir -p /asset-output/rasterio.libs",
            f"cp -L /usr/lib64/{EXPAT_SONAME} /asset-output/rasterio.libs/{EXPAT_SONAME}",
        ]
    )
    return ["bash", "-c", script]


def _make_local_bundler():
    import jsii
    from aws_cdk import ILocalBundling

    @jsii.implements(ILocalBundling)
    class LocalBundler:
        """Builds the bundle on the host; returns False (Docker fallback) if it cannot."""

        def __init__(self, arch: str, source_dir: str) -> None:
            self.arch = arch
            self.source_dir = source_dir

        def try_bundle(self, output_dir, options=None, *args, **kwargs) -> bool:  # noqa: ARG002
            if os.environ.get("TITILER_EOPF_BUNDLE_DOCKER") == "1":
                return False
            try:
                build_bundle(output_dir, arch=self.arch, source_dir=self.source_dir)
            except ToolchainUnavailable as exc:
                log(f"local bundling unavailable ({exc}); falling back to Docker")
                return False
            return True

    return LocalBundler


def lambda_code(arch: str = "x86_64", source_dir: Path | str = SOURCE_DIR):
    """``lambda.Code`` for both functions: local bundling first, Docker as a fallback."""
    from aws_cdk import AssetHashType, BundlingOptions
    from aws_cdk import aws_lambda as lambda_

    return lambda_.Code.from_asset(
        str(source_dir),
        exclude=ASSET_EXCLUDES,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            image=lambda_.Runtime.PYTHON_3_12.bundling_image,
            command=docker_command(arch),
            platform="linux/arm64" if arch == "arm64" else "linux/amd64",
            # Part of the asset hash: a new builder or target redeploys the functions.
            environment={
                "TITILER_EOPF_BUNDLE_BUILDER": BUILDER_VERSION,
                "TITILER_EOPF_BUNDLE_ARCH": arch,
                "TITILER_EOPF_BUNDLE_VENDOR": vendor_versions(),
            },
            local=_make_local_bundler()(arch, str(source_dir)),
        ),
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
