"""Realize: turn lazy graph nodes into buffers that hold their values.

A `Tensor` is a lazy `Node`. When a value is needed (`.numpy()`, `.realize()`), the front end calls

    realize(roots, device) -> [BUFFER node, ...]        one per root, same shape and dtype

and from then on the Tensor points at that BUFFER node, so the work is never done twice.

Where the memory lives: `_storage` maps each `BufferRef` to a flat numpy array. It is a
`WeakKeyDictionary`, so a buffer's memory is freed when the last Node that names the BufferRef
(and so the last Tensor that could read it) is garbage collected. BufferRef compares by identity,
so two buffers never share an entry by accident.

How values are computed is behind one seam, `run_graph(roots, device) -> [BufferRef]`. Today it
calls the stage-01 numpy evaluator (`shrimpgrad.graph.evaluate`); the C pipeline replaces it with
schedule -> linearize -> render -> compile -> run, without touching anything else in this file or
in the Tensor.

ASSIGN: the evaluator is pure (an ASSIGN node's value is simply the assigned value), so writing is
done here: after evaluating, each ASSIGN node in the graph writes its value into the target's
existing buffer, through the target's view (e.g. `x[1:3].assign(...)` writes two elements of x's
buffer). All reads in one `run_graph` see the buffers as they were before its writes.
"""

from __future__ import annotations

import dataclasses
import time
import weakref

import numpy as np

from shrimpgrad.graph import (
    MOVEMENT,
    BufferRef,
    DType,
    Node,
    Ops,
    ShapeTracker,
    buffer,
    evaluate,
    print_graph,
    toposort,
)
from shrimpgrad.helpers import GlobalCounters, emit_enabled

_storage: weakref.WeakKeyDictionary[BufferRef, np.ndarray] = weakref.WeakKeyDictionary()

DEVICES = ("C", "PYTHON", "CUDA")


# ---- memory ------------------------------------------------------------------------------------

def new_buffer(values: np.ndarray, dtype: DType) -> BufferRef:
    """A new buffer holding a copy of `values` (any shape), converted to `dtype`, stored flat."""
    flat = np.array(values, dtype=dtype.np).reshape(-1)  # np.array copies: the caller keeps its array
    ref = BufferRef(flat.size, dtype)
    _storage[ref] = flat
    return ref


def _adopt(values: np.ndarray, dtype: DType) -> BufferRef:
    """A new buffer that takes over `values` (a fresh array nobody else holds) without copying."""
    flat = np.ascontiguousarray(values, dtype=dtype.np).reshape(-1)
    ref = BufferRef(flat.size, dtype)
    _storage[ref] = flat
    return ref


def alias_buffer(ref: BufferRef) -> BufferRef:
    """A second BufferRef for the same memory (a distinct graph leaf that reads and sees writes of `ref`)."""
    alias = BufferRef(ref.size, ref.dtype)
    _storage[alias] = _storage[ref]
    return alias


def buffer_value(ref: BufferRef) -> np.ndarray:
    """The flat array behind `ref` (read-only: write through ASSIGN)."""
    view = _storage[ref].view()
    view.flags.writeable = False
    return view


# ---- realize -----------------------------------------------------------------------------------

def realize(roots: list[Node], device: str = "C") -> list[Node]:
    """For each root, a BUFFER node of the root's shape whose buffer holds the root's value.

    A root that already is a BUFFER node is returned as it is (nothing is recomputed); the others
    are computed together in one `run_graph`, so work they share is done once. DEBUG>=5 or
    EMIT=graph prints each graph first."""
    roots = _without_finished_assigns(list(roots))
    todo = list(dict.fromkeys(r for r in roots if r.op is not Ops.BUFFER))  # unique, order kept
    if todo and emit_enabled("graph", 5):
        for root in todo:
            print_graph(root)
    refs = dict(zip(todo, run_graph(todo, device))) if todo else {}
    for node in toposort(todo):
        if node.op is Ops.ASSIGN:
            _mark_finished(node)
    return [r if r.op is Ops.BUFFER else buffer(refs[r], r.shape, meta=r.meta) for r in roots]


# An ASSIGN must write once. After it ran, the graph node still exists (in other tensors' graphs, e.g. a loss
# built on a weight whose update was not realized yet), so realizing one of those graphs later must not write
# again (w - lr*g would be applied twice). A finished ASSIGN is therefore read as what it is now: its target,
# whose buffer holds the assigned value. Kept by identity (equal-looking ASSIGNs made later are new writes).
_finished: dict[int, weakref.ref[Node]] = {}


def _mark_finished(node: Node) -> None:
    key = id(node)
    _finished[key] = weakref.ref(node, lambda _: _finished.pop(key, None))  # forgotten when the node dies


def _is_finished(node: Node) -> bool:
    ref = _finished.get(id(node))
    return ref is not None and ref() is node


def _without_finished_assigns(roots: list[Node]) -> list[Node]:
    """roots, with every ASSIGN that already ran replaced by its target."""
    order = toposort(roots) if _finished else []
    if not any(n.op is Ops.ASSIGN and _is_finished(n) for n in order):
        return roots
    new: dict[int, Node] = {}
    for n in order:
        if n.op is Ops.ASSIGN and _is_finished(n):
            new[id(n)] = new[id(n.src[0])]
        else:
            src = tuple(new[id(s)] for s in n.src)
            new[id(n)] = n if all(a is b for a, b in zip(src, n.src)) else dataclasses.replace(n, src=src)
    return [new[id(r)] for r in roots]


def run_graph(roots: list[Node], device: str) -> list[BufferRef]:
    """Compute `roots` on `device`; one BufferRef per root holds its value. Performs the ASSIGN writes.

    THE SEAM: this is the only function that computes values. For now every device evaluates with
    the stage-01 numpy evaluator; the compiler pipeline (schedule -> linearize -> C) replaces it."""
    if device == "CUDA":
        raise NotImplementedError("device 'CUDA' is not wired up yet: use device='C' (default) or 'PYTHON'")
    start = time.perf_counter()
    assigns = [n for n in toposort(list(roots)) if n.op is Ops.ASSIGN]
    values = evaluate(list(roots) + assigns, _storage)
    for node, value in zip(assigns, values[len(roots):]):
        _write(node.src[0], value)
    out = []
    for root, value in zip(roots, values):
        if root.op is Ops.ASSIGN and root.src[0].op is Ops.BUFFER:
            out.append(root.src[0].arg)  # the target's own buffer now holds the value
        else:
            out.append(_adopt(value, root.dtype))
    GlobalCounters.time_sum_s += time.perf_counter() - start
    GlobalCounters.global_mem += sum(v.nbytes for v in values)
    return out


def _write(target: Node, value: np.ndarray) -> None:
    """Write `value` (target's shape) into the buffer behind `target`, a BUFFER seen through movement ops.

    The chain of movement ops is replayed on a ShapeTracker, whose `indices()` give, for every element
    of the target, its address in the flat buffer and whether it exists (padding doesn't)."""
    chain = []
    while target.op in MOVEMENT:
        chain.append(target)
        target = target.src[0]
    if target.op is not Ops.BUFFER:
        raise ValueError(f"ASSIGN: the target must be a buffer seen through movement ops, got {target!r}")
    st = ShapeTracker.from_shape(target.shape)
    for node in reversed(chain):
        st = getattr(st, node.op.name.lower())(node.arg)
    addr, valid = st.indices()
    _storage[target.arg][addr[valid]] = value[valid]
