"""`make demo` installs the package alone (pyproject's dependencies), not the dev extra: everything the demo
imports, and the examples it imports, must come from the standard library, those dependencies or shrimpgrad."""

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def demo_imports() -> dict[str, set[str]]:
    """{module: the file(s) importing it} over examples/demo.py and the example modules it imports, transitively."""
    found: dict[str, set[str]] = {}
    todo, seen = ["demo"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for module in top_level_imports(EXAMPLES / f"{name}.py"):
            if (EXAMPLES / f"{module}.py").exists():
                todo.append(module)
            else:
                found.setdefault(module, set()).add(f"examples/{name}.py")
    return found


def test_the_demo_needs_only_the_package_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {re.split(r"[<>=!~ \[]", d)[0].lower().replace("-", "_") for d in project["dependencies"]}
    allowed = installed | set(sys.stdlib_module_names) | {"shrimpgrad"}
    extra = {m: sorted(files) for m, files in demo_imports().items() if m not in allowed}
    assert not extra, (f"the demo imports {extra}, which `make demo` doesn't install: add it to the project's "
                       f"dependencies in pyproject.toml, or keep the demo to {sorted(installed)}")


def test_the_check_sees_the_examples_the_demo_imports():
    imports = demo_imports()
    assert {"numpy", "rich", "shrimpgrad"} <= set(imports)
    assert "examples/digits.py" in imports["numpy"]  # reached through digits_mlp.py -> digits.py
