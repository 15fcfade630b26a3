"""The pictures and dumps: step-through, rich table, DOT, notebook fallback, Python round trip."""

import shutil

import graphviz
import pytest
from example_kernels import flipped_row_max, matmul, pad_add
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import kernels, opts_for

from shrimpgrad.graph import Ops, dtypes  # noqa: F401 - used by the exec'd to_python source
from shrimpgrad.linearize import LoopKind, Opt, OptKind, Program, UOp, UOps, linearize, verify  # noqa: F401
from shrimpgrad.linearize.steps import explain, steps
from shrimpgrad.linearize.viz import format_program, format_uops, header, rich_text, to_dot, to_python


def test_steps_show_every_pass_and_each_ast_node():
    names = [name for name, _ in steps(pad_add())]
    assert [n.split(":")[0] for n in names] == ["plan_loops", "define_buffers", "open_loops", "lower_stores",
                                                 "lower_stores", "lower_stores", "lower_stores", "place_uops"]
    assert "lower_stores: LOAD data1 -> LOAD (index gidx0 - 1; valid gidx0 >= 1 and gidx0 < 4)" in names
    assert "lower_stores: CONST 1.0 -> CONST (valid 1)" in names


@given(st.data())
def test_every_step_is_a_valid_growing_program(data):
    k, _ = data.draw(kernels())
    sizes = []
    for _, uops in steps(k, data.draw(opts_for(k))):
        verify(Program("partial", uops))
        sizes.append(len(uops))
    assert sizes == sorted(sizes)


def test_last_step_is_the_program():
    *_, (_, uops) = steps(matmul(), (Opt(OptKind.UPCAST, 0, 2),))
    assert uops == linearize(matmul(), (Opt(OptKind.UPCAST, 0, 2),)).uops
    assert format_uops(uops).startswith("# stage 03 UOps\nProgram partial")


def test_rich_table_shows_nesting_and_opts():
    text = rich_text(linearize(matmul(), (Opt(OptKind.UPCAST, 1, 2),)))
    assert "[UPCAST(axis=1, amount=2)]" in text and "[CPU]" in text  # brackets are text, not rich markup
    assert "    DEFINE_ACC" in text  # two loops deep


def test_dot_has_a_node_per_uop_and_clusters_per_loop():
    p = linearize(flipped_row_max())
    g = to_dot(p)
    assert isinstance(g, graphviz.Digraph)
    assert all(f"u{i} " in g.source or f"u{i} [" in g.source for i in range(len(p.uops)))
    assert g.source.count("subgraph cluster_") == 2


def test_notebook_view_falls_back_to_text_without_dot(monkeypatch):
    from shrimpgrad.graph import notebook

    p = linearize(pad_add())
    monkeypatch.setattr(notebook, "dot_available", lambda: False)
    bundle = p._repr_mimebundle_()
    assert list(bundle) == ["text/html"]
    html = bundle["text/html"]
    assert "not installed" in html and "DEFINE_GLOBAL" in html and "digraph" in html


@pytest.mark.skipif(not shutil.which("dot"), reason="Graphviz's dot program is not installed")
def test_notebook_view_is_one_svg():
    bundle = linearize(pad_add())._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]


def test_rich_print_and_to_dot_are_attached_by_the_package():
    p = linearize(pad_add())
    assert p.to_dot().source == to_dot(p).source
    assert p.__rich__().title.plain == header(p)


def test_to_python_rebuilds_the_program():
    for p in (linearize(flipped_row_max()), linearize(matmul(), (Opt(OptKind.LOCAL, 1, 2),), gpu=True)):
        env = {}
        exec(to_python(p), globals(), env)
        assert env["program"] == p


def test_format_program_header_says_device_and_opts():
    p = linearize(matmul(), (Opt(OptKind.LOCAL, 1, 4),), gpu=True)
    assert format_program(p).splitlines()[:2] == ["# stage 03 UOps", (
        "Program R_4_4_8  [GPU global=(4, 1, 1) local=(4, 1, 1)]  [LOCAL(axis=1, amount=4)]  24 uops")]


def test_explain_shows_plan_rules_and_program():
    text = explain(pad_add())
    lines = text.splitlines()
    assert lines[0] == "loops: gidx0:5  [no opts]"
    assert lines[1] == "rules fired: mul_by_one x2"  # i*1 in the index and the valid
    assert lines[2] == "# stage 03 UOps" and lines[3].startswith("Program E_5")
