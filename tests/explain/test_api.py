"""`shrimpgrad.explain(...)` from Python: tensors, functions, errors, the terminal and notebook views."""

import io

import numpy as np
import pytest
from rich.console import Console

import shrimpgrad
from shrimpgrad import Tensor
from shrimpgrad.c import render
from shrimpgrad.explain import ExplainError, Explanation


def test_a_lazy_tensor_is_explained_without_running():
    from shrimpgrad import GlobalCounters

    GlobalCounters.reset()
    t = (Tensor(np.arange(6, dtype=np.float32)) * 2).relu().sum()
    e = shrimpgrad.explain(t)  # the package is callable
    assert isinstance(e, Explanation) and GlobalCounters.kernel_count == 0
    assert t.node.op.name != "BUFFER"  # still lazy
    (k,) = e.kernels
    assert k.c.text == render(k.c.program)  # the lines shown are exactly what stage 04 renders


def test_big_kernels_with_openmp_rows_are_linked_line_by_line():
    x = Tensor(np.ones((512, 512), dtype=np.float32))
    e = shrimpgrad.explain((x * 3 + 1).exp(), cuda=False)
    (k,) = e.kernels
    assert "#pragma omp" in k.c.text and k.c.text == render(k.c.program)
    assert any(line.origins for line in k.c.lines), "the line map fell back to unlinked text"


def test_a_function_is_run_and_everything_it_realized_explained():
    def step(x):
        y = (x + 1).numpy()  # realized inside
        return Tensor(y).exp()  # lazy result: realized by explain

    e = shrimpgrad.explain(step, Tensor(np.ones(3, dtype=np.float32)))
    assert len(e.realizations) == 2 and e.title == "test_a_function_is_run_and_everything_it_realized_explained" \
        ".<locals>.step()"


def test_a_loop_of_one_structure_is_one_graph_realized_n_times():
    x = Tensor(np.ones(4, dtype=np.float32))

    def loop():
        for _ in range(3):
            (x * 2).realize()

    (r,) = shrimpgrad.explain(loop).realizations
    assert r.runs == 3


@pytest.mark.parametrize("make, phrase", [
    (lambda: Tensor([1.0, 2.0]), "nothing to explain: the tensor is data"),
    (lambda: (lambda: 3), "realized no Tensor"),
    (lambda: 42, "explain takes a Tensor"),
])
def test_nothing_to_explain(make, phrase):
    with pytest.raises(ExplainError, match=phrase):
        shrimpgrad.explain(make())


def test_terminal_view_and_its_errors():
    e = shrimpgrad.explain((Tensor.ones(2, 2) + Tensor.ones(2, 2)).sum(), cuda=False)
    out = io.StringIO()
    e.print(["c"], console=Console(file=out, width=120))
    assert "stage 04 · C" in out.getvalue() and "stage 03" not in out.getvalue()
    with pytest.raises(ExplainError, match="unknown stage 'asm'"):
        e.print(["asm"])
    with pytest.raises(ExplainError, match="no kernel named 'E_9'"):
        e.print(kernel="E_9")


def test_notebook_repr_is_the_report_without_the_page():
    e = shrimpgrad.explain(Tensor.ones(3).exp(), cuda=False)
    html = e._repr_html_()
    assert "<html" not in html and "<script>" in html and "class='sgx'" in html and "<svg" in html
    assert e._repr_html_() != html  # each report has its own id: two in one notebook don't interfere
