"""Fixtures of the infrastructure tests (helpers: ``tests.support.infra``).

Stacks are synthesized with bundling skipped (``aws:cdk:bundling-stacks: []``): a synth
then takes about a second, not a bundle build. The default configuration is synthesized
once per session (``default_synth``), and so is each scale-out variant (``variant_synth``),
for both their template assertions and their checks (cdk-nag, cfn-lint). The bundle itself is
built once per session (``bundle_dir``) and reused across runs through the builder's cache in
``~/.cache/titiler-eopf``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.infra import ROOT, VARIANTS, Synthesized, synthesize

# Read by the jsii kernel (Node) that the first aws_cdk import starts, once per process:
# these cannot be scoped to a test.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory) -> Synthesized:
    """The default configuration, synthesized once for every module that inspects it."""
    return synthesize("default", {}, tmp_path_factory.mktemp("cdkout-default"))


@pytest.fixture(scope="session")
def variant_synth(tmp_path_factory):
    """``variant_synth(name)``: the VARIANTS entry synthesized once per session."""
    done: dict[str, Synthesized] = {}

    def get(name: str) -> Synthesized:
        if name not in done:
            done[name] = synthesize(name, VARIANTS[name], tmp_path_factory.mktemp(f"cdkout-{name}"))
        return done[name]

    return get


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "bundle: builds/inspects the Lambda bundle (slow on a cold cache; "
        "deselect with -m 'not bundle')",
    )
