"""Shared hypothesis strategies for stage-01 graphs, reused by the tests of stages 02-04 and by the fuzzer.

    from shrimpgrad.fuzz.graph_strategies import shapes, movement_chains, apply_chain, graphs, int_graphs, leaf

(The stage tests import them as `graph_strategies`, a name tests/01_graph keeps for them.) They live in
the package, not under tests/, because `python -m shrimpgrad.fuzz` draws its programs' shapes and
movement chains from them and runs `graphs()`/`int_graphs()` through every stage. They need hypothesis
(the dev extra) and only the stage-01 package.

* `shapes()`                  random small shapes (rank 0-4, sides 1-4 by default)
* `movement_step(shape)`      one random (Ops, arg) movement op valid for `shape`
* `movement_chains(shape)`    random lists of movement steps valid one after another, starting
                              from `shape`; they include reshapes that can't merge into one View
* `apply_chain(node, chain)`  build those steps as graph nodes on top of `node`
* `graphs()`                  random float32 graphs over 1-3 input buffers: (roots, buffers);
                              compare float results with `**FLOAT_TOLERANCE`
* `int_graphs()`              the same with int32 values and integer ops, for exact comparisons
* `leaf(array)`               a BUFFER node holding a numpy array, and its buffers mapping

Every graph is built with the constructors of `shrimpgrad.graph`, so it satisfies the IR's
invariants. Every intermediate has at most MAX_ELEMENTS elements, so evaluators stay fast.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from shrimpgrad.graph import (
    BufferRef,
    Node,
    Ops,
    alu,
    broadcast_const,
    buffer,
    contiguous,
    dtypes,
    movement,
    movement_shape,
    reduce,
)

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
    ops = [Ops.RESHAPE, Ops.RESHAPE, Ops.PERMUTE, Ops.PERMUTE, Ops.SHRINK, Ops.FLIP]  # reshape after permute: merge?
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


# ---- random graphs ----------------------------------------------------------------------------
# A graph grows step by step from a pool of nodes that starts with the input buffers. A step picks
# a pool node (and maybe a partner that broadcasts to its shape) and adds a new node: elementwise,
# reduce, movement, WHERE or CONTIGUOUS. Picking a node twice makes shared subexpressions; a few
# pool nodes besides the last one become extra outputs.
#
# Float graphs are built so that later stages can compare with a plain tolerance (FLOAT_TOLERANCE):
#  * values stay bounded: a step whose worst case exceeds BOUND is passed through SIN (`_Pool.add`);
#  * no NaN or inf: SQRT, LOG2, RECIP and DIV only ever get arguments of the form x*x + 1;
#  * no jumps where rounding may differ: TRUNC and comparisons only see *exact* nodes, whose bits
#    are the same in every backend (inputs, and NEG/MAX/TRUNC/movement/CONTIGUOUS of exact nodes;
#    not ADD or MUL: a C compiler may fuse a*b+c into one FMA and round once instead of twice).

BOUND = 1e3
FLOAT_TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}  # for comparing float32 results of `graphs()`
F32, I32 = dtypes.float32, dtypes.int32


def _expandable(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    return len(small) == len(big) and all(s == b or s == 1 for s, b in zip(small, big))


def _square_plus_one(x: Node) -> Node:
    """x*x + 1 >= 1: a safe argument for SQRT, LOG2 and RECIP, and a safe divisor."""
    return alu(Ops.ADD, alu(Ops.MUL, x, x), broadcast_const(1, x.dtype, x.shape))


class _Pool:
    """The nodes built so far, a bound on each one's |value|, and which ones are exact."""

    def __init__(self, inputs: list[Node], input_bound: float, is_float: bool):
        self.is_float = is_float
        self.nodes: list[Node] = list(inputs)
        self.bound: dict[Node, float] = {n: input_bound for n in inputs}
        self.exact: set[Node] = set(inputs)

    def add(self, node: Node, bound: float = 0.0, exact: bool = False) -> None:
        if self.is_float and bound > BOUND:
            node, bound, exact = alu(Ops.SIN, node), 1.0, False  # squash it back into [-1, 1]
        self.nodes.append(node)
        self.bound[node] = bound
        if exact:
            self.exact.add(node)

    def partner(self, draw, shape: tuple[int, ...], exact_only: bool = False) -> tuple[Node, float, bool] | None:
        """A pool node that broadcasts to `shape`, expanded to it, with its bound and exactness
        (None if no node fits; when `exact_only` is False the picked node itself always fits)."""
        fits = [n for n in self.nodes if _expandable(n.shape, shape) and (n in self.exact or not exact_only)]
        if not fits:
            return None
        n = draw(st.sampled_from(fits))
        return (n if n.shape == shape else movement(Ops.EXPAND, n, shape)), self.bound[n], n in self.exact


# Steps shared by float and int graphs -------------------------------------------------------------

def _reduce_step(draw, pool: _Pool, a: Node) -> None:
    """REDUCE ADD or MAX over a non-empty set of axes."""
    if not a.ndim:
        return _contiguous_step(draw, pool, a)
    axes = tuple(draw(st.sets(st.integers(0, a.ndim - 1), min_size=1)))
    op = draw(st.sampled_from([Ops.ADD, Ops.MAX]))
    summed = math.prod(a.shape[i] for i in axes)
    pool.add(reduce(a, op, axes), pool.bound[a] * (summed if op is Ops.ADD else 1), op is Ops.MAX and a in pool.exact)


def _movement_step(draw, pool: _Pool, a: Node) -> None:
    """A chain of 1-3 random movement ops; one time in four a transpose then a flatten, the
    classic reshape that can't merge into one View (the tracker pushes a second view)."""
    chain = draw(movement_chains(a.shape, max_size=3))
    if a.ndim >= 2 and draw(st.integers(0, 3)) == 0:
        chain = [(Ops.PERMUTE, tuple(reversed(range(a.ndim)))), (Ops.RESHAPE, (a.size,))]
    node = apply_chain(a, chain)
    pool.add(node, pool.bound[a], a in pool.exact)


def _contiguous_step(draw, pool: _Pool, a: Node) -> None:
    """CONTIGUOUS: a value the schedule must materialize."""
    pool.add(contiguous(a), pool.bound[a], a in pool.exact)


# Float steps ---------------------------------------------------------------------------------------

def _float_unary_step(draw, pool: _Pool, a: Node) -> None:
    """NEG, TRUNC (of exact nodes), SIN, EXP2(SIN x), and SQRT/LOG2/RECIP of x*x + 1."""
    bound, exact = pool.bound[a], a in pool.exact
    choice = draw(st.sampled_from(["NEG", "TRUNC", "SIN", "EXP2", "SQRT", "LOG2", "RECIP"]))
    if choice == "NEG" or (choice == "TRUNC" and not exact):
        pool.add(alu(Ops.NEG, a), bound, exact)
    elif choice == "TRUNC":
        pool.add(alu(Ops.TRUNC, a), bound, exact=True)
    elif choice == "SIN":
        pool.add(alu(Ops.SIN, a), 1.0)
    elif choice == "EXP2":
        pool.add(alu(Ops.EXP2, alu(Ops.SIN, a)), 2.0)
    elif choice == "SQRT":
        pool.add(alu(Ops.SQRT, _square_plus_one(a)), bound + 1)
    elif choice == "LOG2":
        pool.add(alu(Ops.LOG2, _square_plus_one(a)), math.log2(bound * bound + 1))
    else:
        pool.add(alu(Ops.RECIP, _square_plus_one(a)), 1.0)


def _float_binary_step(draw, pool: _Pool, a: Node) -> None:
    """ADD, SUB, MUL, MAX with a partner broadcast to a's shape; DIV by partner*partner + 1."""
    b, b_bound, b_exact = pool.partner(draw, a.shape)
    a_bound = pool.bound[a]
    op = draw(st.sampled_from([Ops.ADD, Ops.SUB, Ops.MUL, Ops.MAX, Ops.DIV]))
    if op is Ops.DIV:
        pool.add(alu(Ops.DIV, a, _square_plus_one(b)), a_bound)
    elif op is Ops.MAX:
        pool.add(alu(Ops.MAX, a, b), max(a_bound, b_bound), a in pool.exact and b_exact)
    else:
        pool.add(alu(op, a, b), a_bound * b_bound if op is Ops.MUL else a_bound + b_bound)


def _float_where_step(draw, pool: _Pool, a: Node) -> None:
    """WHERE(u < c, a, b) where u is exact (so every backend takes the same branch)."""
    found = pool.partner(draw, a.shape, exact_only=True)
    if found is None:
        return _float_unary_step(draw, pool, a)
    u = found[0]
    b, b_bound, _ = pool.partner(draw, a.shape)
    threshold = broadcast_const(draw(st.sampled_from([0.0, 0.5, -1.0])), F32, a.shape)
    pool.add(alu(Ops.WHERE, alu(Ops.CMPLT, u, threshold), a, b), max(pool.bound[a], b_bound))


# Int steps: every int32 result is exact (overflow wraps, x // 0 == 0), so no care is needed ----------

def _int_unary_step(draw, pool: _Pool, a: Node) -> None:
    """NEG, or CAST to int8 and back (wraps values outside [-128, 127])."""
    if draw(st.booleans()):
        pool.add(alu(Ops.NEG, a))
    else:
        pool.add(alu(Ops.CAST, alu(Ops.CAST, a, dtype=dtypes.int8), dtype=I32))


def _int_binary_step(draw, pool: _Pool, a: Node) -> None:
    """Any integer binary op with a partner broadcast to a's shape (divisors are often 0)."""
    b = pool.partner(draw, a.shape)[0]
    op = draw(st.sampled_from([Ops.ADD, Ops.SUB, Ops.MUL, Ops.IDIV, Ops.MOD, Ops.MAX, Ops.AND, Ops.OR, Ops.XOR]))
    pool.add(alu(op, a, b))


def _int_where_step(draw, pool: _Pool, a: Node) -> None:
    """WHERE(u < v or u != v, a, b), also combining comparisons with AND/OR/XOR on bool."""
    u, v, b = (pool.partner(draw, a.shape)[0] for _ in range(3))
    cond = alu(draw(st.sampled_from([Ops.CMPLT, Ops.CMPNE])), u, v)
    if draw(st.booleans()):
        cond = alu(draw(st.sampled_from([Ops.AND, Ops.OR, Ops.XOR])), cond, alu(Ops.CMPLT, v, u))
    pool.add(alu(Ops.WHERE, cond, a, b))


_FLOAT_STEPS = [_float_unary_step, _float_binary_step, _float_binary_step, _float_where_step, _reduce_step,
                _movement_step, _movement_step, _contiguous_step]
_INT_STEPS = [_int_unary_step, _int_binary_step, _int_binary_step, _int_where_step, _reduce_step,
              _movement_step, _movement_step, _contiguous_step]


@st.composite
def _inputs(draw, dtype, elements) -> tuple[list[Node], dict[BufferRef, np.ndarray]]:
    """1-3 input buffers: the first of a random shape, the others of the same shape, a permutation
    of it, or with some axes of size 1 (they get broadcast when combined)."""
    base = draw(shapes(min_dims=1, max_dims=3))
    nodes, buffers = [], {}
    for i in range(draw(st.integers(1, 3))):
        kind = "same" if i == 0 else draw(st.sampled_from(["same", "permuted", "broadcast"]))
        shape = base
        if kind == "permuted":
            shape = tuple(base[a] for a in draw(st.permutations(range(len(base)))))
        elif kind == "broadcast":
            shape = tuple(draw(st.sampled_from([s, 1])) for s in base)
        values = draw(st.lists(elements, min_size=math.prod(shape), max_size=math.prod(shape)))
        node, buf = leaf(np.array(values, dtype.np).reshape(shape))
        nodes.append(node)
        buffers.update(buf)
    return nodes, buffers


@st.composite
def _graphs(draw, dtype, elements, input_bound, steps, max_steps) -> tuple[list[Node], dict[BufferRef, np.ndarray]]:
    inputs, buffers = draw(_inputs(dtype, elements))
    pool = _Pool(inputs, input_bound, dtype.is_float)
    for _ in range(draw(st.integers(2, max_steps))):
        step = draw(st.sampled_from(steps))
        step(draw, pool, draw(st.sampled_from(pool.nodes)))
    built = pool.nodes[len(inputs):]
    extra = draw(st.lists(st.sampled_from(built), max_size=2))
    return list(dict.fromkeys([built[-1], *extra])), buffers


def graphs(max_steps: int = 8) -> st.SearchStrategy:
    """(roots, buffers): a random float32 graph with 1-3 outputs over 1-3 input buffers.

    Inputs are in [-2, 2]; every value stays finite and below BOUND, and rounding differences
    between backends stay within FLOAT_TOLERANCE (see the comment above `BOUND`)."""
    return _graphs(F32, st.floats(-2, 2, width=32), 2.0, _FLOAT_STEPS, max_steps)


def int_graphs(max_steps: int = 8) -> st.SearchStrategy:
    """(roots, buffers): a random int32 graph (inputs in [-8, 8]) whose results every backend
    must reproduce exactly: wrap-around, floor division and x // 0 == 0 included."""
    return _graphs(I32, st.integers(-8, 8), 8.0, _INT_STEPS, max_steps)
