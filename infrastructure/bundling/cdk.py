"""The CDK side: ``lambda.Code`` for both functions, bundled on the host through
``ILocalBundling`` (:func:`build_bundle`); Docker runs the same recipe only when asked for
(``TITILER_EOPF_BUNDLE_DOCKER=1``): a host that cannot build locally gets a
:class:`BundleError` naming what is missing, never a silent switch to Docker."""

from __future__ import annotations

import os
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from . import recipe
from .assemble import build_bundle
from .common import BundleError, ToolchainUnavailable, log
from .recipe import ASSET_EXCLUDES, EXPAT_SONAME, RUNTIME_PROVIDED, SOURCE_DIR
from .vendor import vendor_versions

DOCKER_ENV = "TITILER_EOPF_BUNDLE_DOCKER"


def docker_command(arch: str) -> list[str]:
    """The same recipe for a Docker build (``TITILER_EOPF_BUNDLE_DOCKER=1``; the Lambda build
    image, Amazon Linux 2023).

    The same script for both architectures: ``BundlingOptions.platform`` picks the image.
    """
    removed = " ".join(f"/asset-output/{n} /asset-output/{n}-*.dist-info" for n in RUNTIME_PROVIDED)
    script = " && ".join(
        [
            "set -eu",
            "pip install --no-cache-dir --no-compile --only-binary=:all: "
            "-r /asset-input/requirements.txt -t /asset-output",
            f"rm -rf {removed} /asset-output/bin",
            "find /asset-output -type d -name tests -prune -exec rm -rf {} +",
            "find /asset-output -type d -name __pycache__ -prune -exec rm -rf {} +",
            r"find /asset-output \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' "
            r"-o -name '*.pxi' \) -delete",
            "find /asset-output -name '*.so*' -type f -not -path '*/numpy.libs/*' "
            "-exec strip --strip-unneeded {} + || true",
            "python -m compileall -q -b -j 0 --invalidation-mode unchecked-hash "
            "-s /asset-output -p /var/task /asset-output",
            r"find /asset-output -name '*.py' -exec sh -c 'test -f \"${1}c\" && rm \"$1\"' _ {} \;",
            "tar -C /asset-input --exclude=tests --exclude=__pycache__ --exclude='*.pyc' "
            "--exclude='requirements*.txt' -cf - . | tar -C /asset-output -xf -",
            "python -m compileall -q -j 0 --invalidation-mode unchecked-hash "
            "-s /asset-output -p /var/task /asset-output/titiler_eopf",
            "mkdir -p /asset-output/rasterio.libs",
            f"cp -L /usr/lib64/{EXPAT_SONAME} /asset-output/rasterio.libs/{EXPAT_SONAME}",
        ]
    )
    return ["bash", "-c", script]


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Builds the bundle on the host; returns False (Docker) only when Docker is asked for."""

    def __init__(self, arch: str, source_dir: str) -> None:
        self.arch = arch
        self.source_dir = source_dir

    def try_bundle(self, output_dir, options=None, *args, **kwargs) -> bool:  # noqa: ARG002
        if os.environ.get(DOCKER_ENV) == "1":
            log(f"{DOCKER_ENV}=1: building the bundle in Docker")
            return False
        try:
            build_bundle(output_dir, arch=self.arch, source_dir=self.source_dir)
        except ToolchainUnavailable as exc:
            # Never a silent switch to Docker: the Docker recipe is another build (another
            # libexpat, no ELF checks); it runs only when asked for.
            raise BundleError(
                f"local bundling for {self.arch} is not possible on this host: {exc}. "
                f"Install what is missing, or set {DOCKER_ENV}=1 to build in Docker"
            ) from None
        return True


def lambda_code(arch: str = "x86_64", source_dir: Path | str = SOURCE_DIR) -> lambda_.Code:
    """``lambda.Code`` for both functions: local bundling, or Docker when asked for."""
    return lambda_.Code.from_asset(
        str(source_dir),
        exclude=ASSET_EXCLUDES,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            image=lambda_.Runtime.PYTHON_3_12.bundling_image,
            command=docker_command(arch),
            platform="linux/arm64" if arch == "arm64" else "linux/amd64",
            # Part of the asset hash: a new builder or target redeploys the functions
            # (read through the module: a test changes it).
            environment={
                "TITILER_EOPF_BUNDLE_BUILDER": recipe.BUILDER_VERSION,
                "TITILER_EOPF_BUNDLE_ARCH": arch,
                "TITILER_EOPF_BUNDLE_VENDOR": vendor_versions(),
            },
            local=LocalBundler(arch, str(source_dir)),
        ),
    )
