"""No stage has an import cycle inside it: its modules, read with `ast`, import each other as a DAG.

import-linter's layers contract (`make lint`) keeps the stages in order; this test looks inside each one. Every
import counts, also those inside functions (an IR class importing its visualizer in a method is a cycle that
only shows when the method runs). A cycle makes a learner ask "which of these comes first?": the IR comes
first, its pictures (viz.py) after, and a package's `__init__` ties them (stage 01's notebook.py).
"""

import ast
import pathlib
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE_DIRS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def imported_modules(source: str, package: str, modules: set[str]) -> set[str]:
    """The modules of `package` (names in `modules`, `__init__` for the package itself) that `source` imports,
    at any depth (functions, methods, `if TYPE_CHECKING:` blocks: every import statement counts)."""
    found: set[str] = set()

    def module_or_package(name: str) -> str:
        return name if name in modules else "__init__"

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    found.add(module_or_package(alias.name.removeprefix(package).lstrip(".").split(".")[0]))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = node.module or ""
            elif node.level == 0 and node.module and (node.module == package or node.module.startswith(package + ".")):
                base = node.module.removeprefix(package).lstrip(".")
            else:
                continue  # another package (another stage, numpy, ...), or a relative import leaving the stage
            if base:
                found.add(module_or_package(base.split(".")[0]))
            else:  # `from . import x`: x is a module of the stage, or a name its __init__ exports
                found |= {module_or_package(alias.name) for alias in node.names}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None when it is a DAG (iterative depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = "open"
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def stage_graph(folder: pathlib.Path, package: str) -> dict[str, set[str]]:
    files = {p.stem: p for p in folder.glob("*.py")}
    modules = set(files)
    graph = {name: imported_modules(path.read_text(), package, modules) - {name} for name, path in files.items()}
    graph["__init__"] = graph.get("__init__", set())
    return graph


# A stage whose owner is removing its cycle gets an entry here until it is gone (strict: the xfail fails once the
# cycle is gone, so the entry can't outlive it).
KNOWN_CYCLES: dict[str, str] = {}


@pytest.mark.parametrize("package", sorted(PACKAGE_DIRS))
def test_no_import_cycle_inside_a_stage(package, request):
    if package in KNOWN_CYCLES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_CYCLES[package]))
    graph = stage_graph(ROOT / PACKAGE_DIRS[package], package)
    assert len(graph) > 3, f"found only {sorted(graph)} in {PACKAGE_DIRS[package]}"
    cycle = find_cycle(graph)
    assert cycle is None, f"{package} has an import cycle: {' -> '.join(cycle)}"


def test_the_reader_sees_function_level_and_relative_imports():
    source = '''
from .ops import Node
from . import rules, VERSION
import shrimpgrad.graph.view
from shrimpgrad.graph import dtypes
from shrimpgrad.schedule import Kernel
import numpy as np

class Node:
    def picture(self):
        from .viz import to_dot
        return to_dot(self)
'''
    got = imported_modules(source, "shrimpgrad.graph", {"ops", "rules", "view", "viz", "__init__"})
    assert got == {"ops", "rules", "__init__", "view", "viz"}  # not shrimpgrad.schedule, not numpy


def test_find_cycle_finds_a_planted_cycle_and_passes_a_dag():
    assert find_cycle({"lower": {"uops"}, "uops": {"viz"}, "viz": {"lower", "ops"}, "ops": set()}) == [
        "lower", "uops", "viz", "lower"]
    assert find_cycle({"__init__": {"ops", "viz"}, "viz": {"ops"}, "ops": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
