"""Which elements of each buffer a Program touches, so the runtime can refuse a buffer that is too small.

C does not check array bounds: a kernel run on a buffer that is one element too short reads or
writes past its end, which gives garbage or crashes the process. The Program does not record
buffer sizes, but it records everything needed to compute them: every index is an expression of
loop variables and constants. So for each buffer we find the smallest and largest index its
LOADs and STOREs use when they actually happen.

Two ways, cheap first:

1. Interval arithmetic: RANGE(0, 16) is [0, 15], a + b is [a.lo + b.lo, a.hi + b.hi], and so
   on. Always fast, but it can over-estimate: in `(i % 4) + (i // 4) * 4` it treats the two
   `i`s as independent. So it can only prove a buffer big enough, never too small.
2. Exact evaluation: compute the index expression with numpy on the grid of every loop variable
   it uses, and take the min and max. Done only when the interval says "maybe too small", at
   most once per buffer, and only for grids up to EXACT_LIMIT points.

An access behind a gate (a gated LOAD/STORE, or anything inside an IF) may legitimately point
outside the buffer where the gate is false (that is what the gate is for: padding reads x[i - 1]
only for i >= 1). Its interval ignores the gate, so it over-estimates; its exact evaluation
keeps only the grid points where every gate holds.
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


@dataclass(frozen=True)
class Access:
    """One LOAD or STORE: its index, and the bool UOps that must all hold for it to happen."""

    index: UOp
    guards: tuple[UOp, ...] = ()


def buffer_accesses(program: Program) -> dict[int, list[Access]]:
    """For each DEFINE_GLOBAL index, its LOADs' and STOREs' accesses, with their gates and enclosing IFs."""
    out: dict[int, list[Access]] = {g.arg[0]: [] for g in program.globals}
    ifs: list[UOp] = []  # conditions of the open IF blocks
    for u in program.uops:
        if u.op is UOps.IF:
            ifs.append(u.src[0])
        elif u.op is UOps.ENDIF:
            ifs.pop()
        elif u.op in (UOps.LOAD, UOps.STORE):
            # LOAD (buf, index, gate, alt) and STORE (buf, index, value, gate) carry a gate
            gate = () if len(u.src) < 4 else (u.src[2],) if u.op is UOps.LOAD else (u.src[3],)
            out[u.src[0].arg[0]].append(Access(u.src[1], tuple(ifs) + gate))
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


def exact_extremes(access: Access) -> tuple[int, int] | tuple[()] | None:
    """The true (min, max) of the index over the loop-variable values where every guard holds
    (numpy, floor semantics); `()` when the access never happens; None when it can't be computed
    (it depends on something other than loop variables and constants, or the grid is larger than
    EXACT_LIMIT points)."""
    exprs = [access.index, *access.guards]
    ranges = list(dict.fromkeys(u for e in exprs for u in _walk(e) if u.op is UOps.RANGE))
    loop_bounds = [interval(r) for r in ranges]
    if any(b is None for b in loop_bounds):
        return ()  # inside a loop that never runs
    shape = tuple(hi - lo + 1 for lo, hi in loop_bounds)
    if math.prod(shape) > EXACT_LIMIT:
        return None
    # loop variable i varies along grid axis i only, so every expression broadcasts over the whole grid
    values: dict[UOp, np.ndarray] = {r: np.arange(lo, hi + 1, dtype=np.int64).reshape(
        [-1 if k == i else 1 for k in range(len(ranges))]) for i, (r, (lo, hi)) in enumerate(zip(ranges, loop_bounds))}
    for e in exprs:
        for u in _walk(e):
            if u not in values:
                v = _evaluate(u, [values[s] for s in u.src])
                if v is None:
                    return None
                values[u] = v
    happens = np.ones(shape, dtype=bool)
    for g in access.guards:
        happens &= np.broadcast_to(values[g], shape).astype(bool)
    index = np.broadcast_to(values[access.index], shape)[happens]
    return (int(index.min()), int(index.max())) if index.size else ()


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


_NUMPY_INT_OPS = {Ops.ADD: np.add, Ops.SUB: np.subtract, Ops.MUL: np.multiply, Ops.MAX: np.maximum,
                  Ops.AND: np.bitwise_and, Ops.OR: np.bitwise_or, Ops.XOR: np.bitwise_xor}


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


def access_span(accesses: list[Access], exact: bool = False) -> Span | None:
    """The span of all `accesses` (None if none of them ever happens or can be analysed). With
    exact=False: the intervals of the indices (cheap, may over-estimate, ignores gates). With
    exact=True: each access evaluated on its grid, falling back to its interval when it can't be."""
    spans, all_exact = [], exact
    for a in accesses:
        found = exact_extremes(a) if exact else None
        if found is None:
            found = interval(a.index)
            all_exact = all_exact and found is None  # an over-estimate stands in for the exact answer
        if found:
            spans.append(found)
    if not spans:
        return None
    return Span(min(s[0] for s in spans), max(s[1] for s in spans), all_exact)
