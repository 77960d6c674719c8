"""Stacks synthesized for the infrastructure tests, and lookups in their templates.

Stacks are synthesized with bundling skipped (``aws:cdk:bundling-stacks: []``): Template
tests then take ~3 s per module (the first ``Template.from_stack``), not a bundle build.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.servers import ROOT  # noqa: F401 (re-exported for the infra tests)

BUNDLING_STACKS = "aws:cdk:bundling-stacks"


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
