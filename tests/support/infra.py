"""Stacks synthesized for the infrastructure tests, and lookups in their templates.

Stacks are synthesized with bundling skipped (``aws:cdk:bundling-stacks: []``): Template
tests then take ~3 s per module (the first ``Template.from_stack``), not a bundle build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tests.support.servers import ROOT  # noqa: F401 (re-exported for the infra tests)

BUNDLING_STACKS = "aws:cdk:bundling-stacks"


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
