"""ELF checks of shared objects with ``readelf``: target machine, DT_NEEDED libraries and the
glibc / libstdc++ symbol versions they need, against what the Lambda runtime has."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .common import run
from .recipe import ELF_MACHINE, MAX_CXXABI, MAX_GLIBC, MAX_GLIBCXX, SYSTEM_LIBRARIES


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def format_version(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


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
        return max((version_tuple(v) for v in self.glibc), default=(0,))


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_info(path: Path) -> ElfInfo:
    """``readelf -h -d -V``: machine, DT_NEEDED and the version needs (GLIBC_x.y...)."""
    out = run(["readelf", "-W", "-h", "-d", "-V", str(path)]).stdout
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


def is_shared_object_name(name: str) -> bool:
    return ".so" in name and (name.endswith(".so") or ".so." in name)


def shared_objects(root: Path) -> list[Path]:
    """Every shared object under ``root`` (ELF files named *.so or *.so.N; no symlinks)."""
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if is_shared_object_name(name):
                p = Path(dirpath, name)
                if not p.is_symlink() and is_elf(p):
                    found.append(p)
    return sorted(found)


def _too_new(versions: set[str], limit: tuple[int, ...]) -> list[str]:
    return sorted(v for v in versions if version_tuple(v) > limit)


def check_elf_compat(root: Path, arch: str) -> list[str]:
    """Problems with the shared objects of a bundle (empty list: all good)."""
    problems = []
    infos = [elf_info(p) for p in shared_objects(root)]
    shipped = {name for _dirpath, _dirs, files in os.walk(root) for name in files if ".so" in name}
    for info in infos:
        rel = info.path.relative_to(root)
        if ELF_MACHINE[arch] not in info.machine:
            problems.append(f"{rel}: built for {info.machine!r}, not {arch}")
        too_new = _too_new(info.glibc, MAX_GLIBC)
        if too_new:
            problems.append(
                f"{rel}: needs GLIBC_{', GLIBC_'.join(too_new)} "
                f"(runtime has {format_version(MAX_GLIBC)})"
            )
        too_new = _too_new(info.glibcxx, MAX_GLIBCXX)
        if too_new:
            problems.append(f"{rel}: needs GLIBCXX_{', GLIBCXX_'.join(too_new)}")
        too_new = _too_new(info.cxxabi, MAX_CXXABI)
        if too_new:
            problems.append(f"{rel}: needs CXXABI_{', CXXABI_'.join(too_new)}")
        for lib in info.needed:
            if lib not in SYSTEM_LIBRARIES and lib not in shipped:
                problems.append(
                    f"{rel}: needs {lib}, which is neither in the bundle nor in the Lambda runtime"
                )
    return problems
