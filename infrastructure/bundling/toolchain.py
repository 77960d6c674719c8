"""The host tools the build runs: Python 3.12, ``strip``, and for another architecture
Debian's cross compiler (installed with apt-get if missing) and qemu-user.

A missing tool raises :class:`ToolchainUnavailable`, whose message names it (the CDK bundler
turns it into a :class:`BundleError`; Docker builds only when asked for).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path

from .common import ToolchainUnavailable, cache_root, log, run
from .recipe import DEBIAN_ARCH, GNU_TRIPLET

# Paths handed to one ``strip`` call (the command line stays short).
STRIP_CHUNK = 200


def find_python312() -> str:
    """A Python 3.12 interpreter: the current one if it is 3.12, else a well-known path."""
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    candidates = [os.environ.get("TITILER_EOPF_PYTHON312", "")]
    candidates.append(shutil.which("python3.12") or "")
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    pyenv = sorted((pyenv_root / "versions").glob("3.12*/bin/python3.12"), reverse=True)
    candidates += [str(p) for p in pyenv]
    candidates += ["/usr/local/bin/python3.12", "/usr/bin/python3.12"]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        probe = run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], check=False
        )
        if probe.returncode == 0 and probe.stdout.strip() == "3.12":
            return candidate
    raise ToolchainUnavailable("no Python 3.12 interpreter found (set TITILER_EOPF_PYTHON312)")


def host_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def strip(paths: list[Path], arch: str) -> None:
    """``strip --strip-unneeded`` the shared objects (best effort: a failure keeps the file)."""
    tool = shutil.which(f"{GNU_TRIPLET[arch]}-strip") or shutil.which("strip")
    if not tool:
        log("strip not found: shared objects left unstripped")
        return
    for i in range(0, len(paths), STRIP_CHUNK):
        chunk = [str(p) for p in paths[i : i + STRIP_CHUNK]]
        if run([tool, "--strip-unneeded", *chunk], check=False).returncode != 0:
            # e.g. the host strip cannot handle another architecture: one by one, keep going
            for p in chunk:
                run([tool, "--strip-unneeded", p], check=False)


def _cross_packages(arch: str) -> list[str]:
    # Debian's cross compiler and the target's libc headers/startup files (only a Recommends
    # of gcc-<triplet>): gcc-aarch64-linux-gnu + libc6-dev-arm64-cross.
    return [f"gcc-{GNU_TRIPLET[arch]}", f"libc6-dev-{DEBIAN_ARCH[arch]}-cross"]


def _cross_compiler(arch: str) -> str | None:
    """``<triplet>-gcc`` if it is installed together with the target's libc development files."""
    triplet = GNU_TRIPLET[arch]
    cc = shutil.which(f"{triplet}-gcc")
    return cc if cc and (Path("/usr") / triplet / "lib" / "crti.o").is_file() else None


def ensure_cross_compiler(arch: str, root: Path | None = None) -> str:
    """Path to ``<triplet>-gcc``; installs Debian's ``gcc-<triplet>`` with apt-get if missing.

    Only the binary package is installed, from the system's own apt sources (left as they
    are). Installing needs root and apt-get; ``TITILER_EOPF_NO_APT=1`` forbids it. Without a
    compiler the local build is unavailable (a BundleError naming the packages).
    """
    triplet = GNU_TRIPLET[arch]
    cc = _cross_compiler(arch)
    if cc:
        return cc
    packages = _cross_packages(arch)
    hint = (
        f"cross-compiling libexpat for {arch} needs {triplet}-gcc "
        f"(apt-get install {' '.join(packages)}, or make tools)"
    )
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
        result = run(install, check=False, env=env)
        if result.returncode != 0:  # stale package lists: refresh once, then retry
            run(["apt-get", "update", "-qq"], check=False, env=env)
            result = run(install, check=False, env=env)
        cc = _cross_compiler(arch)
        if result.returncode != 0 or not cc:
            raise ToolchainUnavailable(f"{hint}: apt-get failed: {result.stderr.strip()[-1000:]}")
    return cc


def qemu_for(arch: str) -> str | None:
    """A qemu-user binary able to run ``arch`` executables (to run expat's tests), if any."""
    name = {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    return shutil.which(f"qemu-{name}") or shutil.which(f"qemu-{name}-static")
