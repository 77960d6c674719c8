"""Shared helpers of the infrastructure tests.

Stacks are synthesized with bundling skipped (``aws:cdk:bundling-stacks: []``): a synth
then takes about a second, not a bundle build. The default configuration is synthesized
once per session (``default_synth``) for both its template assertions and its checks
(cdk-nag, cfn-lint). The bundle itself is built once per session (``bundle_dir``) and
reused across runs through the builder's cache in ``~/.cache/titiler-eopf``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLING_STACKS = "aws:cdk:bundling-stacks"

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")


def synth_stack(
    context: dict[str, Any] | None = None, *, nag: bool = True, outdir: str | None = None
):
    """(app, stack) for the given config context, bundling skipped, cdk-nag attached."""
    from aws_cdk import App

    from infrastructure.config import StackConfig
    from infrastructure.nag import add_nag
    from infrastructure.stack import TitilerEopfStack

    ctx = {BUNDLING_STACKS: [], **(context or {})}
    app = App(context=ctx, outdir=outdir) if outdir else App(context=ctx)
    config = StackConfig.load(ctx, environ={})
    stack = TitilerEopfStack(app, config.stack_name, config=config)
    if nag:
        add_nag(app, stack)
    return app, stack


@dataclass
class Synthesized:
    """One configuration synthesized (with cdk-nag) into ``outdir``.

    ``error`` is what synthesis raised (a cdk-nag violation interrupts it), ``report`` the
    policy-validation report CDK wrote (None if it wrote none).
    """

    name: str
    app: Any
    stack: Any
    outdir: Path
    report: dict | None
    error: Exception | None

    @cached_property
    def template(self):
        """The stack's template for ``aws_cdk.assertions`` (read, not synthesized again)."""
        from aws_cdk.assertions import Template

        path = self.outdir / f"{self.stack.stack_name}.template.json"
        return Template.from_json(json.loads(path.read_text()))


def synthesize(name: str, context: dict[str, Any], outdir: Path) -> Synthesized:
    app, stack = synth_stack(context, outdir=str(outdir))
    try:
        app.synth()
        error = None
    except Exception as exc:  # a violation interrupts synthesis: the checks report it
        error = exc
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return Synthesized(name, app, stack, outdir, report, error)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory) -> Synthesized:
    """The default configuration, synthesized once for every module that inspects it."""
    return synthesize("default", {}, tmp_path_factory.mktemp("cdkout-default"))


# Scale-out variants (issue 16), each synthesized once per session (``variant_synth``) for
# both its template assertions and its checks (cdk-nag, cfn-lint).
VARIANTS: dict[str, dict[str, str]] = {
    "serverless": {
        "stage": "staging",
        "cache_mode": "serverless",
        "cache_max_storage_gb": "20",
        "cache_max_ecpu_per_second": "50000",
    },
    "cluster-redis": {
        "cache_mode": "cluster",
        "cache_engine": "redis",
        "cache_engine_version": "7.1",
        "cache_node_type": "cache.r7g.large",
        "cache_shards": "3",
        "cache_replicas": "1",
    },
    # prod: one NAT per AZ; CloudFront with the origin lock; SnapStart; reserved concurrency
    "prod-cloudfront-snapstart": {
        "stage": "prod",
        "cloudfront": "true",
        "cors_origins": "https://explorer.example.com,https://maps.example.org",
        "snapstart": "true",
        "reserved_concurrency": "200",
        "tile_ttl": "604800",
    },
}


@pytest.fixture(scope="session")
def variant_synth(tmp_path_factory):
    """``variant_synth(name)``: the VARIANTS entry synthesized once per session."""
    done: dict[str, Synthesized] = {}

    def get(name: str) -> Synthesized:
        if name not in done:
            done[name] = synthesize(name, VARIANTS[name], tmp_path_factory.mktemp(f"cdkout-{name}"))
        return done[name]

    return get


def resources(template, type_: str) -> dict[str, dict]:
    return template.find_resources(type_)


def only(template, type_: str, props: dict | None = None) -> tuple[str, dict]:
    found = template.find_resources(type_, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {type_} matching {props}, found {len(found)}"
    return next(iter(found.items()))


def logical_id(stack, construct) -> str:
    return stack.get_logical_id(construct.node.default_child)


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "bundle: builds/inspects the Lambda bundle "
        "(slow on a cold cache; deselect with -m 'not bundle')",
    )
