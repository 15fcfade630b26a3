"""Shared hypothesis strategies for stage-03 index expressions.

    from index_strategies import variables, index_exprs, conditions, all_points

* `variables()`        1-3 loop variables with small ranges (some starting below 0, as after a pad)
* `index_exprs(vs)`    random integer expressions over those variables: sums of scaled terms,
                       floor divisions and modulos by small constants, and the shapes index math
                       really has (`(x*4 + y)//4`, unravel-then-flatten, nested sums)
* `conditions(vs)`     random 0/1 conditions: comparisons of index expressions and conjunctions
* `all_points(vs)`     every assignment of the variables, as numpy arrays (for brute-force checks)
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st

from shrimpgrad.linearize.expr import And, Expr, FloorDiv, Ge, Lt, Mod, Mul, Num, Var


@st.composite
def variables(draw, max_vars: int = 3) -> tuple[Var, ...]:
    n = draw(st.integers(1, max_vars))
    out = []
    for i in range(n):
        lo = draw(st.integers(-3, 2))
        hi = lo + draw(st.integers(0, 7))
        out.append(Var(f"v{i}", lo, hi))
    return tuple(out)


def index_exprs(vs: tuple[Var, ...], max_leaves: int = 8) -> st.SearchStrategy[Expr]:
    """Random integer expressions over `vs` built bottom-up with hypothesis' recursive strategy."""
    leaves = st.one_of(st.sampled_from(vs), st.integers(-6, 12).map(Num))
    consts = st.integers(-4, 8)
    positive = st.integers(1, 8)

    def extend(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        return st.one_of(
            st.lists(inner, min_size=2, max_size=4).map(lambda ts: sum(ts[1:], ts[0])),
            st.tuples(inner, consts).map(lambda p: Mul(*p)),
            st.tuples(inner, positive).map(lambda p: FloorDiv(*p)),
            st.tuples(inner, positive).map(lambda p: Mod(*p)),
            # the shapes index arithmetic produces: scaled sums, then unravel with // and %
            st.tuples(inner, inner, positive).map(lambda p: FloorDiv(p[0] * p[2] + p[1], p[2])),
            st.tuples(inner, inner, positive).map(lambda p: Mod(p[0] * p[2] + p[1], p[2])),
            st.tuples(inner, positive, positive).map(lambda p: (p[0] // p[1]) % p[2] * p[1] + p[0] % p[1]),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


def conditions(vs: tuple[Var, ...]) -> st.SearchStrategy[Expr]:
    """0/1 conditions like those a view's mask produces: `lo <= e < hi` clauses joined with and."""
    clause = st.one_of(
        st.tuples(index_exprs(vs, 4), st.integers(-6, 14)).map(lambda p: Lt(*p)),
        st.tuples(index_exprs(vs, 4), st.integers(-6, 14)).map(lambda p: Ge(*p)),
    )
    return st.lists(clause, min_size=1, max_size=4).map(lambda cs: cs[0] if len(cs) == 1 else And(tuple(cs)))


def all_points(vs) -> dict[str, np.ndarray]:
    """Every assignment of the variables (by name), as flat int64 arrays of equal length."""
    vs = sorted({(v.name, v.lo, v.hi) for v in vs})
    grid = list(itertools.product(*(range(lo, hi + 1) for _, lo, hi in vs)))
    return {name: np.array([p[i] for p in grid], dtype=np.int64) for i, (name, _, _) in enumerate(vs)}


def values_at(e: Expr, env: dict[str, np.ndarray]) -> np.ndarray:
    """`e` evaluated at every point of `env`, broadcast to the number of points."""
    n = len(next(iter(env.values()))) if env else 1
    return np.broadcast_to(np.asarray(e.evaluate(env), dtype=np.int64), (n,))
