"""`shrimpgrad.explain`: show a program stage by stage, every generated line traced to the Python line behind it.

    shrimpgrad.explain(t)                 a Tensor (lazy, or realized: the graph that computed it), or several
    shrimpgrad.explain(fn, *args)         run fn(*args) and explain every graph it realized (its result too)
    e.print(stage="c", kernel="E_4")      the terminal view (rich); stages: graph, schedule, uops, c, cuda
    e.save_html("report.html")            one self-contained HTML file: a panel per stage, linked by provenance
    e                                     in a notebook: the same report, inline

    python -m shrimpgrad explain script.py [--stage c] [--kernel NAME] [--html report.html]
    python -m shrimpgrad explain -c "(Tensor.ones(4) * 2).sum()"

Nothing here changes how a program runs: `capture()` watches the runtime (realize.py's graph watchers) and
schedules and lowers each graph again on the side (model.py), with the same stages the devices use.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Callable, Iterator

from shrimpgrad import realize as _realize
from shrimpgrad.graph import Node, Ops, toposort

from .model import STAGES, ExplainError, Explanation, Realization, explain_graph

__all__ = ["explain", "capture", "Explanation", "Realization", "ExplainError", "STAGES"]


class _Capture:
    """The graphs the runtime computed while capturing, each once (with how often it ran). "The same graph" is the
    same structure (the schedule cache's key) made by the same user lines: a loop's steps are one graph run n
    times, while the same computation written on other lines is a graph of its own, shown with its own lines
    (the runtime reuses one plan for both; what it shows of a run's lines comes from that run's graph)."""

    def __init__(self):
        self.graphs: list[tuple[list[Node], str]] = []
        self.runs: dict[tuple, int] = {}
        self.keys: list[tuple] = []

    def __call__(self, roots: list[Node], device: str) -> None:
        key = (device, _realize._structure(roots).key, tuple(n.meta for n in toposort(roots)))
        if key not in self.runs:
            self.runs[key] = 0
            self.keys.append(key)
            self.graphs.append((list(roots), device))
        self.runs[key] += 1

    def explanation(self, title: str, cuda: bool = True) -> Explanation:
        realizations = []
        for i, ((roots, device), key) in enumerate(zip(self.graphs, self.keys)):
            r = explain_graph(roots, device, i, cuda=cuda)
            r.runs = self.runs[key]
            realizations.append(r)
        return Explanation(title, realizations)


@contextlib.contextmanager
def capture() -> Iterator[_Capture]:
    """Record every graph realized inside the `with` block (`.explanation(title)` then builds the report)."""
    c = _Capture()
    _realize._graph_watchers.append(c)
    try:
        yield c
    finally:
        _realize._graph_watchers.remove(c)


def _tensors(x) -> list:
    """The Tensors in `x` (a Tensor, or lists, tuples and dicts of them): what the JIT looks for in a result."""
    from shrimpgrad.jit import tensors_in

    return tensors_in(x)


def _graph_of(t) -> Node | None:
    """The graph that computes `t`: its lazy node, or for a realized tensor the graph its value came from."""
    from shrimpgrad.lifecycle import _FORWARD

    if t.node.op is not Ops.BUFFER:
        return t.node
    forward = _FORWARD.get(t.node)
    return forward[0] if forward is not None else None


def explain(x, *args, cuda: bool = True, title: str | None = None, **kwargs) -> Explanation:
    """Explain a Tensor (or a list of them) without running it, or run a function and explain what it realized.

    Raises ExplainError when there is nothing to explain (an already realized tensor whose graph is gone, a
    function that realized nothing). `cuda=False` skips the CUDA view (stage 05)."""
    if callable(x) and not _tensors(x):
        return _explain_call(x, args, kwargs, cuda, title)
    tensors = _tensors(x)
    if not tensors:
        raise ExplainError(f"explain takes a Tensor, a list of Tensors or a function, got {type(x).__name__}")
    roots, devices = [], []
    for t in tensors:
        g = _graph_of(t)
        if g is not None and g.op is not Ops.BUFFER:
            roots.append(g)
            devices.append(t.device)
    if not roots:
        raise ExplainError("nothing to explain: the tensor is data (made from values, or already realized and its "
                           "graph forgotten); explain it before .realize()/.numpy(), or pass the function that "
                           "computes it: shrimpgrad.explain(fn)")
    return Explanation(title or "tensor", [explain_graph(roots, devices[0], 0, cuda=cuda)])


def _explain_call(fn: Callable, args, kwargs, cuda: bool, title: str | None) -> Explanation:
    from shrimpgrad.tensor import Tensor

    with capture() as c:
        result = fn(*args, **kwargs)
        lazy = [t for t in _tensors(result) if t.node.op is not Ops.BUFFER]
        if lazy:
            Tensor.realize(*lazy)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    if not c.graphs:
        raise ExplainError(f"nothing to explain: {name}() realized no Tensor (nothing was computed); return a "
                           "Tensor from it, or call .realize()/.numpy() inside it")
    return c.explanation(title or f"{name}()", cuda=cuda)


class _CallableModule(types.ModuleType):
    """`shrimpgrad.explain` is this package and also callable: `shrimpgrad.explain(t)` is `explain(t)`."""

    def __call__(self, *args, **kwargs) -> Explanation:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
