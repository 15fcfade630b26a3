"""From a view of a buffer to index arithmetic: `(ShapeTracker, loop variables) -> (index, valid)`.

A LOAD in a kernel reads buffer element `index` at every loop iteration where `valid` holds
(elsewhere it reads 0: that is what a PAD means). Both are symbolic expressions of the loop
variables, built straight from the views' fields (stage 01, view.py):

    index = offset + sum(i_k * strides[k])              one View
    valid = and(mask[k][0] <= i_k < mask[k][1])         only the masked axes

A ShapeTracker with several views (a reshape that couldn't be merged) is applied *last view
first*: the last view turns the loop variables into a flat position in the previous view's
shape, that position is unravelled into the previous view's coordinates with `//` and `%`,
and the previous view turns those into the next index, AND-ing its own mask into `valid`:

    coords = unravel(index, views[k-1].shape)           (index // stride_j) % shape_j
    index, valid' = view_expr(views[k-1], coords);  valid = valid and valid'

Then `simplify` (symbolic.py) cleans both up, and `narrow_by_valid` uses the valid clauses on
single variables (`gidx1 >= 1`) as tighter bounds when simplifying the index: the index only
matters where valid holds. A valid that simplifies to 1 means an ordinary load; to 0 means the
load never happens (it is the constant 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from shrimpgrad.graph import ShapeTracker, View, strides_for_shape

from .expr import And, Expr, Ge, Lt, Num, Var, all_of, sum_of
from .symbolic import Rewrite, simplify


def view_expr(view: View, idxs: Sequence[Expr]) -> tuple[Expr, Expr]:
    """(index, valid) of one View at coordinates `idxs` (unsimplified)."""
    if len(idxs) != len(view.shape):
        raise ValueError(f"view of shape {view.shape} indexed with {len(idxs)} coordinates")
    terms: list[Expr] = [i * st for i, st in zip(idxs, view.strides) if st != 0]
    if view.offset:
        terms.append(Num(view.offset))
    clauses: list[Expr] = []
    if view.mask is not None:
        for i, (lo, hi), size in zip(idxs, view.mask, view.shape):
            if lo > 0 or lo >= hi:
                clauses.append(Ge(i, lo))
            if hi < size or lo >= hi:
                clauses.append(Lt(i, hi))
    return sum_of(terms), all_of(clauses)


def unravel(flat: Expr, shape: tuple[int, ...]) -> list[Expr]:
    """Coordinates of row-major position `flat` in `shape`: `(flat // stride) % size` per axis. The
    first axis needs no `%` (positions are < the size wherever they are valid); size-1 axes are 0."""
    out: list[Expr] = []
    for k, (size, stride) in enumerate(zip(shape, strides_for_shape(shape))):
        if size == 1:
            out.append(Num(0))
            continue
        coord = flat // stride if stride != 1 else flat
        out.append(coord if k == 0 else coord % size)
    return out


def narrow_by_valid(index: Expr, valid: Expr) -> Expr:
    """The index with each variable's bounds tightened by the valid clauses that bound it alone
    (`x >= 1`, `x < 5`): where valid is false the index is never used, so it may assume them."""
    clauses = valid.clauses if isinstance(valid, And) else (valid,)
    bounds: dict[str, tuple[int, int]] = {v.name: (v.lo, v.hi) for v in index.vars()}
    for c in clauses:
        if isinstance(c, (Lt, Ge)) and isinstance(c.x, Var) and c.x.name in bounds:
            lo, hi = bounds[c.x.name]
            bounds[c.x.name] = (lo, min(hi, c.c - 1)) if isinstance(c, Lt) else (max(lo, c.c), hi)
    narrowed = {v.name: Var(v.name, *bounds[v.name]) for v in index.vars()
                if bounds[v.name] != (v.lo, v.hi) and bounds[v.name][0] <= bounds[v.name][1]}
    return index.substitute(narrowed) if narrowed else index


def index_and_valid(st: ShapeTracker, idxs: Sequence[Expr], log: list[Rewrite] | None = None) -> tuple[Expr, Expr]:
    """(index, valid) of a ShapeTracker at coordinates `idxs` (expressions of the loop variables),
    both simplified. Every rewrite is appended to `log`."""
    log = log if log is not None else []
    index, valid = view_expr(st.views[-1], idxs)
    index, valid = simplify(index, log), simplify(valid, log)
    for view in reversed(st.views[:-1]):
        flat = simplify(narrow_by_valid(index, valid), log)
        inner_index, inner_valid = view_expr(view, [simplify(c, log) for c in unravel(flat, view.shape)])
        index, valid = simplify(inner_index, log), simplify(And((valid, inner_valid)), log)
    if valid == Num(0):
        return Num(0), valid
    return simplify(narrow_by_valid(index, valid), log), valid
