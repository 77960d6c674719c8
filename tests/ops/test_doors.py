"""One-way doors: the admin Lambda (``handlers``) and the CLI (``ops``) both call the admin
service and never each other; the admin service imports neither."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lambda_src" / "titiler_eopf"


def imported(room: str) -> set[str]:
    """Every ``titiler_eopf`` module a room's files import (at any depth of the code)."""
    names = set()
    for path in (PACKAGE / room).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("titiler_eopf.")}


@pytest.mark.parametrize(
    "room,forbidden",
    [("handlers", "ops"), ("ops", "handlers"), ("admin", "handlers"), ("admin", "ops")],
)
def test_rooms_do_not_import_each_other(room, forbidden):
    assert imported(room), f"no imports found in {room}: the scan is broken"
    assert not {n for n in imported(room) if n.startswith(f"titiler_eopf.{forbidden}")}


def test_handlers_and_ops_call_the_admin_service():
    for room in ("handlers", "ops"):
        assert "titiler_eopf.admin.service" in imported(room)
