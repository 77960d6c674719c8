"""Plumbing shared by every build step: the errors, the log, the one subprocess runner, the
build cache's directory with its atomic publication, and directory sizes.

What is slow and safe to reuse is cached in ``~/.cache/titiler-eopf/`` (override with
``TITILER_EOPF_BUILD_CACHE``). Entries are written to a temporary directory and renamed
into place (:func:`publish`), so concurrent builds are safe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


class BundleError(RuntimeError):
    """The bundle cannot be built or fails a check."""


class ToolchainUnavailable(BundleError):
    """A tool the local build needs is missing; the message names it and how to get it."""


def log(message: str) -> None:
    print(f"[bundle] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` with its output captured as text.

    A failure raises :class:`BundleError` with the command and the tail of its output,
    unless ``check=False``: the caller then reads ``returncode`` itself.
    """
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise BundleError(
            f"command failed ({result.returncode}): {' '.join(cmd)}\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def cache_root() -> Path:
    env = os.environ.get("TITILER_EOPF_BUILD_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "titiler-eopf"


def publish(staged: Path, final: Path) -> Path:
    """Rename a finished cache entry into place; another process may have won the race."""
    try:
        os.rename(staged, final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(staged, ignore_errors=True)
    return final


def dir_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (symlinks not counted), as Lambda counts."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total
