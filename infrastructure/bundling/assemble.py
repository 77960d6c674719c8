"""The complete bundle: the steps put together in the output directory, then verified.

dependencies + libexpat (cached) -> ``lambda_src/`` with its bytecode -> browser assets ->
space savers -> checks (size, libexpat, no runtime-provided packages, no ``tests/``, ELF).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .bytecode import compile_tree
from .common import BundleError, cache_root, dir_size, log
from .dependencies import COMPLETE_MARKER, build_dependencies
from .elf import check_elf_compat
from .libexpat import build_libexpat
from .recipe import (
    EXPAT_DIR,
    EXPAT_SONAME,
    LAMBDA_TASK_ROOT,
    LAMBDA_UNZIPPED_LIMIT,
    PLATFORMS,
    REQUIREMENTS_NAME,
    RUNTIME_PROVIDED,
    SOURCE_DIR,
    SOURCE_EXCLUDES,
)
from .slim import slim_bundle
from .toolchain import find_python312
from .vendor import copy_vendor_assets


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
            f"({self.unzipped_bytes / 1024 / 1024:.1f} MiB, limit {LAMBDA_UNZIPPED_LIMIT:,}), "
            f"built in {self.seconds:.1f}s"
        )


def _empty(output_dir: Path) -> None:
    if output_dir.exists():
        for entry in output_dir.iterdir():  # CDK hands us an existing, empty staging dir
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    output_dir.mkdir(parents=True, exist_ok=True)


def _copy_source(source_dir: Path, output_dir: Path) -> None:
    """``lambda_src/`` without tests, caches and requirements; our own packages keep their
    .py (readable tracebacks) beside unchecked-hash .pyc."""
    shutil.copytree(
        source_dir,
        output_dir,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(*SOURCE_EXCLUDES, REQUIREMENTS_NAME, "requirements*.txt"),
    )
    for entry in source_dir.iterdir():
        if (
            entry.is_dir()
            and (output_dir / entry.name).is_dir()
            and entry.name not in SOURCE_EXCLUDES
        ):
            compile_tree(
                find_python312(),
                output_dir / entry.name,
                legacy=False,
                runtime_dir=f"{LAMBDA_TASK_ROOT}/{entry.name}",
            )


def verify_bundle(output_dir: Path, arch: str = "x86_64") -> list[str]:
    """Everything that would make the bundle fail on Lambda (empty list: deployable)."""
    problems = []
    size = dir_size(output_dir)
    if size > LAMBDA_UNZIPPED_LIMIT:
        problems.append(
            f"unzipped size {size:,} bytes exceeds the Lambda limit {LAMBDA_UNZIPPED_LIMIT:,}"
        )
    if not (output_dir / EXPAT_DIR / EXPAT_SONAME).is_file():
        problems.append(f"{EXPAT_DIR}/{EXPAT_SONAME} missing")
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
    _empty(output_dir)
    shutil.copytree(
        deps, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(COMPLETE_MARKER)
    )
    (output_dir / EXPAT_DIR).mkdir(exist_ok=True)
    shutil.copy2(expat, output_dir / EXPAT_DIR / EXPAT_SONAME)
    _copy_source(source_dir, output_dir)
    copy_vendor_assets(output_dir)
    slim_bundle(output_dir)
    report = BundleReport(output_dir, arch, dir_size(output_dir), time.monotonic() - started, expat)
    if verify:
        report.problems = verify_bundle(output_dir, arch)
        if report.problems:
            raise BundleError("bundle checks failed:\n  " + "\n  ".join(report.problems))
    log(report.summary())
    return report
