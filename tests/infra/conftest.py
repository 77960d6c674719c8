"""Fixtures of the infrastructure tests (helpers: ``tests.support.infra``).

The bundle itself is built once per session (``bundle_dir``) and reused across runs
through the builder's cache in ``~/.cache/titiler-eopf``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.infra import ROOT

# Read by the jsii kernel (Node) that the first aws_cdk import starts, once per process:
# these cannot be scoped to a test.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "bundle: builds/inspects the Lambda bundle (slow on a cold cache; "
        "deselect with -m 'not bundle')",
    )
