"""Before fusion: a reduction of many elements into one value becomes two reductions.

    split_reductions(roots) -> roots

`x.sum()` over 16 million floats is one output, so its kernel has one loop iteration to give each core (and,
on a GPU, one thread): the whole sum runs on one core while the others wait. Reshaping the input to
(parts, rest) and reducing twice, `x.reshape(parts, rest).sum(axis=1).sum(axis=0)`, gives the first kernel
`parts` independent outputs (one per row, spread over the cores or GPU blocks) and leaves a tiny second
kernel to combine them. tinygrad does the same (`split_reduceop`).

The rule, `split_reduction`, fires for a REDUCE whose result is a single element and whose input has at least
SPLIT_MIN elements; `parts` is the largest divisor of the element count up to MAX_PARTS that leaves each part
at least MIN_PART elements. ADD of floats then adds in another order (results equal the unsplit sum within
rounding); MAX and integer sums are exact either way. `SPLIT_REDUCE=0` in the environment turns it off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from shrimpgrad.graph import Node, Ops, movement, reduce, rewrite
from shrimpgrad.graph.switches import switch

SPLIT_MIN = 1 << 16  # below this a single loop is fast enough (and the split would cost a kernel launch)
MAX_PARTS = 256  # rows of the first kernel: enough for the cores (and, on a GPU, blocks)
MIN_PART = 256  # elements each row sums at least


def split_reduction(node: Node) -> Node:
    """A REDUCE to one element of a big input -> RESHAPE(REDUCE(REDUCE(RESHAPE(input, (parts, rest)))))."""
    if node.op is not Ops.REDUCE or math.prod(node.shape) != 1:
        return node
    src, (op, _axes) = node.src[0], node.arg
    total = math.prod(src.shape)
    if total < SPLIT_MIN:
        return node
    parts = max((d for d in range(2, MAX_PARTS + 1) if total % d == 0 and total // d >= MIN_PART), default=1)
    if parts == 1:  # a prime count (or nearly): nothing divides it evenly
        return node
    rows = movement(Ops.RESHAPE, src, (parts, total // parts), node.meta)
    partial = reduce(rows, op, (1,), node.meta)  # (parts, 1): one value per row
    combined = reduce(partial, op, (0,), node.meta)  # (1, 1)
    return movement(Ops.RESHAPE, combined, node.shape, node.meta)


def split_reductions(roots: Sequence[Node]) -> list[Node]:
    """roots with every big full reduction split in two (see the module docstring); unchanged when none is."""
    if not switch("SPLIT_REDUCE"):
        return list(roots)
    return rewrite(list(roots), split_reduction)
