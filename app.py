#!/usr/bin/env python3
"""CDK app: the TiTiler-EOPF stack, checked by cdk-nag (AwsSolutions).

Configuration: CDK context (``-c key=value``, cdk.json) or ``TITILER_EOPF_STACK_<KEY>``
environment variables; see infrastructure/config.py. ``-c bundle=false`` skips the
Lambda bundling (fast synth for checks; never deploy such an assembly).
"""

from __future__ import annotations

import sys

from aws_cdk import App

from infrastructure.config import ConfigError, StackConfig, parse_bool
from infrastructure.nag import add_nag
from infrastructure.stack import TitilerEopfStack

BUNDLING_STACKS = "aws:cdk:bundling-stacks"


def build_app(app: App | None = None) -> tuple[App, TitilerEopfStack]:
    app = app or App()
    bundle = app.node.try_get_context("bundle")
    if bundle is not None and not parse_bool(bundle):
        app.node.set_context(BUNDLING_STACKS, [])
    try:
        config = StackConfig.load(app.node.try_get_context)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    stack = TitilerEopfStack(app, config.stack_name, config=config)
    add_nag(app, stack)
    return app, stack


if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
