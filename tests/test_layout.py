"""The house rules, checked on the source: module sizes, no import circle, one-way doors.

The rules read as a maintainer would check them by hand: an AST scan of every ``import`` in
``lambda_src/titiler_eopf`` and ``infrastructure/`` (imports inside functions count too: a lazy
import is still a door).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lambda_src" / "titiler_eopf"
MAX_LINES = 600

# room -> rooms it must never import (directly or lazily); a room is the first name under
# titiler_eopf (a sub-package or a top-level module).
_ENTRY = {"main", "__main__", "handlers", "ops"}
FORBIDDEN_DOORS = {
    "tiler": {"cache", "admin", "settings"} | _ENTRY,
    "cache": {"tiler", "admin", "settings"} | _ENTRY,
    "admin": {"tiler"} | _ENTRY,
    "handlers": {"ops", "__main__"},
    "ops": {"handlers"},
    # leaves: the standard library only (presets may use paths)
    "paths": {"tiler", "cache", "admin", "settings", "environment", "presets"} | _ENTRY,
    "environment": {"tiler", "cache", "admin", "settings", "paths", "presets"} | _ENTRY,
    "presets": {"tiler", "cache", "admin", "settings", "environment"} | _ENTRY,
    # boto3 clients with timeouts (a leaf), and the CDN's origin check (uses aws only)
    "aws": {"tiler", "cache", "admin", "settings", "environment", "paths", "origin"} | _ENTRY,
    "origin": {"tiler", "cache", "admin", "settings"} | _ENTRY,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "lambda_src").with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, module: str) -> set[str]:
    """Every titiler_eopf module ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from pkg import module`` imports a module, not just a name.
            found.update(f"{target}.{a.name}" for a in node.names)
    return {name for name in found if name.split(".")[0] == "titiler_eopf"}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path, name) if m in modules and m != name}
    return graph


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_over_the_size_limit():
    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "infrastructure").rglob("*.py")]
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in sources
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_no_import_circle():
    graph = _graph()
    # Package __init__ modules re-export their children: an edge child -> parent package
    # is a circle only through the __init__'s own imports, which the scan sees as edges too.
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


@pytest.mark.parametrize("room", sorted(FORBIDDEN_DOORS))
def test_rooms_have_one_way_doors(room):
    graph = _graph()
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _room(module) == room
        for target in targets
        if _room(target) in FORBIDDEN_DOORS[room]
    )
    assert not wrong, f"{room} must not import {sorted(FORBIDDEN_DOORS[room])}: {wrong}"


def test_infrastructure_knows_the_lambda_code_only_as_an_asset_path():
    wrong = []
    for path in [*(ROOT / "infrastructure").rglob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            wrong += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("titiler")]
    assert not wrong, wrong


def test_the_scan_sees_imports():
    """The scan itself: the package's own modules and their known doors are found."""
    graph = _graph()
    assert "titiler_eopf.paths" in graph
    assert any("titiler_eopf.paths" in targets for targets in graph.values())
