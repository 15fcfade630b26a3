"""`import shrimpgrad` and a first small op stay cheap (issue 12's cold start): the pictures (every stage's viz.py,
with rich, pygments and graphviz) and `shrimpgrad.explain` load only when used. No time is asserted (machines are
noisy): what is checked is which modules a fresh interpreter has loaded."""

import subprocess
import sys

HEAVY = ("rich", "pygments", "graphviz", "IPython", "matplotlib", "shrimpgrad.explain")


def loaded_after(code: str) -> list[str]:
    probe = code + "\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_import_and_a_first_op_load_no_pictures():
    modules = loaded_after("import shrimpgrad\nfrom shrimpgrad import Tensor\nassert Tensor([1, 2]).sum().item() == 3")
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY) or m.endswith(".viz"))
    assert not heavy, f"loaded at start: {heavy}; import them where they are used (see issue 12, W7)"


def test_the_pictures_and_explain_still_load_when_asked_for():
    modules = loaded_after("import shrimpgrad\nfrom shrimpgrad.graph import to_dot\nshrimpgrad.explain")
    assert {"shrimpgrad.graph.viz", "graphviz", "shrimpgrad.explain"} <= set(modules)
