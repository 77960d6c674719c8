"""Bundling on hosts other than this Debian one: what is missing is named, libexpat builds
from an expat source tarball (``TITILER_EOPF_EXPAT_SOURCE``) without Debian's apt tools,
and Docker builds only when asked for (never a silent switch to it).

A host "without apt" is this one with PATH reduced to a directory of links to the tools it
keeps (cmake, make, the C compiler, readelf, strip, ...).
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import pytest

from infrastructure.bundling import cdk as bundling_cdk
from infrastructure.bundling.common import BundleError, ToolchainUnavailable
from infrastructure.bundling.debian_source import fetch_expat_source
from infrastructure.bundling.elf import elf_info
from infrastructure.bundling.expat_tarball import ENV as TARBALL_ENV
from infrastructure.bundling.libexpat import build_libexpat
from infrastructure.bundling.recipe import MAX_GLIBC

BUILD_TOOLS = ("cmake", "ctest", "make", "cc", "gcc", "c++", "g++", "ld", "as", "ar", "ranlib")
BUILD_TOOLS += ("readelf", "strip", "objdump", "sh", "bash", "uname", "tar", "xz", "gzip")


def _path_with(tmp_path: Path, tools: tuple[str, ...]) -> str:
    """A PATH holding links to ``tools`` only (the host's own binaries)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in tools:
        found = shutil.which(tool)
        if found and not (bindir / tool).exists():
            (bindir / tool).symlink_to(found)
    return str(bindir)


@pytest.fixture
def no_apt(tmp_path, monkeypatch):
    """This host without Debian's apt tools (and with nothing cached)."""
    monkeypatch.setenv("PATH", _path_with(tmp_path, BUILD_TOOLS))
    monkeypatch.delenv(TARBALL_ENV, raising=False)
    monkeypatch.delenv("TITILER_EOPF_EXPAT_VERSION", raising=False)
    return tmp_path / "cache"


def test_without_apt_the_error_names_the_tools_and_the_tarball_setting(no_apt):
    assert shutil.which("apt-get") is None
    with pytest.raises(ToolchainUnavailable) as excinfo:
        build_libexpat("x86_64", root=no_apt)
    message = str(excinfo.value)
    for fragment in ("apt-get", "dpkg-source", "libexpat.so.1", TARBALL_ENV):
        assert fragment in message, message


def test_without_a_compiler_or_cmake_the_error_names_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, ("sh", "make")))
    with pytest.raises(ToolchainUnavailable) as excinfo:
        build_libexpat("x86_64", root=tmp_path / "cache")
    message = str(excinfo.value)
    assert "cmake" in message and "a C compiler (cc or gcc)" in message
    assert "pip install cmake" in message


def _fake_expat_tree(root: Path, version: tuple[int, int, int]) -> Path:
    tree = root / "expat-{}.{}.{}".format(*version)
    (tree / "lib").mkdir(parents=True)
    (tree / "CMakeLists.txt").write_text("project(expat C)\n")
    (tree / "lib" / "expat.h").write_text(
        "\n".join(
            f"#define XML_{name}_VERSION {value}"
            for name, value in zip(("MAJOR", "MINOR", "MICRO"), version, strict=True)
        )
    )
    return tree


def _tarball(tree: Path, out: Path) -> Path:
    with tarfile.open(out, "w:xz") as archive:
        archive.add(tree, arcname=tree.name)
    return out


def test_an_old_expat_tarball_is_refused(no_apt, tmp_path, monkeypatch):
    tree = _fake_expat_tree(tmp_path / "src", (2, 5, 0))
    monkeypatch.setenv(TARBALL_ENV, str(_tarball(tree, tmp_path / "expat-2.5.0.tar.xz")))
    with pytest.raises(BundleError, match=r"expat 2\.5\.0 is older than 2\.7\.0"):
        build_libexpat("x86_64", root=no_apt)


def test_a_tarball_without_expat_is_refused(no_apt, tmp_path, monkeypatch):
    (tmp_path / "src" / "other").mkdir(parents=True)
    (tmp_path / "src" / "other" / "README").write_text("not expat")
    tarball = _tarball(tmp_path / "src" / "other", tmp_path / "other.tar.xz")
    monkeypatch.setenv(TARBALL_ENV, str(tarball))
    with pytest.raises(BundleError, match="no expat source tree"):
        build_libexpat("x86_64", root=no_apt)


def test_cdk_bundler_never_switches_to_docker_silently(tmp_path, monkeypatch):
    """A host that cannot build locally: a BundleError naming what is missing and the Docker
    setting; Docker (``try_bundle`` False) only when that setting asks for it.

    ``build_bundle`` is replaced by one that fails as a host without the tools does (the
    real failure is the one the tests above raise); the real build takes minutes."""

    def missing(*_args, **_kwargs):
        raise ToolchainUnavailable("apt-get not found: ...")

    monkeypatch.setattr(bundling_cdk, "build_bundle", missing)
    monkeypatch.delenv(bundling_cdk.DOCKER_ENV, raising=False)
    bundler = bundling_cdk.LocalBundler("x86_64", str(tmp_path))
    with pytest.raises(BundleError) as excinfo:
        bundler.try_bundle(str(tmp_path / "out"), None)
    assert "apt-get not found" in str(excinfo.value)
    assert "TITILER_EOPF_BUNDLE_DOCKER=1" in str(excinfo.value)
    monkeypatch.setenv(bundling_cdk.DOCKER_ENV, "1")
    assert bundler.try_bundle(str(tmp_path / "out"), None) is False


@pytest.mark.bundle
def test_libexpat_builds_from_a_source_tarball_without_apt(tmp_path, monkeypatch):
    """The tarball path end to end: expat's source (here Debian's unpacked source package,
    patches applied, packed as a tarball: the only expat source this host's registries
    serve), built with apt-get out of reach; expat's own tests run; the result needs no
    glibc newer than 2.34."""
    version, source = fetch_expat_source(tmp_path / "debian")
    tarball = _tarball(source.parent, tmp_path / f"expat-{version}.tar.xz")
    monkeypatch.setenv("PATH", _path_with(tmp_path, BUILD_TOOLS))
    monkeypatch.setenv(TARBALL_ENV, str(tarball))
    monkeypatch.delenv("TITILER_EOPF_EXPAT_VERSION", raising=False)
    assert shutil.which("apt-get") is None
    built = build_libexpat("x86_64", root=tmp_path / "cache")
    assert built.name == "libexpat.so.1" and built.parent.name == f"debian-{version}-x86_64"
    provenance = (built.parent / "SOURCE").read_text()
    assert f"expat from {tarball}" in provenance and "expat's tests passed" in provenance
    info = elf_info(built)
    assert "X86-64" in info.machine and info.max_glibc <= MAX_GLIBC
    assert os.access(built, os.R_OK)
