"""The views of generated C: rich, HTML, the block graph, and the DOT-text fallback without `dot`."""

import io
import re

import graphviz
import pytest
from program_builders import store_if, sum_rows
from rich.console import Console

from shrimpgrad.c import CProgram, KernelView, print_source, render, source_html, to_dot
from shrimpgrad.graph import notebook


def test_print_source_shows_numbered_code():
    console = Console(file=io.StringIO(), width=120, color_system=None)
    print_source(render(sum_rows()), console=console, title="r_4_8")
    text = console.file.getvalue()
    assert "r_4_8" in text and "1 void r_4_8(" in text and "acc0 = alu2;" in text


def test_html_is_highlighted_source():
    html = source_html(render(sum_rows()))
    assert html.startswith("<pre") and "acc0" in html and "style=" in html
    assert "<html" not in html.lower() and "body" not in html  # a fragment: it doesn't restyle the notebook's page


def test_html_is_compact_and_not_displayed_by_rich_in_a_notebook(monkeypatch):
    import rich.console
    import rich.jupyter

    shown = []
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)  # as inside a Jupyter kernel
    monkeypatch.setattr(rich.jupyter, "display", lambda *a, **k: shown.append(a))
    src = render(sum_rows())
    html = source_html(src)
    assert not shown  # rich's Console displays what it prints in a notebook: the source came out twice
    assert "text-decoration-color" not in html and not re.search(r'<span style="[^"]*">\s+</span>', html)
    assert len(html) < 4 * len(src)  # rich's own HTML was about 8x the source


def test_block_graph_nests_loops_and_ifs():
    g = to_dot(store_if())
    src = g.source
    assert "fn -> b0" in src and "b0 -> b3" in src  # function -> loop -> IF
    assert "if (alu1) {" in src and "data0[gidx0] = alu2;" in src


def test_notebook_view_falls_back_to_dot_text(monkeypatch):
    monkeypatch.setattr(notebook, "dot_available", lambda: False)
    bundle = KernelView(store_if())._repr_mimebundle_()
    assert list(bundle) == ["text/html"] and repr(KernelView(store_if())) == "KernelView(E_if)"  # no address
    html = bundle["text/html"]
    assert "not installed" in html and "digraph E_if" in html and "style=" in html  # the source is still shown


@pytest.mark.skipif(not notebook.dot_available(), reason="Graphviz's dot program is not installed")
def test_notebook_view_is_source_then_picture_with_one_dot_run(monkeypatch):
    runs = []
    pipe = graphviz.Digraph.pipe
    monkeypatch.setattr(graphviz.Digraph, "pipe", lambda self, *a, **k: runs.append(1) or pipe(self, *a, **k))
    bundle = KernelView(store_if())._repr_mimebundle_()
    assert list(bundle) == ["text/html"] and len(runs) == 1
    html = bundle["text/html"]
    assert html.index("E_if") < html.index("<svg") and "<?xml" not in html  # the SVG inline, after the source


def test_cprogram_renders():
    prog = CProgram(sum_rows())
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(prog)
    assert prog.origin in console.file.getvalue() and "stage 04" in console.file.getvalue()
    assert "acc0" in prog._repr_mimebundle_()["text/html"]


def test_cprogram_has_its_pictures_however_its_module_was_imported():
    """The package imports runtime.py lazily; a CProgram taken from the module itself still draws its source."""
    import subprocess
    import sys

    code = "from shrimpgrad.c.runtime import CProgram; print(hasattr(CProgram, '__rich__'), " \
           "hasattr(CProgram, '_repr_mimebundle_'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
