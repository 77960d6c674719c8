"""Shared helpers of the infrastructure tests.

Stacks are synthesized with bundling skipped (``aws:cdk:bundling-stacks: []``): Template
tests then take ~3 s per module (the first ``Template.from_stack``), not a bundle build.
The bundle itself is built once per session (``bundle_dir``) and reused across runs
through the builder's cache in ``~/.cache/titiler-eopf``.
"""

from __future__ import annotations

import json
import os
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
        "bundle: builds/inspects the Lambda bundle (slow on a cold cache; "
        "deselect with -m 'not bundle')",
    )
