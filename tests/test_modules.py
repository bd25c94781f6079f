"""gort's module boundaries: its modules import each other in one direction only.

The graph is read from the source (``ast``), every import counted, a function's
own import too: only the imports under ``if TYPE_CHECKING:`` (annotations,
never executed) are left out.  A cycle means two modules that cannot change,
load or be understood apart (issue #14).
"""

from __future__ import annotations

import ast
from pathlib import Path

import gort

PACKAGE = Path(gort.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ("gort", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, modules: set[str]) -> set[str]:
    """The gort modules ``path`` imports when it runs."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names if a.name in modules)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target in modules and node.module:  # (``from . import x`` names x only)
                found.add(target)
            for alias in node.names:  # ``from . import _runtime``
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")

    Visitor().visit(ast.parse(path.read_text(), str(path)))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _runtime_imports(p, modules) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the cycle it closes."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the walk's stack, 2: done
    stack: list[str] = []

    def walk(u: str) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                found.append([*stack[stack.index(v):], v])
            elif v not in state:
                walk(v)
        stack.pop()
        state[u] = 2

    for u in sorted(graph):
        if u not in state:
            walk(u)
    return found


def test_the_graph_is_read_right() -> None:
    graph = import_graph()
    assert "gort._runtime" in graph["gort._goroutine"]  # from . import _runtime
    assert "gort._waitq" in graph["gort._chan"]  # from ._waitq import ...
    assert "gort._chan" not in graph["gort._select"]  # only under TYPE_CHECKING
    assert "gort.synctest" in graph["gort.testing._pytest_plugin"]  # a function's import


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycle_among_gorts_modules() -> None:
    graph = import_graph()
    # The package imports everything to re-export it; its modules never import it.
    graph.pop("gort")
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)
    assert not [m for m, deps in graph.items() if "gort" in deps]


def test_the_scheduler_knows_nothing_above_it() -> None:
    # The scheduler is the bottom of the runtime: handles, parking, select and
    # channels build on it, never the other way round.
    assert import_graph()["gort._runtime"] <= {"gort._timers", "gort._timeout"}
