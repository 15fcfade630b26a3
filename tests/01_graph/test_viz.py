"""Pictures of the graph: DOT colours and edge labels, the rich tree, and the notebook fallbacks."""

import io

import graphviz
import numpy as np
import pytest
from graph_strategies import leaf
from rich.console import Console

from shrimpgrad.graph import (
    Ops,
    Provenance,
    alu,
    assign,
    broadcast_const,
    const,
    contiguous,
    dtypes,
    movement,
    notebook,
    reduce,
    viz,
)


def render(renderable) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_every_kind_gets_its_colour():
    x, _ = leaf(np.zeros((2, 3), np.float32))
    y = contiguous(reduce(alu(Ops.NEG, movement(Ops.PERMUTE, x, (1, 0))), Ops.ADD, (0,)))
    assert [viz.kind(n) for n in y.toposort()] == ["leaf", "movement", "alu", "reduce", "memory"]
    source = viz.to_dot(y).source
    for color in viz.KIND_COLORS.values():
        assert color in source


def test_edges_carry_shape_dtype_and_the_view_of_movement_ops():
    x, _ = leaf(np.zeros((2, 3), np.float16))
    padded = movement(Ops.PAD, x, ((1, 0), (0, 2)))
    source = viz.to_dot(alu(Ops.NEG, padded)).source
    assert 'label="(2, 3) float16"' in source  # BUFFER -> PAD
    assert "(3, 5) float16\\nstrides=(3, 1) offset=-3 mask=((1, 3), (0, 3))" in source  # PAD -> NEG


def test_unmergeable_reshape_shows_two_views():
    x, _ = leaf(np.zeros((2, 3), np.float32))
    flat = movement(Ops.RESHAPE, movement(Ops.PERMUTE, x, (1, 0)), (6,))
    source = viz.to_dot(alu(Ops.NEG, flat)).source
    assert "view0: strides=(1, 3)" in source and "view1: strides=(1,)" in source


def test_labels_show_provenance_and_roots_their_result():
    meta = Provenance("/home/me/project/train.py", 12, "Tensor.relu")  # the file without its folder, as in the C
    x, _ = leaf(np.zeros(4, np.float32))
    y = alu(Ops.MAX, x, broadcast_const(0.0, dtypes.float32, (4,)), meta=meta)
    source = viz.to_dot(y).source
    assert "MAX\\nTensor.relu at train.py:12\\nresult: (4,) float32" in source
    assert "Tensor.relu at train.py:12" in render(viz.tree(y)) and "/home/me" not in source + render(viz.tree(y))


def test_several_roots_in_one_picture():
    x, _ = leaf(np.zeros(2, np.int32))
    a, b = alu(Ops.NEG, x), alu(Ops.ADD, x, x)
    source = viz.to_dot([a, b]).source
    assert source.count("penwidth=2") == 2 and source.count("BUFFER") == 1


def test_tree_draws_a_shared_node_once():
    x, _ = leaf(np.zeros(2, np.float32))
    shared = alu(Ops.SQRT, x)
    text = render(viz.tree(alu(Ops.MUL, shared, shared)))
    assert text.count("SQRT") == 2 and "see %1 SQRT" in text and text.count("BUFFER") == 1


def test_tree_text_for_an_assign():
    target, _ = leaf(np.zeros(2, np.float32))
    text = render(viz.tree(assign(target, alu(Ops.ADD, target, movement(Ops.EXPAND, movement(
        Ops.RESHAPE, const(1.0, dtypes.float32), (1,)), (2,))))))
    assert text.splitlines()[1].startswith("└── %0 ASSIGN  (2,) float32")
    assert "CONST 1.0  () float32" in text


def test_deep_graph_tree_builds_without_recursion():
    x, _ = leaf(np.zeros(1, np.float32))
    node = x
    for _ in range(3000):
        node = alu(Ops.NEG, node)
    viz.tree(node)  # building is iterative (drawing 3000 levels of indentation is another matter)
    assert len(viz.to_dot(node).body) == 2 * 3000 + 1


def test_rich_print_of_a_node_draws_its_tree():
    x, _ = leaf(np.zeros(2, np.float32))
    assert "EXP2" in render(alu(Ops.EXP2, x))  # Node.__rich__: the same protocol serves rich.print(node)


def test_notebook_falls_back_to_dot_text_without_graphviz(monkeypatch):
    monkeypatch.setattr(notebook, "dot_available", lambda: False)
    x, _ = leaf(np.zeros(2, np.float32))
    node = alu(Ops.NEG, x)
    bundle = node._repr_mimebundle_()
    assert list(bundle) == ["text/html"]  # no picture without dot: the text form and the DOT source instead
    page = bundle["text/html"]
    assert "apt-get install graphviz" in page and "<pre>digraph stage01 {" in page
    assert "%0 NEG" in page  # the tree as text
    assert "n0 -&gt; n1" in page  # the DOT text is HTML-escaped
    with pytest.raises(RuntimeError, match="needs Graphviz's `dot` program"):
        notebook.svg_of(node.to_dot())


@pytest.mark.skipif(not notebook.dot_available(), reason="Graphviz's dot program is not installed")
def test_notebook_svg_with_graphviz(monkeypatch):
    x, _ = leaf(np.zeros(2, np.float32))
    node = alu(Ops.NEG, x)
    runs = []
    pipe = graphviz.Digraph.pipe
    monkeypatch.setattr(graphviz.Digraph, "pipe", lambda self, *a, **k: runs.append(1) or pipe(self, *a, **k))
    bundle = node._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]  # the SVG is the picture
    assert len(runs) == 1  # one display runs `dot` once


def test_tree_text_in_a_notebook_is_not_also_displayed(monkeypatch):
    import rich.console
    import rich.jupyter

    shown = []
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)  # as inside a Jupyter kernel
    monkeypatch.setattr(rich.jupyter, "display", lambda *a, **k: shown.append(a))
    x, _ = leaf(np.zeros(2, np.float32))
    assert "NEG" in viz.tree_text(alu(Ops.NEG, x)) and not shown


def test_pictures_load_on_first_use_and_are_listed():
    import shrimpgrad.graph as graph

    assert {"print_graph", "to_dot", "tree", "Node"} <= set(dir(graph))  # tab completion sees the lazy names
    assert graph.to_dot is viz.to_dot
    with pytest.raises(AttributeError, match="has no attribute 'not_a_name'"):
        graph.not_a_name  # noqa: B018
