"""``libexpat.so.1`` for the Lambda runtime, built from Debian's ``expat`` source (or, on a
host without Debian's apt tools, from the tarball ``TITILER_EOPF_EXPAT_SOURCE`` names).

The rasterio wheel's GDAL needs libexpat, which the Lambda python3.12 runtime (Amazon Linux
2023, glibc 2.34) does not ship; Debian's copy needs GLIBC_2.36 (arc4random_buf), so it is
built here with ``-DHAVE_ARC4RANDOM_BUF=0 -DHAVE_ARC4RANDOM=0`` (expat then uses getrandom,
GLIBC_2.25). For arm64 on an x86_64 host it is cross-compiled with Debian's
``gcc-aarch64-linux-gnu`` through a CMake toolchain file; expat's own tests then run only if
qemu-user (and the cross g++) is there. Either way the result is checked with ``readelf``
(target machine, no GLIBC_2.35+). Builds are cached per Debian version and architecture
(``TITILER_EOPF_REBUILD_EXPAT=1`` forces a new one).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .common import BundleError, ToolchainUnavailable, cache_root, log, publish, run
from .debian_source import fetch_expat_source
from .elf import elf_info, format_version, version_tuple
from .expat_tarball import ENV as TARBALL_ENV
from .expat_tarball import unpack_expat_tarball
from .recipe import ELF_MACHINE, EXPAT_SONAME, GNU_TRIPLET, MAX_GLIBC
from .toolchain import ensure_cross_compiler, host_arch, qemu_for, strip


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


def _cached(arch: str, root: Path) -> Path | None:
    existing = sorted((root / "libexpat").glob(f"*-{arch}/{EXPAT_SONAME}"))
    pinned = os.environ.get("TITILER_EOPF_EXPAT_VERSION")
    if pinned:
        existing = [p for p in existing if p.parent.name == f"{pinned}-{arch}"]
    if existing and not os.environ.get("TITILER_EOPF_REBUILD_EXPAT"):
        return existing[-1]
    return None


def _patch_config_header(expat_dir: Path) -> None:
    # CMake's config header defines XML_DTD/XML_NS without a value, but Debian's
    # security patches test "#if XML_DTD == 1" (they build with autotools).
    header = expat_dir / "expat_config.h.cmake"
    if not header.is_file():  # not in every release's tree
        return
    header.write_text(
        re.sub(
            r"^#cmakedefine (XML_DTD|XML_NS)$",
            r"#cmakedefine \1 1",
            header.read_text(),
            flags=re.M,
        )
    )


def build_libexpat(arch: str = "x86_64", root: Path | None = None) -> Path:
    """Path to a cached ``libexpat.so.1`` for ``arch`` that needs no glibc newer than 2.34."""
    root = root or cache_root()
    cached = _cached(arch, root)
    if cached:
        return cached
    missing = [tool for tool in ("cmake", "make") if not shutil.which(tool)]
    if not (shutil.which("cc") or shutil.which("gcc")):
        missing.append("a C compiler (cc or gcc)")
    if missing:
        raise ToolchainUnavailable(
            f"{', '.join(missing)} not found: cannot build libexpat.so.1 (rasterio's GDAL needs "
            "it; the Lambda runtime lacks it). cmake also installs from PyPI (pip install cmake)"
        )
    triplet = GNU_TRIPLET[arch]
    cross = host_arch() != arch
    cc = ensure_cross_compiler(arch, root) if cross else None
    # expat's tests (C and C++) run under qemu-user when cross-compiling, if it is there.
    cxx = shutil.which(f"{triplet}-g++") if cross else None
    emulator = qemu_for(arch) if cross and cxx else None
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
        tarball = os.environ.get(TARBALL_ENV)
        if tarball:
            version, expat_dir = unpack_expat_tarball(Path(tarball).expanduser(), work)
        else:
            version, expat_dir = fetch_expat_source(work, prefer=others[-1] if others else None)
        cmake_args = []
        if cross:
            toolchain = _cmake_toolchain_file(work, arch, cc, cxx, emulator)
            cmake_args.append(f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")
        _patch_config_header(expat_dir)
        build = work / "build"
        run(
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
        run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)])
        if emulator:
            # ctest would exec the test programs directly (bash run.sh FILE): run them under qemu.
            for program in ("runtests", "runtestspp"):
                run(
                    [emulator, "-L", str(Path("/usr") / triplet), str(build / "tests" / program)],
                    cwd=build,
                )
        elif run_tests:
            run(["ctest", "--output-on-failure"], cwd=build)
        if run_tests:
            tests = "expat's tests passed" + (f" (under {Path(emulator).name})" if emulator else "")
        else:
            tests = "expat's tests not run (cross-compiled, no qemu-user)"
        built = (build / EXPAT_SONAME).resolve()
        info = elf_info(built)
        if ELF_MACHINE[arch] not in info.machine:
            raise BundleError(f"libexpat {version} was built for {info.machine!r}, not {arch}")
        if info.max_glibc > MAX_GLIBC:
            raise BundleError(
                f"libexpat {version} needs GLIBC_{format_version(info.max_glibc)} > 2.34"
            )
        staged = work / "out"
        staged.mkdir()
        shutil.copy2(built, staged / EXPAT_SONAME)
        strip([staged / EXPAT_SONAME], arch)
        if cross:
            compiler_version = run([cc, "-dumpfullversion"]).stdout.strip()
            compiler = f"cross-compiled with {Path(cc).name} ({compiler_version})"
        else:
            compiler = "native build"
        origin = f"expat from {tarball}" if tarball else "Debian expat"
        (staged / "SOURCE").write_text(
            f"{origin} {version}, cmake -DHAVE_ARC4RANDOM_BUF=0 -DHAVE_ARC4RANDOM=0\n"
            f"{compiler}; {tests}\n"
            f"Machine: {info.machine}\nGLIBC needs: {sorted(info.glibc, key=version_tuple)}\n"
        )
        final = publish(staged, root / "libexpat" / f"{version}-{arch}")
    elapsed = time.monotonic() - started
    log(f"built libexpat {version} for {arch} in {elapsed:.1f}s ({compiler}; {tests})")
    return final / EXPAT_SONAME
