"""Debian's ``expat`` source package, downloaded and unpacked with a private apt state.

The system's apt configuration is left untouched: a deb-src list, package lists and
archives of our own live in the work directory. Needs apt-get, apt-cache and dpkg-source
(else :class:`ToolchainUnavailable`). ``TITILER_EOPF_EXPAT_VERSION`` pins a version.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .common import BundleError, ToolchainUnavailable, log, run
from .expat_tarball import ENV as TARBALL_ENV

DEB_SRC_SOURCES = """\
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def _apt_options(work: Path) -> list[str]:
    """apt options that use a private deb-src list and state (the system is untouched)."""
    etc = work / "etc"
    (etc / "sources.list.d").mkdir(parents=True, exist_ok=True)
    (work / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (work / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (etc / "sources.list").write_text("")
    (etc / "sources.list.d" / "deb-src.sources").write_text(DEB_SRC_SOURCES)
    return [
        f"-oDir::Etc::sourcelist={etc / 'sources.list'}",
        f"-oDir::Etc::sourceparts={etc / 'sources.list.d'}",
        f"-oDir::State::Lists={work / 'lists'}",
        f"-oDir::Cache={work / 'cache'}",
        "-oAPT::Sandbox::User=root",
        "-qq",
    ]


def debian_version_key(version: str) -> list:
    """Good-enough ordering of Debian versions (dpkg --compare-versions is authoritative)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", version)]


def fetch_expat_source(work: Path, prefer: str | None = None) -> tuple[str, Path]:
    """Download and unpack Debian's newest available ``expat`` source; returns (version, the
    CMake source directory).

    ``prefer`` (a Debian version, e.g. the one already built for the other architecture)
    is tried first so both bundles ship the same libexpat.
    """
    missing = [t for t in ("apt-get", "apt-cache", "dpkg-source") if not shutil.which(t)]
    if missing:
        raise ToolchainUnavailable(
            f"{', '.join(missing)} not found: cannot fetch Debian's expat source for "
            f"libexpat.so.1 (rasterio's GDAL needs it; the Lambda runtime lacks it). On a "
            f"host without Debian's apt tools set {TARBALL_ENV}=/path/to/expat-X.Y.Z.tar.xz "
            "(expat's release tarball, or any archive holding its source tree)"
        )
    opts = _apt_options(work)
    run(["apt-get", *opts, "update"])
    showsrc = run(["apt-cache", *opts, "showsrc", "expat"]).stdout
    versions = sorted(
        set(re.findall(r"^Version: (\S+)", showsrc, re.M)), key=debian_version_key, reverse=True
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
        result = run(
            ["apt-get", *opts, "source", "--download-only", f"expat={version}"],
            check=False,
            cwd=download,
        )
        dsc = list(download.glob("*.dsc"))
        if result.returncode == 0 and dsc:
            run(["dpkg-source", "--no-check", "-x", str(dsc[0]), "expat"], cwd=download)
            log(f"expat source {version}")
            return version, download / "expat" / "expat"
        errors.append(f"{version}: {result.stderr.strip().splitlines()[-1:]}")
    raise BundleError(f"no expat source could be downloaded: {errors}")
