"""Which elements of each buffer a Program touches, so the runtime can refuse a buffer that is too small.

C does not check array bounds: a kernel run on a buffer that is one element too short reads or
writes past its end, which gives garbage or crashes the process. The Program does not record
buffer sizes, but it records everything needed to compute them: every index is an expression of
loop variables and constants. So for each buffer we find the smallest and largest index its
un-gated LOADs and STOREs can use.

Two ways, cheap first:

1. Interval arithmetic: RANGE(0, 16) is [0, 15], a + b is [a.lo + b.lo, a.hi + b.hi], and so
   on. Always fast, but it can over-estimate: in `(i % 4) + (i // 4) * 4` it treats the two
   `i`s as independent. So it can only prove a buffer big enough, never too small.
2. Exact evaluation: compute the index expression with numpy on the grid of every loop variable
   it uses, and take the min and max. Done only when the interval says "maybe too small", at
   most once per buffer, and only for grids up to EXACT_LIMIT points.

Accesses behind a gate (a gated LOAD/STORE, or anything inside an IF) are skipped: their index
may legitimately point outside the buffer when the gate is false (that is what the gate is for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shrimpgrad.graph import Ops
from shrimpgrad.linearize import Program, UOp, UOps

EXACT_LIMIT = 1 << 22  # grid points for exact evaluation (32 MiB of int64 per intermediate)


@dataclass(frozen=True)
class Span:
    """Indices lo..hi inclusive; `exact` is False when lo/hi may be wider than what really happens."""

    lo: int
    hi: int
    exact: bool


def unguarded_indices(program: Program) -> dict[int, list[UOp]]:
    """For each DEFINE_GLOBAL index, the index UOps of its LOADs/STOREs that always execute when their loops run."""
    out: dict[int, list[UOp]] = {g.arg[0]: [] for g in program.globals}
    in_if = 0
    for u in program.uops:
        if u.op is UOps.IF:
            in_if += 1
        elif u.op is UOps.ENDIF:
            in_if -= 1
        elif in_if == 0 and ((u.op is UOps.LOAD and len(u.src) == 2) or (u.op is UOps.STORE and len(u.src) == 3)):
            out[u.src[0].arg[0]].append(u.src[1])
    return out


def interval(u: UOp, memo: dict[UOp, tuple[int, int] | None] | None = None) -> tuple[int, int] | None:
    """[lo, hi] of an integer index expression, or None when unknown (a loaded value, an empty loop, ...)."""
    memo = {} if memo is None else memo
    if u not in memo:
        memo[u] = _interval(u, [interval(s, memo) for s in u.src if u.op is not UOps.RANGE])
    return memo[u]


def _interval(u: UOp, src: list[tuple[int, int] | None]) -> tuple[int, int] | None:
    if u.op is UOps.CONST:
        return (int(u.arg), int(u.arg)) if isinstance(u.arg, (int, bool, np.integer)) else None
    if u.op is UOps.RANGE:
        start, end = u.src
        if start.op is not UOps.CONST or end.op is not UOps.CONST or int(end.arg) <= int(start.arg):
            return None  # a loop that never runs (or an unknown one): nothing to check
        return int(start.arg), int(end.arg) - 1
    if u.op is not UOps.ALU or any(s is None for s in src):
        return None
    a = src[0]
    if u.arg is Ops.NEG:
        return -a[1], -a[0]
    b = src[1] if len(src) > 1 else None
    if u.arg is Ops.ADD:
        return a[0] + b[0], a[1] + b[1]
    if u.arg is Ops.SUB:
        return a[0] - b[1], a[1] - b[0]
    if u.arg is Ops.MUL:
        corners = [x * y for x in a for y in b]
        return min(corners), max(corners)
    if u.arg is Ops.MAX:
        return max(a[0], b[0]), max(a[1], b[1])
    if u.arg in (Ops.IDIV, Ops.MOD) and b[0] == b[1] and b[0] > 0:
        return _div_mod_by_constant(u.arg, a, b[0])
    if u.arg is Ops.WHERE:
        return min(src[1][0], src[2][0]), max(src[1][1], src[2][1])
    return None


def _div_mod_by_constant(op: Ops, a: tuple[int, int], c: int) -> tuple[int, int]:
    """x // c is monotonic in x; x % c is in [0, c-1], or exactly [lo % c, hi % c] when it doesn't wrap."""
    if op is Ops.IDIV:
        return a[0] // c, a[1] // c
    if a[1] - a[0] < c and a[0] % c <= a[1] % c:
        return a[0] % c, a[1] % c
    return 0, c - 1


def exact_extremes(index: UOp) -> tuple[int, int] | None:
    """The true min and max of `index` over all values of its loop variables (numpy, floor semantics),
    or None when it depends on something else, or the grid is larger than EXACT_LIMIT."""
    ranges = [u for u in _walk(index) if u.op is UOps.RANGE]
    if any(interval(r) is None for r in ranges):
        return None
    if math.prod(interval(r)[1] - interval(r)[0] + 1 for r in ranges) > EXACT_LIMIT:
        return None
    axes = {r: np.arange(interval(r)[0], interval(r)[1] + 1, dtype=np.int64).reshape(
        [-1 if k == i else 1 for k in range(len(ranges))]) for i, r in enumerate(ranges)}
    values: dict[UOp, np.ndarray] = {}
    for u in _walk(index):
        v = axes.get(u) if u.op is UOps.RANGE else _evaluate(u, [values[s] for s in u.src])
        if v is None:
            return None
        values[u] = v
    return int(values[index].min()), int(values[index].max())


def _walk(root: UOp) -> list[UOp]:
    """The index expression's UOps, sources first (a RANGE's bounds are not part of the expression)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        u, done = stack.pop()
        if done:
            order.append(u)
        elif u not in seen:
            seen.add(u)
            stack.append((u, True))
            stack.extend((s, False) for s in u.src if u.op is not UOps.RANGE)
    return order


_NUMPY_INT_OPS = {Ops.ADD: np.add, Ops.SUB: np.subtract, Ops.MUL: np.multiply, Ops.MAX: np.maximum}


def _evaluate(u: UOp, src: list[np.ndarray]) -> np.ndarray | None:
    if u.op is UOps.CONST:
        return np.array(int(u.arg), dtype=np.int64) if isinstance(u.arg, (int, bool, np.integer)) else None
    if u.op is not UOps.ALU:
        return None
    if u.arg in _NUMPY_INT_OPS:
        return _NUMPY_INT_OPS[u.arg](*src)
    if u.arg is Ops.NEG:
        return -src[0]
    if u.arg in (Ops.IDIV, Ops.MOD):
        safe = np.where(src[1] == 0, 1, src[1])
        value = src[0] // safe if u.arg is Ops.IDIV else src[0] % safe
        return np.where(src[1] == 0, 0, value)
    if u.arg is Ops.WHERE:
        return np.where(src[0], src[1], src[2])
    if u.arg is Ops.CMPLT:
        return src[0] < src[1]
    if u.arg is Ops.CMPNE:
        return src[0] != src[1]
    return None


def access_span(indices: list[UOp], exact: bool = False) -> Span | None:
    """The span of all `indices` (None if none of them ever executes or can be analysed). With
    exact=True each index is evaluated on its grid, falling back to its interval when it can't be."""
    spans, all_exact = [], exact
    for index in indices:
        found = exact_extremes(index) if exact else None
        if found is None:
            found = interval(index)
            all_exact = all_exact and found is None  # an interval stands in for an exact answer
        if found is not None:
            spans.append(found)
    if not spans:
        return None
    return Span(min(s[0] for s in spans), max(s[1] for s in spans), all_exact)
