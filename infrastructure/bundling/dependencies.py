"""The runtime dependencies of the bundle: pip for the Lambda platform, then slimmed.

The pins of ``lambda_src/requirements.txt`` are installed by Python 3.12's pip for the Lambda
platform (manylinux wheels only), without the packages the Lambda runtime already provides;
``tests/`` folders, ``__pycache__``, type stubs, Cython sources and headers are removed,
shared objects stripped (except ``numpy.libs``: its OpenBLAS) and sources replaced by
sourceless bytecode. The result is cached, keyed by the requirements, the architecture, the
Python version and :data:`BUILDER_VERSION`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import recipe
from .bytecode import compile_tree
from .common import cache_root, dir_size, log, publish, run
from .elf import shared_objects
from .recipe import (
    NO_STRIP_DIRS,
    PLATFORMS,
    PRUNE_DIRS,
    PRUNE_GLOBS,
    PRUNE_PATHS,
    PRUNE_SUFFIXES,
    RUNTIME_PROVIDED,
)
from .toolchain import find_python312, strip

COMPLETE_MARKER = ".complete"


def requirements_key(requirements: Path, arch: str) -> str:
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(
        json.dumps(
            [arch, recipe.BUILDER_VERSION, PLATFORMS[arch], RUNTIME_PROVIDED, sys.version_info[:2]]
        ).encode()
    )
    return digest.hexdigest()[:16]


def pip_install(python: str, requirements: Path, target: Path, arch: str, pip_cache: Path) -> None:
    """``pip install --target`` of manylinux wheels for the Lambda's platform and Python."""
    cmd = [
        python, "-m", "pip", "install",
        "--target", str(target),
        "--implementation", "cp",
        "--python-version", "3.12",
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--cache-dir", str(pip_cache),
        "--quiet",
    ]  # fmt: skip
    for platform in PLATFORMS[arch]:
        cmd += ["--platform", platform]
    cmd += ["-r", str(requirements)]
    run(cmd, env=dict(os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_NO_INPUT="1"))


def _prune(target: Path) -> None:
    for dirpath, dirs, files in os.walk(target, topdown=True):
        for d in list(dirs):
            if d in PRUNE_DIRS:
                shutil.rmtree(os.path.join(dirpath, d))
                dirs.remove(d)
        for name in files:
            if name.endswith(PRUNE_SUFFIXES):
                os.unlink(os.path.join(dirpath, name))
    for path in PRUNE_PATHS:
        shutil.rmtree(target / path, ignore_errors=True)
    for pattern in PRUNE_GLOBS:
        for path in target.glob(pattern):
            path.unlink()
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: useless on Lambda
    for record in target.glob("*.dist-info/RECORD"):  # pip's install manifest, never read
        record.unlink()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _remove_runtime_provided(target: Path) -> list[str]:
    removed = []
    provided = {_canonical(n) for n in RUNTIME_PROVIDED}
    for entry in target.iterdir():
        if entry.name.endswith((".dist-info", ".egg-info")):
            base = entry.name.split("-", 1)[0]
        else:
            base = entry.name
        if _canonical(base.removesuffix(".py")) in provided:
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
    if (final / COMPLETE_MARKER).exists():
        return final
    python = python or find_python312()
    (root / "deps").mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{arch}-", dir=root / "deps"))
    try:
        started = time.monotonic()
        pip_install(python, requirements, staged, arch, root / "pip")
        log(f"pip install for {arch}: {time.monotonic() - started:.1f}s")
        removed = _remove_runtime_provided(staged)
        if removed:
            log(f"removed runtime-provided packages: {', '.join(sorted(removed))}")
        _prune(staged)
        strip(
            [
                p
                for p in shared_objects(staged)
                if not any(part in NO_STRIP_DIRS for part in p.relative_to(staged).parts)
            ],
            arch,
        )
        compile_tree(python, staged, legacy=True)
        (staged / COMPLETE_MARKER).write_text(
            json.dumps(
                {
                    "requirements": requirements.read_text(),
                    "arch": arch,
                    "builder": recipe.BUILDER_VERSION,
                }
            )
        )
        log(
            f"dependencies for {arch} ready: {dir_size(staged) / 1e6:.1f} MB, "
            f"{time.monotonic() - started:.1f}s"
        )
        return publish(staged, final)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
