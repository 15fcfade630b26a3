"""The views of generated C: rich, HTML, the block graph, and the DOT-text fallback without `dot`."""

import io

from program_builders import store_if, sum_rows
from rich.console import Console

from shrimpgrad.c import CProgram, KernelView, print_source, render, source_html, to_dot
from shrimpgrad.c import viz as viz_module


def test_print_source_shows_numbered_code():
    console = Console(file=io.StringIO(), width=120, color_system=None)
    print_source(render(sum_rows()), console=console, title="r_4_8")
    text = console.file.getvalue()
    assert "r_4_8" in text and "1 void r_4_8(" in text and "acc0 = alu2;" in text


def test_html_is_highlighted_source():
    html = source_html(render(sum_rows()))
    assert "<html" in html.lower() and "acc0" in html and "style=" in html


def test_block_graph_nests_loops_and_ifs():
    g = to_dot(store_if())
    src = g.source
    assert "fn -> b0" in src and "b0 -> b3" in src  # function -> loop -> IF
    assert "if (alu1) {" in src and "data0[ridx0] = alu2;" in src


def test_notebook_view_falls_back_to_dot_text(monkeypatch):
    monkeypatch.setattr(viz_module.shutil, "which", lambda name: None)
    view = KernelView(store_if())
    assert view._repr_svg_() is None
    html = view._repr_html_()
    assert "not installed" in html and "digraph E_if" in html


def test_cprogram_renders():
    prog = CProgram(sum_rows())
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(prog)
    assert prog.origin in console.file.getvalue() and "stage 04" in console.file.getvalue()
    assert "acc0" in prog._repr_html_()
