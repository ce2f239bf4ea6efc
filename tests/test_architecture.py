"""The package's layering: no import circles, and the engine knows no biology.

Every ``import`` inside ``apopsim`` is counted: at module level, inside functions and under
``if TYPE_CHECKING:``. A function-level or type-only import is still a dependency, and a circle
through one is the tangle this test exists to prevent.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sim" / "apopsim"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """apopsim modules imported by the file at ``path`` (resolved to known modules)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{a.name}" for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    files = [p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts]
    modules = {_module_name(p) for p in files}
    graph = {_module_name(p): _imports(p, modules) for p in files}
    # importing a submodule runs its parent package's __init__ first; a package __init__ that
    # re-exports its own submodules is not a circle
    return {m: {d for d in deps if not m.startswith(d + ".") and not d.startswith(m + ".")}
            for m, deps in graph.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return [*stack[stack.index(d):], d]
            if d not in state and (found := dfs(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := dfs(m)):
            return found
    return None


def test_no_import_circles():
    cycle = _cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("layer, forbidden", [
    ("apopsim.engine", ("apopsim.scenario", "apopsim.population", "apopsim.runner",
                        "apopsim.report", "apopsim.synergy", "apopsim.cli")),
    ("apopsim.synergy", ("apopsim.engine", "apopsim.scenario", "apopsim.population",
                         "apopsim.runner", "apopsim.cli")),
])
def test_lower_layers_do_not_import_upper_ones(layer, forbidden):
    graph = _graph()
    bad = {m: sorted(d for d in deps if d.startswith(forbidden))
           for m, deps in graph.items() if m == layer or m.startswith(layer + ".")}
    assert not {m: d for m, d in bad.items() if d}


def test_the_engine_knows_no_biology():
    """No drug, protein or death vocabulary in the engine's identifiers."""
    words = ("drug", "dose", "death", "lisaftoclax", "mcl1", "bcl2", "parp", "caspase")
    for path in (PACKAGE / "engine").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node, "id", None) or getattr(node, "attr", None) or (
                node.name if isinstance(node, ast.FunctionDef | ast.ClassDef) else None) or (
                node.arg if isinstance(node, ast.arg) else None)
            assert not (name and any(w in name.lower() for w in words)), (path.name, name)
