"""Shared hypothesis strategies for stage-01 graphs, reused by the tests of stages 02-04.

    from graph_strategies import shapes, movement_chains, apply_chain, graphs, int_graphs, leaf

* `shapes()`                  random small shapes (rank 0-4, sides 1-4 by default)
* `movement_chains(shape)`    random lists of (Ops, arg) movement steps valid one after another,
                              starting from `shape`; reshapes include ones that can't merge
* `apply_chain(node, chain)`  build those steps as graph nodes on top of `node`
* `graphs()`                  random float32 graphs over 1-3 input buffers: (roots, buffers)
* `int_graphs()`              the same with int32 values and integer ops, for exact comparisons
* `leaf(array)`               a BUFFER node holding a numpy array, and its buffers mapping

Every graph is built with the constructors of `shrimpgrad.graph`, so it satisfies the IR's
invariants; `graphs()` only uses ops that stay finite on its inputs (see `_SAFE_UNARY`), so a
later stage can compare with the evaluator using a plain tolerance.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from shrimpgrad.graph import BufferRef, Node, Ops, buffer, dtypes, movement, movement_shape

MAX_ELEMENTS = 256  # keeps every intermediate small, so evaluators stay fast on 2 cores


def leaf(values, dtype=None) -> tuple[Node, dict[BufferRef, np.ndarray]]:
    """A BUFFER node holding `values` (any shape), and the `{ref: flat array}` mapping evaluators take."""
    arr = np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype.np)
    ref = BufferRef(arr.size, dtypes.from_numpy(arr.dtype))
    return buffer(ref, arr.shape), {ref: arr.reshape(-1).copy()}


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    """Shapes such as (), (3,), (2, 1, 4). Pass min_side=0 to include empty tensors."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


# ---- movement chains ------------------------------------------------------------------------

def _factorizations(n: int) -> list[tuple[int, int]]:
    return [(a, n // a) for a in range(1, n + 1) if n % a == 0]


@st.composite
def _reshape_arg(draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A new shape with the same element count: flatten, merge two neighbours, split one axis,
    insert or drop a size-1 axis. After a PERMUTE or PAD, flatten and merge are often the
    reshapes that can't be expressed with one View (they push a second view)."""
    size = math.prod(shape)
    kinds = ["flatten", "insert_one"]
    if len(shape) >= 2:
        kinds.append("merge")
    if any(s > 1 for s in shape):
        kinds.append("split")
    if 1 in shape:
        kinds.append("drop_one")
    kind = draw(st.sampled_from(kinds))
    if kind == "flatten":
        return (size,)
    if kind == "insert_one":
        i = draw(st.integers(0, len(shape)))
        return shape[:i] + (1,) + shape[i:]
    if kind == "merge":
        i = draw(st.integers(0, len(shape) - 2))
        return shape[:i] + (shape[i] * shape[i + 1],) + shape[i + 2:]
    if kind == "split":
        i = draw(st.sampled_from([i for i, s in enumerate(shape) if s > 1]))
        a, b = draw(st.sampled_from(_factorizations(shape[i])))
        return shape[:i] + (a, b) + shape[i + 1:]
    i = draw(st.sampled_from([i for i, s in enumerate(shape) if s == 1]))
    return shape[:i] + shape[i + 1:]


@st.composite
def movement_step(draw, shape: tuple[int, ...]) -> tuple[Ops, tuple]:
    """One movement op (op, arg) that is valid for `shape` and keeps the size under MAX_ELEMENTS."""
    size = math.prod(shape)
    ops = [Ops.RESHAPE, Ops.PERMUTE, Ops.SHRINK, Ops.FLIP]
    if 1 in shape and size * 3 <= MAX_ELEMENTS:
        ops.append(Ops.EXPAND)
    if shape and size * 9 <= MAX_ELEMENTS:
        ops.append(Ops.PAD)
    op = draw(st.sampled_from(ops))
    if op is Ops.RESHAPE:
        return op, draw(_reshape_arg(shape))
    if op is Ops.PERMUTE:
        return op, tuple(draw(st.permutations(range(len(shape)))))
    if op is Ops.SHRINK:
        bounds = []
        for s in shape:
            b = draw(st.integers(0, max(s - 1, 0)))
            bounds.append((b, draw(st.integers(min(b + 1, s), s))))  # never empty unless the axis is
        return op, tuple(bounds)
    if op is Ops.FLIP:
        return op, tuple(draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape))))
    if op is Ops.EXPAND:
        return op, tuple(draw(st.integers(1, 3)) if s == 1 else s for s in shape)
    return op, tuple((draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in shape)  # PAD


@st.composite
def movement_chains(draw, shape: tuple[int, ...], min_size: int = 1, max_size: int = 5) -> list[tuple[Ops, tuple]]:
    """A list of movement steps, each valid for the shape the previous ones produce."""
    chain = []
    for _ in range(draw(st.integers(min_size, max_size))):
        op, arg = draw(movement_step(shape))
        chain.append((op, arg))
        shape = movement_shape(op, shape, arg)
    return chain


def apply_chain(node: Node, chain: list[tuple[Ops, tuple]]) -> Node:
    """The graph of `chain`'s movement ops on top of `node`."""
    for op, arg in chain:
        node = movement(op, node, arg)
    return node
