"""expat from a source tarball (``TITILER_EOPF_EXPAT_SOURCE``): the libexpat build on a host
without Debian's apt tools.

The tarball is expat's own release (``expat-X.Y.Z.tar.xz``, the tree with ``CMakeLists.txt``
and ``lib/expat.h``) or any archive holding one such tree. An upstream release carries no
distribution's backported fixes, so its version must be at least :data:`MIN_VERSION` (the
fixes of CVE-2024-45490/45491/45492 and CVE-2024-8176). An unpacked Debian source package
(patches applied, ``debian/changelog`` beside the tree) is taken at its Debian version.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from .common import BundleError, log

ENV = "TITILER_EOPF_EXPAT_SOURCE"
MIN_VERSION = (2, 7, 0)


def expat_version(header: Path) -> tuple[int, int, int]:
    """(major, minor, micro) from ``lib/expat.h``."""
    text = header.read_text(errors="replace")
    parts = [
        re.search(rf"#define XML_{name}_VERSION (\d+)", text)
        for name in ("MAJOR", "MINOR", "MICRO")
    ]
    if not all(parts):
        raise BundleError(f"{header}: no XML_MAJOR/MINOR/MICRO_VERSION: not expat's header")
    return tuple(int(p.group(1)) for p in parts)  # type: ignore[return-value]


def unpack_expat_tarball(tarball: Path, work: Path) -> tuple[str, Path]:
    """Unpack ``tarball`` into ``work``; returns (version label, the CMake source directory)."""
    if not tarball.is_file():
        raise BundleError(f"{ENV}={tarball}: no such file")
    target = work / "tarball"
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{ENV}={tarball}: cannot unpack: {exc}") from None
    trees = sorted(
        h.parent.parent
        for h in target.rglob("lib/expat.h")
        if (h.parent.parent / "CMakeLists.txt").is_file()
    )
    if not trees:
        raise BundleError(
            f"{ENV}={tarball}: no expat source tree in it (CMakeLists.txt beside lib/expat.h)"
        )
    source = trees[0]
    version = expat_version(source / "lib" / "expat.h")
    shown = ".".join(map(str, version))
    changelog = source.parent / "debian" / "changelog"
    if changelog.is_file():  # Debian's tree, security patches applied: its own version
        first = changelog.read_text(errors="replace").partition("\n")[0]
        match = re.match(r"expat \((\S+)\)", first)
        if match:
            log(f"expat source {match.group(1)} (Debian, patched) from {tarball}")
            return f"debian-{match.group(1)}", source
    if version < MIN_VERSION:
        raise BundleError(
            f"{ENV}={tarball}: expat {shown} is older than "
            f"{'.'.join(map(str, MIN_VERSION))} (known CVEs, no distribution patches)"
        )
    log(f"expat source {shown} from {tarball}")
    return f"upstream-{shown}", source
