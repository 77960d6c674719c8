"""The Lambda bundles (x86_64 and arm64): each built once per session (slow parts cached in
~/.cache/titiler-eopf), then checked the way Lambda would use it.

* for both architectures: size <= 262,144,000 bytes unzipped; every .so built for the
  target machine (readelf -h) and needing no GLIBC > 2.34 (readelf -V); libexpat.so.1 in
  rasterio.libs/ (cross-compiled for arm64); no boto3/botocore/s3transfer/jmespath; no tests/;
* CDK's ILocalBundling path (jsii callback) produces the asset without Docker: that asset
  is the x86_64 bundle the other tests inspect (one build of it per session);
* (x86_64 only: this machine cannot execute aarch64 code) in a fresh Python 3.12 process
  (-I -S: no site-packages) with only the bundle (and a stand-in for what the Lambda runtime
  provides in /var/runtime) on sys.path, the tile handler answers an HTTP API v2 event with
  a PNG, and GDAL loads the bundle's libexpat.
  The /var/runtime stand-in is needed: rasterio.session imports boto3 whenever it can,
  and aws-lambda-powertools' logger imports jmespath, both provided by the runtime.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from infrastructure import bundling
from infrastructure.bundling import recipe
from infrastructure.bundling.cdk import lambda_code
from tests.support.infra import ROOT

pytestmark = pytest.mark.bundle

ARCH = "x86_64"  # the host's architecture: the one whose bundle can be executed here
ARCHES = ("x86_64", "arm64")
ITEM = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
SAMPLE_BOUNDS_32632 = (699960.0, 4685640.0, 714360.0, 4700040.0)
DEFAULT_TILE = (13, 4310, 3005)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What /var/runtime holds on the Lambda python3.12 runtime (boto3 and its dependencies).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def _build_test_bundle(arch: str, out: Path) -> Path:
    """Build the bundle for ``arch`` into this session's own directory: the slow parts come from
    the builder's cache, and no other run (another clone, another worker) can empty the
    directory a test is reading (a shared ``~/.cache`` output was rebuilt under a reader)."""
    started = time.monotonic()
    report = bundling.build_bundle(out, arch=arch)
    print(f"\n{report.summary()} (fixture {time.monotonic() - started:.1f}s)")
    return out


@pytest.fixture(scope="session")
def cdk_assets(tmp_path_factory) -> Iterator[list[Path]]:
    """The asset directories of a real synth with bundling on and no Docker on PATH: CDK
    calls our ILocalBundling through jsii. Built once per session; it is the x86_64 bundle
    every other test inspects (no second build of the same bundle)."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_

    outdir = tmp_path_factory.mktemp("cdk-bundle") / "cdk.out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")  # no docker on PATH
        app = App(outdir=str(outdir))
        stack = Stack(app, "BundleProbe")
        lambda_.Function(
            stack,
            "Fn",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="titiler_eopf.handlers.tile.handler",
            code=lambda_code(ARCH),
        )
        assembly = app.synth()
    yield [p for p in Path(assembly.directory).glob("asset.*") if p.is_dir()]
    shutil.rmtree(outdir, ignore_errors=True)  # 230 MB: do not keep it in /tmp


@pytest.fixture(scope="session")
def bundle_dir(cdk_assets) -> Path:
    """The x86_64 bundle (the one this machine can execute), as CDK's local bundling made it."""
    assert len(cdk_assets) == 1, cdk_assets
    return cdk_assets[0]


@pytest.fixture(scope="session", params=ARCHES)
def any_bundle(request, tmp_path_factory) -> tuple[str, Path]:
    """(arch, bundle) for each Lambda architecture, each built once per session."""
    if request.param == ARCH:
        return ARCH, request.getfixturevalue("bundle_dir")
    out = tmp_path_factory.mktemp(f"bundle-{request.param}")
    return request.param, _build_test_bundle(request.param, out)


@pytest.fixture(scope="session")
def elf_infos(any_bundle) -> dict[Path, bundling.ElfInfo]:
    """``readelf -h -d -V`` of every shared object of the bundle (read once per architecture)."""
    _arch, bundle = any_bundle
    return {p.relative_to(bundle): bundling.elf_info(p) for p in bundling.shared_objects(bundle)}


def test_unzipped_size_under_lambda_limit(any_bundle):
    _arch, bundle = any_bundle
    size = bundling.dir_size(bundle)
    assert size <= bundling.LAMBDA_UNZIPPED_LIMIT, f"{size:,} bytes"


def test_unzipped_size_within_the_project_target(any_bundle):
    """200 MiB, well under Lambda's limit: PROJ data shipped once, pure-Python packages zipped,
    pandas without docstrings (infrastructure/bundling/slim.py)."""
    arch, bundle = any_bundle
    size = bundling.dir_size(bundle)
    assert size <= bundling.BUNDLE_SIZE_TARGET, f"{arch}: {size / 2**20:.1f} MiB"
    assert (bundle / bundling.PACKAGES_ZIP).is_file()
    assert not (bundle / "pyproj" / "proj_dir" / "share" / "proj" / "proj.db").exists()
    assert (bundle / "rasterio" / "proj_data" / "proj.db").is_file()


def test_every_shared_object_is_built_for_the_target_machine(any_bundle, elf_infos):
    arch, _bundle = any_bundle
    assert len(elf_infos) > 50
    wrong = {
        str(rel): info.machine
        for rel, info in elf_infos.items()
        if info.machine != bundling.ELF_MACHINE[arch]
    }
    assert wrong == {}


def test_no_shared_object_needs_glibc_newer_than_2_34(elf_infos):
    too_new = {
        str(rel): sorted(info.glibc) for rel, info in elf_infos.items() if info.max_glibc > (2, 34)
    }
    assert too_new == {}


def test_every_needed_library_is_shipped_or_in_the_runtime(any_bundle):
    arch, bundle = any_bundle
    assert bundling.check_elf_compat(bundle, arch) == []


def test_libexpat_in_rasterio_libs(any_bundle, elf_infos):
    arch, bundle = any_bundle
    expat = bundle / "rasterio.libs" / "libexpat.so.1"
    assert expat.is_file() and not expat.is_symlink()
    info = elf_infos[expat.relative_to(bundle)]
    assert info.max_glibc <= (2, 34)
    assert info.machine == bundling.ELF_MACHINE[arch]
    gdal = next(
        rel
        for rel in elf_infos
        if rel.parts[0] == "rasterio.libs" and rel.name.startswith("libgdal-")
    )
    assert "libexpat.so.1" in elf_infos[gdal].needed


def test_runtime_provided_packages_left_out(any_bundle):
    _arch, bundle = any_bundle
    for name in bundling.RUNTIME_PROVIDED:
        assert not (bundle / name).exists()
        assert not list(bundle.glob(f"{name}-*.dist-info"))


def test_no_tests_or_caches(any_bundle):
    _arch, bundle_dir = any_bundle
    leftovers = [p for p in bundle_dir.rglob("*") if p.is_dir() and p.name == "tests"]
    assert leftovers == []
    deps_pycache = [
        p
        for p in bundle_dir.rglob("__pycache__")
        if not str(p.relative_to(bundle_dir)).startswith("titiler_eopf")
    ]
    assert deps_pycache == []
    assert not (bundle_dir / "requirements.txt").exists()


def test_files_the_app_never_reads_are_pruned(any_bundle):
    """numpy's test-suite extension modules and GDAL data of unused drivers are gone, while the
    data a warp and the image drivers need stay (the x86_64 smoke test renders a tile)."""
    _arch, bundle_dir = any_bundle
    left = [str(p) for pattern in recipe.PRUNE_GLOBS for p in bundle_dir.glob(pattern)]
    assert left == []
    assert list(bundle_dir.glob("numpy/_core/_multiarray_umath.cpython-*.so"))
    assert (bundle_dir / "rasterio" / "gdal_data" / "gdalvrt.xsd").is_file()


def test_bytecode_compiled_for_312(any_bundle):
    _arch, bundle_dir = any_bundle
    import importlib.util

    numpy_init = bundle_dir / "numpy" / "__init__.pyc"
    assert numpy_init.is_file() and not (bundle_dir / "numpy" / "__init__.py").exists()
    assert numpy_init.read_bytes()[:4] == importlib.util.MAGIC_NUMBER  # this interpreter is 3.12
    app_pycs = list((bundle_dir / "titiler_eopf").rglob("__pycache__/*.cpython-312.pyc"))
    assert app_pycs, "the app's own package is compiled too"
    assert (bundle_dir / "titiler_eopf" / "__init__.py").is_file()


def test_app_package_and_templates_copied(any_bundle):
    _arch, bundle_dir = any_bundle
    assert (bundle_dir / "titiler_eopf" / "tiler" / "settings.py").is_file()
    src_files = {
        p.relative_to(ROOT / "lambda_src")
        for p in (ROOT / "lambda_src" / "titiler_eopf").rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and "tests" not in p.parts
        and p.suffix != ".pyc"
    }
    missing = [str(p) for p in src_files if not (bundle_dir / p).exists()]
    assert missing == []


def test_cdk_local_bundling_without_docker(cdk_assets):
    """A real synth with bundling on: CDK calls our ILocalBundling through jsii, no Docker."""
    assert len(cdk_assets) == 1
    asset = cdk_assets[0]
    assert (asset / "rasterio.libs" / "libexpat.so.1").is_file()
    assert (asset / "titiler_eopf").is_dir()
    assert bundling.dir_size(asset) <= bundling.LAMBDA_UNZIPPED_LIMIT


# ------------------------------------------------------------------ fresh-process smoke test

RUNNER = r"""
import base64, json, os, sys, time
bundle, runtime, event_path = sys.argv[1:4]
sys.path[:] = [bundle] + [p for p in sys.path if p and "site-packages" not in p] + [runtime]
started = time.perf_counter()
from titiler_eopf.handlers.tile import handler
imported = time.perf_counter()

class Context:
    function_name = "titiler-eopf-tile"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:titiler-eopf-tile"
    memory_limit_in_mb = 3008
    aws_request_id = "00000000-0000-0000-0000-000000000001"
    log_group_name = "/aws/lambda/titiler-eopf-tile"
    log_stream_name = "2025/10/08/[$LATEST]0"
    def get_remaining_time_in_millis(self):
        return 28000

event = json.load(open(event_path))
response = handler(event, Context())
done = time.perf_counter()
body = response.get("body") or ""
raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
stdlib = os.path.dirname(os.__file__)
outside = sorted(
    name for name, mod in list(sys.modules.items())
    if getattr(mod, "__file__", None)
    and name not in ("__main__", "__mp_main__")
    and not mod.__file__.startswith((bundle, runtime, stdlib))
)
print("RESULT:" + json.dumps({
    "statusCode": response.get("statusCode"),
    "isBase64Encoded": response.get("isBase64Encoded"),
    "headers": response.get("headers"),
    "body_head": raw[:8].hex(),
    "body_text": (
        "" if raw[:8] == bytes.fromhex("89504e470d0a1a0a") else raw[:500].decode("latin1")
    ),
    "body_len": len(raw),
    "runtime_modules_imported": sorted(
        m for m in ("boto3", "botocore", "s3transfer", "jmespath") if m in sys.modules
    ),
    "outside": outside,
    "import_s": round(imported - started, 3),
    "invoke_s": round(done - imported, 3),
}))
"""


def _python312() -> str:
    candidate = Path(sys.base_prefix) / "bin" / "python3.12"
    return str(candidate) if candidate.exists() else bundling.find_python312()


def _runtime_standin(tmp_path: Path) -> Path:
    """A /var/runtime stand-in: symlinks to the host venv's copies of what Lambda provides."""
    import boto3

    site = Path(boto3.__file__).resolve().parents[1]
    runtime = tmp_path / "var-runtime"
    runtime.mkdir()
    for name in RUNTIME_MODULES:
        if (site / name).exists():
            (runtime / name).symlink_to(site / name)
    return runtime


def _tile_for_sample() -> tuple[int, int, int]:
    """The issue's tile if it intersects the sample, else the z13 tile at the sample's centre."""
    import morecantile
    from pyproj import Transformer

    tms = morecantile.tms.get("WebMercatorQuad")
    to_wgs84 = Transformer.from_crs(32632, 4326, always_xy=True)
    xmin, ymin, xmax, ymax = SAMPLE_BOUNDS_32632
    west, south = to_wgs84.transform(xmin, ymin)
    east, north = to_wgs84.transform(xmax, ymax)
    z, x, y = DEFAULT_TILE
    b = tms.bounds(morecantile.Tile(x, y, z))
    if b.left < east and b.right > west and b.bottom < north and b.top > south:
        return DEFAULT_TILE
    cx, cy = to_wgs84.transform((xmin + xmax) / 2, (ymin + ymax) / 2)
    t = tms.tile(cx, cy, 13)
    return (t.z, t.x, t.y)


def _http_api_v2_event(path: str, query: list[tuple[str, str]]) -> dict:
    raw_query = urlencode(query)
    params: dict[str, str] = {}
    for key, value in query:  # API Gateway joins repeated parameters with commas
        params[key] = f"{params[key]},{value}" if key in params else value
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "GET /{proxy+}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "cookies": [],
        "headers": {
            "accept": "image/png,image/*;q=0.8",
            "accept-encoding": "identity",
            "host": "abc123.execute-api.eu-central-1.amazonaws.com",
            "user-agent": "pytest-bundle-smoke",
            "x-forwarded-proto": "https",
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-port": "443",
        },
        "queryStringParameters": params,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-central-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "pytest-bundle-smoke",
            },
            "requestId": "smoke-1",
            "routeKey": "GET /{proxy+}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }


@pytest.fixture(scope="module")
def sample_root(request, tmp_path_factory) -> Path:
    try:
        return request.getfixturevalue("sample_store")
    except pytest.FixtureLookupError:
        pass
    out = tmp_path_factory.mktemp("samples")
    subprocess.run(
        [sys.executable, "-m", "eopf_sample", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


def test_handler_serves_png_tile_in_fresh_process_with_only_the_bundle(
    bundle_dir, sample_root, tmp_path
):
    """x86_64 only: the arm64 bundle's aarch64 code cannot be executed on this machine
    (no aarch64 Python to run it under qemu-user); its checks above are static (readelf)."""
    z, x, y = _tile_for_sample()
    path = f"/collections/sentinel-2-l2a/items/{ITEM}/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
    query = [
        ("variables", "/measurements/reflectance:b04"),
        ("variables", "/measurements/reflectance:b03"),
        ("variables", "/measurements/reflectance:b02"),
        ("rescale", "0,1"),
    ]
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(_http_api_v2_event(path, query)))
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    runtime = _runtime_standin(tmp_path)
    ld_debug = tmp_path / "ld"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "LAMBDA_TASK_ROOT": str(bundle_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "titiler-eopf-tile",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TITILER_EOPF_STORE_URL": str(sample_root),
        "TITILER_EOPF_CACHE_BACKEND": "memory",
        "TITILER_EOPF_CACHE_NAMESPACE": "smoke",
        "TITILER_EOPF_CORS_ORIGINS": '["*"]',
        "POWERTOOLS_SERVICE_NAME": "titiler-eopf",
        "POWERTOOLS_METRICS_NAMESPACE": "TitilerEopf",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "LD_DEBUG": "libs",
        "LD_DEBUG_OUTPUT": str(ld_debug),
    }
    result = subprocess.run(
        [_python312(), "-I", "-S", str(runner), str(bundle_dir), str(runtime), str(event_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT:")]
    assert result.returncode == 0 and lines, (
        f"handler process failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )
    out = json.loads(lines[-1][len("RESULT:") :])
    print(
        f"\nsmoke: tile {z}/{x}/{y} import {out['import_s']}s invoke {out['invoke_s']}s "
        f"{out['body_len']} bytes; runtime modules imported: {out['runtime_modules_imported']}"
    )

    assert out["statusCode"] == 200, out
    assert out["isBase64Encoded"] is True, out
    assert bytes.fromhex(out["body_head"]) == PNG_SIGNATURE, out
    assert out["outside"] == [], (
        f"modules loaded from outside the bundle/runtime/stdlib: {out['outside']}"
    )

    # GDAL's libexpat came from the bundle, not from the host
    log = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("ld.*"))
    loaded = {
        line.split("calling init:", 1)[1].strip()
        for line in log.splitlines()
        if "calling init:" in line and "libexpat" in line
    }
    assert loaded, "libexpat was never loaded (was GDAL imported?)"
    assert all(
        Path(p).resolve() == (bundle_dir / "rasterio.libs" / "libexpat.so.1").resolve()
        for p in loaded
    ), loaded


def test_smoke_event_is_well_formed():
    """The v2 event keeps repeated parameters in order in rawQueryString (what Mangum reads)."""
    event = _http_api_v2_event("/x", [("variables", "a"), ("variables", "b")])
    assert event["rawQueryString"] == "variables=a&variables=b"
    assert event["queryStringParameters"] == {"variables": "a,b"}
    assert base64.b64encode(PNG_SIGNATURE)


def test_asset_hash_follows_builder_version_and_architecture(monkeypatch):
    """Bundling is skipped here, yet the asset key changes when the recipe or target does."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_

    def asset_key(arch: str) -> str:
        app = App(context={"aws:cdk:bundling-stacks": []})
        stack = Stack(app, "HashProbe")
        lambda_.Function(
            stack,
            "Fn",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="x.handler",
            code=lambda_code(arch),
        )
        template = app.synth().get_stack_by_name("HashProbe").template
        return next(
            r["Properties"]["Code"]["S3Key"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
        )

    base = asset_key("x86_64")
    assert asset_key("arm64") != base
    monkeypatch.setattr(recipe, "BUILDER_VERSION", recipe.BUILDER_VERSION + "-next")
    assert asset_key("x86_64") != base
