"""Several ASSIGNs in one schedule, each reading other buffers' old or new contents (rule B10, both ways).

Each buffer is assigned at most once, so every graph here has a right order of kernels once the old contents that
a cycle of write-after-read orders needs are copied (a swap: y = x + 1, x = old y + 1). The schedule must verify,
match stage 01's evaluator bit for bit, and copy no more old contents than there are ASSIGNs."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from schedule_strategies import check_against_evaluator

from shrimpgrad.graph import BufferRef, Node, Ops, alu, assign, broadcast_const, buffer, dtypes, movement, reduce

F32 = dtypes.float32
SHAPE = (2, 3)


def _read(draw, node: Node) -> Node:
    """`node` as is, flipped, or a row sum broadcast back (a view and a reduce in the reading kernel)."""
    how = draw(st.sampled_from(["plain", "plain", "flip", "row_sum"]))
    if how == "flip":
        return movement(Ops.FLIP, node, (True, False))
    if how == "row_sum":
        return movement(Ops.EXPAND, reduce(node, Ops.ADD, (1,)), SHAPE)
    return node


@st.composite
def multi_assign_graphs(draw) -> tuple[list[Node], dict]:
    n = draw(st.integers(2, 4))
    refs = [BufferRef(6, F32) for _ in range(n)]
    leaves = [buffer(r, SHAPE) for r in refs]
    values = {r: np.arange(6, dtype=np.float32) * (i + 1) - 2 for i, r in enumerate(refs)}
    pool = list(leaves)  # what a value may read: any old contents, and the results of the ASSIGNs made so far
    roots = []
    targets = draw(st.permutations(range(n)))[:draw(st.integers(1, n))]
    for target in targets:
        srcs = [_read(draw, draw(st.sampled_from(pool))) for _ in range(draw(st.integers(1, 3)))]
        value = broadcast_const(draw(st.sampled_from([0.5, 1.0, 2.0])), F32, SHAPE)
        for s in srcs:
            value = alu(draw(st.sampled_from([Ops.ADD, Ops.MUL, Ops.SUB])), value, s)
        node = assign(leaves[target], value)
        pool.append(node)
        roots.append(node)
    for _ in range(draw(st.integers(0, 2))):  # plain roots reading old and new contents together
        roots.append(alu(Ops.ADD, draw(st.sampled_from(pool)), draw(st.sampled_from(pool))))
    return roots, values


@given(multi_assign_graphs())
def test_several_assigns_reading_each_others_buffers_match_the_evaluator(case):
    roots, buffers = case
    s = check_against_evaluator(roots, buffers)
    copies = sum(k.reason.startswith("old_value_overwritten") for k in s.kernels)
    assert copies <= sum(r.op is Ops.ASSIGN for r in roots)
