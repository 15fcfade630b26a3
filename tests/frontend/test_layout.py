"""The front end's layout (shrimpgrad/tensor.py's docstring): a small core Tensor plus one mixin per family, each
saying which core methods it needs, one module of shared errors and checks, and no import cycle through the
core. These tests keep that layout true as methods are added."""

import ast
import inspect
from pathlib import Path

import pytest

import shrimpgrad.checks as checks
from shrimpgrad.tensor import Tensor

FRONT_END = Path(checks.__file__).parent
MIXINS = ["creation", "elementwise", "movement", "reduce", "indexing", "nn_ops", "conv_ops", "lifecycle"]
DOCUMENTED = MIXINS  # each mixin's docstring says which core methods it needs


def _tree(name: str) -> ast.Module:
    return ast.parse((FRONT_END / f"{name}.py").read_text())


def _runtime_imports(tree: ast.Module) -> set[str]:
    """The modules imported outside `if TYPE_CHECKING:` blocks, at any depth (function-level imports too)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@pytest.mark.parametrize("name", MIXINS + ["checks"])
def test_no_mixin_imports_the_core_at_run_time(name):
    """tensor.py imports the mixins; a mixin that imported tensor.py back would be an import cycle (they name the
    Tensor class only in annotations, under TYPE_CHECKING, and reach it at run time as type(self))."""
    imports = _runtime_imports(_tree(name))
    assert "shrimpgrad.tensor" not in imports and "shrimpgrad.tensor" not in {i.rsplit(".", 1)[0] for i in imports}


@pytest.mark.parametrize("name", DOCUMENTED)
def test_each_mixin_says_what_it_needs_from_the_core(name):
    doc = ast.get_docstring(_tree(name))
    assert doc and "Required from the core Tensor" in doc, f"{name}.py: say which core methods the mixin uses"


def test_no_two_mixins_define_the_same_method():
    """With the methods spread over mixins, a name defined twice would be picked silently by the MRO order."""
    owners: dict[str, list[str]] = {}
    for cls in Tensor.__mro__[:-1]:  # without object
        for name, value in vars(cls).items():
            if callable(value) or isinstance(value, (property, staticmethod, classmethod)):
                if name not in ("__init__", "__dict__", "__weakref__", "__module__", "__doc__"):
                    owners.setdefault(name, []).append(cls.__name__)
    twice = {name: classes for name, classes in owners.items() if len(classes) > 1}
    assert not twice, f"defined in more than one of Tensor's classes: {twice}"


def test_the_error_classes_live_in_checks():
    """One set of error types for the whole front end."""
    for name in ["tensor", *MIXINS]:
        defined = [n.name for n in _tree(name).body if isinstance(n, ast.ClassDef)
                   and any(isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception")) for b in n.bases)]
        assert not defined, f"{name}.py defines {defined}: put error classes in shrimpgrad/checks.py"
    errors = [c for _, c in inspect.getmembers(checks, inspect.isclass) if issubclass(c, Exception)]
    assert {"ShapeError", "AxisError", "DTypeError", "IndexOutOfBounds", "PaddingError"} <= {c.__name__ for c in errors}


def test_public_import_paths_still_work():
    from shrimpgrad import Tensor as T2
    from shrimpgrad.tensor import AxisError, DTypeError, GradError, IndexOutOfBounds, ShapeError, no_grad  # noqa: F401

    assert T2 is Tensor and ShapeError is checks.ShapeError and issubclass(AxisError, IndexError)
