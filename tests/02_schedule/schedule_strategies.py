"""Hypothesis strategies for scheduler tests: random graphs that exercise every fusion rule.

    from schedule_strategies import scheduled_graphs, assign_graphs, check_against_evaluator

* `scheduled_graphs()`  (roots, buffers): float32 graphs over 1-3 input buffers built from
  elementwise ops (including ones that don't keep 0 under a PAD: exp2, recip, log2, neg), reduces
  (sometimes expanded back, as softmax does), movement chains (stage 01's `movement_chains`),
  CONTIGUOUS, constants, shared subexpressions and several roots.
* `assign_graphs()`     the same plus ASSIGNs into an input buffer (through a view, in place,
  reading the target through another view) while other roots read the old contents.
* `check_against_evaluator(roots, buffers)` schedules, verifies, runs both evaluators and
  compares bit for bit; returns the schedule.
"""

from __future__ import annotations

import numpy as np
from graph_strategies import apply_chain, movement_chains, shapes
from hypothesis import strategies as st

from shrimpgrad.graph import (
    BufferRef,
    Node,
    Ops,
    alu,
    assign,
    broadcast_const,
    buffer,
    contiguous,
    dtypes,
    evaluate,
    movement,
    reduce,
)
from shrimpgrad.schedule import create_schedule, read_outputs, run_schedule_numpy, verify

UNARY = (Ops.NEG, Ops.EXP2, Ops.RECIP, Ops.SQRT, Ops.SIN, Ops.LOG2, Ops.TRUNC)
BINARY = (Ops.ADD, Ops.SUB, Ops.MUL, Ops.MAX, Ops.DIV)
MAX_ELEMENTS = 256


def _input(draw, shape) -> tuple[Node, dict]:
    ref = BufferRef(int(np.prod(shape)), dtypes.float32)
    values = draw(st.lists(st.sampled_from([-2.0, -1.5, -0.5, 0.0, 0.25, 1.0, 3.0]), min_size=ref.size,
                           max_size=ref.size))
    return buffer(ref, shape), {ref: np.array(values, dtype=np.float32)}


@st.composite
def _step(draw, pool: list[Node]) -> Node:
    """One new node built from nodes already in `pool` (so earlier nodes get reused: shared subexpressions)."""
    x = pool[-1 - draw(st.integers(0, len(pool) - 1))]  # mostly the newest node: deep chains
    kind = draw(st.sampled_from(["movement", "unary", "binary", "binary", "const", "reduce", "softmax_like",
                                 "movement", "pad", "contiguous", "where"]))
    if kind == "unary":
        return alu(draw(st.sampled_from(UNARY)), x)
    if kind == "binary":
        y = draw(st.sampled_from([n for n in pool if n.shape == x.shape]))
        return alu(draw(st.sampled_from(BINARY)), x, y)
    if kind == "const":
        c = broadcast_const(draw(st.sampled_from([0.0, 1.0, -2.0, 0.5])), dtypes.float32, x.shape)
        return alu(draw(st.sampled_from(BINARY)), x, c) if draw(st.booleans()) else alu(Ops.ADD, c, x)
    if kind == "where":
        y = draw(st.sampled_from([n for n in pool if n.shape == x.shape]))
        return alu(Ops.WHERE, alu(Ops.CMPLT, x, y), x, y)
    if kind in ("reduce", "softmax_like") and x.ndim:
        axes = tuple(sorted(draw(st.sets(st.integers(0, x.ndim - 1), min_size=1))))
        r = reduce(x, draw(st.sampled_from([Ops.ADD, Ops.MAX])), axes)
        if kind == "reduce":
            return r
        return alu(Ops.SUB, x, movement(Ops.EXPAND, r, x.shape))  # read the reduce back through a view
    if kind == "contiguous":
        return contiguous(x)
    if kind == "pad" and x.ndim and x.size * 4 <= MAX_ELEMENTS:  # a pad on top of whatever x computes
        return movement(Ops.PAD, x, tuple((draw(st.integers(0, 1)), 1) for _ in x.shape))
    return apply_chain(x, draw(movement_chains(x.shape, max_size=3)))


@st.composite
def scheduled_graphs(draw, max_steps: int = 9) -> tuple[list[Node], dict]:
    buffers: dict = {}
    pool: list[Node] = []
    for _ in range(draw(st.integers(1, 3))):
        node, bufs = _input(draw, draw(shapes(min_dims=1, max_dims=3, max_side=4)))
        pool.append(node)
        buffers.update(bufs)
    for _ in range(draw(st.integers(3, max_steps))):
        node = draw(_step(pool))
        if node.size <= MAX_ELEMENTS:
            pool.append(node)
    extra = draw(st.lists(st.sampled_from(pool), max_size=2))
    roots = list(dict.fromkeys([pool[-1]] + extra))  # several roots, some of them inner nodes or inputs
    return roots, buffers


@st.composite
def assign_graphs(draw) -> tuple[list[Node], dict]:
    """A graph plus an ASSIGN into one of its input buffers; the other roots read the old contents."""
    roots, buffers = draw(scheduled_graphs(max_steps=5))
    leaves = [n for r in roots for n in r.toposort() if n.op is Ops.BUFFER]
    if not leaves:
        node, bufs = _input(draw, draw(shapes(min_dims=1, max_dims=2)))
        leaves, buffers = [node], {**buffers, **bufs}
    x = draw(st.sampled_from(leaves))
    target = x
    if draw(st.booleans()):  # assign into a view: a shrink, a permute or a flip of the buffer
        op = draw(st.sampled_from([Ops.SHRINK, Ops.PERMUTE, Ops.FLIP]))
        if op is Ops.SHRINK:
            target = movement(op, x, tuple((0, max(1, s - 1)) for s in x.shape))
        elif op is Ops.PERMUTE:
            target = movement(op, x, tuple(reversed(range(x.ndim))))
        else:
            target = movement(op, x, tuple(True for _ in x.shape))
    source = draw(st.sampled_from(["in_place", "other_view", "fresh"]))
    if source == "in_place":  # reads the target exactly where it writes: safe in place
        value = alu(Ops.ADD, target, broadcast_const(1.0, dtypes.float32, target.shape))
    elif source == "other_view":  # reads the target through another view: needs a temporary (B9)
        value = alu(Ops.MUL, movement(Ops.FLIP, target, tuple(True for _ in target.shape)), target)
    else:
        value = broadcast_const(2.0, dtypes.float32, target.shape)
    return roots + [assign(target, value)], buffers


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def check_against_evaluator(roots: list[Node], buffers: dict):
    """Schedule `roots`, verify the schedule, run it, and compare every root with stage 01's evaluator."""
    expected = evaluate(roots, buffers)
    schedule = verify(create_schedule(roots))
    state = {ref: arr.copy() for ref, arr in buffers.items()}
    run_schedule_numpy(schedule, state)
    got = read_outputs(schedule, state)
    for i, (e, g) in enumerate(zip(expected, got)):
        assert _same_bits(e, g), f"root {i} ({roots[i]!r}) differs:\nexpected {e}\ngot {g}\nschedule {schedule}"
    return schedule
