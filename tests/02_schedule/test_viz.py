"""The dumps: golden text of two README programs, the rich table, the DOT picture and notebook reprs."""

import os
from html import escape
from pathlib import Path

import graphviz
import pytest
from rich.console import Console
from schedule_programs import REFERENCE_PROGRAMS

from shrimpgrad.graph import notebook
from shrimpgrad.schedule import create_schedule, format_schedule, print_schedule, to_dot

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name, program", [("elementwise_chain", "elementwise chain relu(a*b+c)"),
                                           ("softmax", "softmax"), ("matmul_relu_sum", "(x @ w).relu().sum()")])
def test_golden_dump(name, program):
    """Set UPDATE_GOLDEN=1 to rewrite the files after an intended change, then review the diff."""
    roots, _ = REFERENCE_PROGRAMS[program]()
    text = format_schedule(create_schedule(roots)) + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_table_lists_every_kernel_with_its_reason(monkeypatch):
    monkeypatch.setenv("SHRIMPGRAD_FUSE_ROWS", "0")  # the three kernels of softmax without row kernels
    roots, _ = REFERENCE_PROGRAMS["softmax"]()
    s = create_schedule(roots)
    console = Console(width=200, record=True)
    print_schedule(s, kernels=True, console=console)
    out = console.export_text()
    for k in s.kernels:
        assert k.name in out
    assert "reduce_behind_view" in out and "REDUCE MAX axes=(1,)" in out


def test_dot_has_a_cluster_per_kernel_and_a_node_per_buffer():
    roots, _ = REFERENCE_PROGRAMS["softmax"]()
    s = create_schedule(roots)
    dot = to_dot(s)
    assert isinstance(dot, graphviz.Digraph)
    assert dot.source.count("subgraph cluster_") == len(s.kernels)
    assert dot.source.count("shape=cylinder") == len(s.buffers)


def test_notebook_reprs_fall_back_to_text_without_dot(monkeypatch):
    roots, _ = REFERENCE_PROGRAMS["softmax"]()
    s = create_schedule(roots)
    monkeypatch.setattr(notebook, "dot_available", lambda: False)
    bundle = s._repr_mimebundle_()
    assert list(bundle) == ["text/html"]
    html = bundle["text/html"]
    assert "not installed" in html and "digraph" in html and "R_4_8" in html
    assert escape(format_schedule(s)) in html  # the text dump is shown


@pytest.mark.skipif(not notebook.dot_available(), reason="Graphviz's dot program is not installed")
def test_notebook_repr_runs_dot_once(monkeypatch):
    roots, _ = REFERENCE_PROGRAMS["softmax"]()
    s = create_schedule(roots)
    runs = []
    pipe = graphviz.Digraph.pipe
    monkeypatch.setattr(graphviz.Digraph, "pipe", lambda self, *a, **k: runs.append(1) or pipe(self, *a, **k))
    bundle = s._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"] and len(runs) == 1
    assert repr(s) == "<Schedule 1 kernel(s): R_4_8>"
