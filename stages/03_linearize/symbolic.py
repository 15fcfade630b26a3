"""The index algebra's named simplification rules, and `simplify`, which applies them.

The expressions are in expr.py (`Num`, `Var`, `Add`, `Mul`, `FloorDiv`, `Mod`, `Lt`, `Ge`, `And`,
each knowing its bounds); they are re-exported here, so `from shrimpgrad.linearize.symbolic import
Var, simplify` gives both halves of the algebra.

`simplify(e)` rewrites bottom-up with the rules in `RULES`, a plain list of named functions.
Each rule looks at one node and returns a simpler equivalent or None; its docstring shows
one example. The driver logs every rewrite `(rule, before, after)` so dumps can show which
rules fired. Two guarantees, checked by property tests on every point of the variables' ranges:

* a rewrite never changes the value of the expression, and
* a rewrite never increases `e.ops` (the number of arithmetic operations it lowers to), so
  `simplify` never makes index code longer.

The bounds drive the interesting rules: `(x*4 + y)//4 -> x` needs to know `0 <= y < 4`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .expr import (
    Add,
    And,
    Expr,
    FloorDiv,
    Ge,
    Lt,
    Mod,
    Mul,
    Num,
    SymbolicError,
    Var,
    all_of,
    coefficient,
    divide_term,
    sum_of,
    terms_of,
)

__all__ = ["Add", "And", "Expr", "FloorDiv", "Ge", "Lt", "Mod", "Mul", "Num", "SymbolicError", "Var", "all_of",
           "coefficient", "divide_term", "sum_of", "terms_of", "RULES", "Rewrite", "simplify", "rules_fired"]


# ---- the rules ----------------------------------------------------------------------------------
# Each rule takes one node and returns an equivalent node, or None when it doesn't apply.

def fold_constants(e: Expr) -> Expr | None:
    """An operation on numbers only is a number: `3*4 -> 12`, `7//2 -> 3`, `2 < 5 -> 1`."""
    if e.is_leaf or not all(isinstance(c, Num) for c in e.children):
        return None
    return Num(int(e.evaluate({})))


def var_with_one_value(e: Expr) -> Expr | None:
    """A variable whose range holds one value is that value: `x -> 3` when 3 <= x <= 3."""
    return Num(e.lo) if isinstance(e, Var) and e.lo == e.hi else None


def flatten_sum(e: Expr) -> Expr | None:
    """A sum inside a sum is spliced in: `(x + y) + z -> x + y + z`."""
    if not isinstance(e, Add) or not any(isinstance(t, Add) for t in e.terms):
        return None
    return Add(tuple(s for t in e.terms for s in terms_of(t)))


def fold_sum_constants(e: Expr) -> Expr | None:
    """The numbers of a sum are added into one, written last and dropped if 0: `3 + x + 2 -> x + 5`."""
    if not isinstance(e, Add):
        return None
    nums = [t for t in e.terms if isinstance(t, Num)]
    if not nums or (len(nums) == 1 and e.terms[-1] is nums[0] and nums[0].value != 0):
        return None
    total = sum(n.value for n in nums)
    rest = [t for t in e.terms if not isinstance(t, Num)]
    return sum_of(rest + ([Num(total)] if total != 0 else []))


def combine_like_terms(e: Expr) -> Expr | None:
    """Terms with the same variable part are merged: `x*2 + y + x*3 -> x*5 + y`, `x + x -> x*2`."""
    if not isinstance(e, Add):
        return None
    coeffs: dict[Expr, int] = {}  # variable part -> summed coefficient, in order of first appearance
    nums = []
    for t in e.terms:
        if isinstance(t, Num):
            nums.append(t)
            continue
        base, c = (t.x, t.c) if isinstance(t, Mul) else (t, 1)
        coeffs[base] = coeffs.get(base, 0) + c
    if len(coeffs) + len(nums) == len(e.terms):
        return None
    merged = [base if c == 1 else Mul(base, c) for base, c in coeffs.items() if c != 0]
    return sum_of(merged + nums)


def mul_by_one(e: Expr) -> Expr | None:
    """`x*1 -> x`."""
    return e.x if isinstance(e, Mul) and e.c == 1 else None


def mul_by_zero(e: Expr) -> Expr | None:
    """`x*0 -> 0`."""
    return Num(0) if isinstance(e, Mul) and e.c == 0 else None


def mul_of_mul(e: Expr) -> Expr | None:
    """Constant factors multiply: `(x*4)*3 -> x*12`."""
    return Mul(e.x.x, e.x.c * e.c) if isinstance(e, Mul) and isinstance(e.x, Mul) else None


def mul_distribute(e: Expr) -> Expr | None:
    """A constant factor is pushed into a sum, when that adds no multiplication (every term but at
    most one already has a constant factor): `(x*4 + y)*16 -> x*64 + y*16`, `(x + 2)*3 -> x*3 + 6`.
    Sums of scaled terms are the form the division and modulo rules understand."""
    if not isinstance(e, Mul) or not isinstance(e.x, Add):
        return None
    bare = [t for t in e.x.terms if not isinstance(t, (Num, Mul))]
    if len(bare) > 1:
        return None
    return Add(tuple(Num(t.value * e.c) if isinstance(t, Num) else Mul(t.x, t.c * e.c) if isinstance(t, Mul)
                     else Mul(t, e.c) for t in e.x.terms))


def div_by_one(e: Expr) -> Expr | None:
    """`x//1 -> x`."""
    return e.x if isinstance(e, FloorDiv) and e.c == 1 else None


def div_of_div(e: Expr) -> Expr | None:
    """Divisions by constants chain: `(x//4)//2 -> x//8`."""
    return FloorDiv(e.x.x, e.x.c * e.c) if isinstance(e, FloorDiv) and isinstance(e.x, FloorDiv) else None


def div_by_bounds(e: Expr) -> Expr | None:
    """A quotient that is the same on the whole range is that number: `x//8 -> 0` when 0 <= x < 8."""
    if not isinstance(e, FloorDiv) or isinstance(e.x, Num):
        return None
    lo, hi = e.x.vmin // e.c, e.x.vmax // e.c
    return Num(lo) if lo == hi else None


def div_cancel_gcd(e: Expr) -> Expr | None:
    """A factor common to every term and the divisor cancels: `(x*6 + 4)//4 -> (x*3 + 2)//2`."""
    if not isinstance(e, FloorDiv):
        return None
    g = math.gcd(e.c, *(coefficient(t) for t in terms_of(e.x)))
    if g <= 1:
        return None
    return FloorDiv(sum_of(divide_term(t, g) for t in terms_of(e.x)), e.c // g)


def div_pull_multiples(e: Expr) -> Expr | None:
    """Whole multiples of the divisor leave the division: `(x*4 + y)//4 -> x + y//4`,
    `(x*8 + 4)//4 -> x*2 + 1`. (Then `y//4 -> 0` by bounds when 0 <= y < 4.) A number that is not a
    multiple stays inside: splitting it would add an operation."""
    if not isinstance(e, FloorDiv) or e.c == 1:
        return None
    pulled, rest = [], []
    for t in terms_of(e.x):
        if isinstance(t, (Num, Mul)) and coefficient(t) % e.c == 0:
            pulled.append(divide_term(t, e.c))
        else:
            rest.append(t)
    if not pulled:
        return None
    return sum_of(pulled + ([FloorDiv(sum_of(rest), e.c)] if rest else []))


def mod_by_one(e: Expr) -> Expr | None:
    """`x%1 -> 0`."""
    return Num(0) if isinstance(e, Mod) and e.c == 1 else None


def mod_of_mod(e: Expr) -> Expr | None:
    """An inner modulo by a multiple is redundant: `(x%8)%4 -> x%4`."""
    if isinstance(e, Mod) and isinstance(e.x, Mod) and e.x.c % e.c == 0:
        return Mod(e.x.x, e.c)
    return None


def mod_by_bounds(e: Expr) -> Expr | None:
    """A modulo that never wraps on the range is a subtraction: `x%8 -> x` when 0 <= x < 8,
    `x%8 -> x - 8` when 8 <= x < 16."""
    if not isinstance(e, Mod) or isinstance(e.x, Num):
        return None
    k = e.x.vmin // e.c
    if e.x.vmax // e.c != k:
        return None
    return e.x if k == 0 else Add((e.x, Num(-k * e.c)))


def mod_drop_multiples(e: Expr) -> Expr | None:
    """Whole multiples of the divisor vanish in a modulo: `(x*4 + y)%4 -> y%4`, `(x + 9)%4 -> (x + 1)%4`, and a
    coefficient larger than the divisor keeps only its remainder: `(x*33 + y)%32 -> (x + y)%32` (33x = 32x + x).
    That last form is a convolution's window: stage 02 reads the input through a repeat and a reshape, whose index
    is `(oy + ky*33)%32`; reduced to `(oy + ky)%32`, the bounds (oy + ky < 32) then drop the modulo altogether
    (`mod_by_bounds`), leaving the plain affine `oy + ky` that the vectorizer and the C opts' stride analysis read."""
    if not isinstance(e, Mod) or e.c == 1:
        return None
    kept, changed = [], False
    for t in terms_of(e.x):
        if isinstance(t, Num) and not 0 <= t.value < e.c:
            changed = True
            if t.value % e.c:
                kept.append(Num(t.value % e.c))
        elif isinstance(t, Mul) and t.c % e.c == 0:
            changed = True
        elif isinstance(t, Mul) and t.c > e.c:  # only positive ones: a negative coefficient keeps its smaller bounds
            changed = True
            kept.append(t.x if t.c % e.c == 1 else Mul(t.x, t.c % e.c))
        else:
            kept.append(t)
    return Mod(sum_of(kept), e.c) if changed else None


def mod_recombine(e: Expr) -> Expr | None:
    """Unravelling then re-flattening undoes itself: `(x//4)*4 + x%4 -> x`, and with an outer modulo
    `((x//4)%3)*4 + x%4 -> x%12` (a reshape that merges two axes again). Scaled: `(x//4)*8 + (x%4)*2 -> x*2`."""
    if not isinstance(e, Add):
        return None
    parts = [(t.x, t.c) if isinstance(t, Mul) else (t, 1) for t in e.terms]
    for i, (low, k) in enumerate(parts):
        if not isinstance(low, Mod):
            continue
        x, a = low.x, low.c
        for j, (high, ka) in enumerate(parts):
            if ka != k * a:
                continue
            if high == FloorDiv(x, a):
                merged = x
            elif isinstance(high, Mod) and high.x == FloorDiv(x, a):
                merged = Mod(x, a * high.c)
            else:
                continue
            rest = [t for n, t in enumerate(e.terms) if n not in (i, j)]
            return sum_of(rest + [merged if k == 1 else Mul(merged, k)])
    return None


def cmp_by_bounds(e: Expr) -> Expr | None:
    """A comparison decided by the bounds is a constant: `x < 8 -> 1` when x <= 7 (so an always-true
    mask clause disappears), `x >= 1 -> 0` when x <= 0."""
    if isinstance(e, Lt) and not isinstance(e.x, Num):
        return Num(1) if e.x.vmax < e.c else Num(0) if e.x.vmin >= e.c else None
    if isinstance(e, Ge) and not isinstance(e.x, Num):
        return Num(1) if e.x.vmin >= e.c else Num(0) if e.x.vmax < e.c else None
    return None


def cmp_move_constant(e: Expr) -> Expr | None:
    """Numbers move to the right side: `x + 3 < 10 -> x < 7`."""
    if not isinstance(e, (Lt, Ge)) or not isinstance(e.x, Add) or not isinstance(e.x.terms[-1], Num):
        return None
    return type(e)(sum_of(e.x.terms[:-1]), e.c - e.x.terms[-1].value)


def cmp_divide_coefficient(e: Expr) -> Expr | None:
    """A factor common to every term divides out, rounding the bound up: `x*4 < 10 -> x < 3`,
    `x*4 + y*2 >= 5 -> x*2 + y >= 3` (for integers, 4x < 10 <=> x < 2.5 <=> x < 3)."""
    if not isinstance(e, (Lt, Ge)) or any(isinstance(t, Num) for t in terms_of(e.x)):
        return None
    g = math.gcd(*(coefficient(t) for t in terms_of(e.x)))
    if g <= 1:
        return None
    return type(e)(sum_of(divide_term(t, g) for t in terms_of(e.x)), -(-e.c // g))


def cmp_of_div(e: Expr) -> Expr | None:
    """A comparison of a quotient compares the dividend: `x//4 < 3 -> x < 12`, `x//4 >= 3 -> x >= 12`."""
    if isinstance(e, (Lt, Ge)) and isinstance(e.x, FloorDiv):
        return type(e)(e.x.x, e.c * e.x.c)
    return None


def and_flatten(e: Expr) -> Expr | None:
    """`(a and b) and c -> a and b and c`."""
    if isinstance(e, And) and any(isinstance(c, And) for c in e.clauses):
        return And(tuple(s for c in e.clauses for s in (c.clauses if isinstance(c, And) else (c,))))
    return None


def and_false(e: Expr) -> Expr | None:
    """One false clause makes the whole condition false: `x < 4 and 0 -> 0`."""
    if isinstance(e, And) and any(isinstance(c, Num) and c.value == 0 for c in e.clauses):
        return Num(0)
    return None


def and_drop_true(e: Expr) -> Expr | None:
    """True clauses (e.g. mask clauses the bounds already guarantee) are dropped: `x < 4 and 1 -> x < 4`."""
    if isinstance(e, And) and any(isinstance(c, Num) and c.value != 0 for c in e.clauses):
        return all_of(c for c in e.clauses if not isinstance(c, Num))
    return None


def and_dedupe(e: Expr) -> Expr | None:
    """A clause stated twice counts once: `x < 4 and x < 4 -> x < 4`."""
    if isinstance(e, And) and len(set(e.clauses)) < len(e.clauses):
        return all_of(dict.fromkeys(e.clauses))
    return None


def and_tighten(e: Expr) -> Expr | None:
    """Of two bounds on the same expression, the stricter wins: `x < 5 and x < 3 -> x < 3`,
    `x >= 1 and x >= 2 -> x >= 2`."""
    if not isinstance(e, And):
        return None
    best: dict[tuple[type, Expr], Expr] = {}
    for c in e.clauses:
        if isinstance(c, (Lt, Ge)):
            key = (type(c), c.x)
            old = best.get(key)
            if old is None or (c.c < old.c if isinstance(c, Lt) else c.c > old.c):
                best[key] = c
    kept = [c for c in e.clauses if not isinstance(c, (Lt, Ge)) or best[(type(c), c.x)] is c]
    return all_of(kept) if len(kept) < len(e.clauses) else None


Rule = Callable[[Expr], Expr | None]

# The rules, in the order they are tried at each node. Every rule is value-preserving and
# never increases `ops`; the property tests in tests/03_linearize/test_symbolic.py check both.
RULES: tuple[Rule, ...] = (
    fold_constants, var_with_one_value,
    # sums
    flatten_sum, fold_sum_constants, combine_like_terms, mod_recombine,
    # products
    mul_by_one, mul_by_zero, mul_of_mul, mul_distribute,
    # floor division
    div_by_one, div_of_div, div_by_bounds, div_cancel_gcd, div_pull_multiples,
    # modulo
    mod_by_one, mod_of_mod, mod_by_bounds, mod_drop_multiples,
    # comparisons
    cmp_by_bounds, cmp_move_constant, cmp_divide_coefficient, cmp_of_div,
    # conjunctions
    and_flatten, and_false, and_drop_true, and_dedupe, and_tighten,
)


class Rewrite(NamedTuple):
    """One rule firing: which rule, on what, giving what. (A NamedTuple, not a dataclass: an immutable record,
    made in ~0.06 ms at import where a frozen dataclass takes ~0.5 ms; issue 12, W7.)"""

    rule: str
    before: Expr
    after: Expr

    def __str__(self) -> str:
        return f"{self.rule}: {self.before}  ->  {self.after}"


_MAX_REWRITES_PER_NODE = 100


def simplify(e: Expr, log: list[Rewrite] | None = None) -> Expr:
    """Rewrite `e` bottom-up with RULES until none applies; append each firing to `log`."""
    return _simplify(e, log if log is not None else [], {}, 0)


def _simplify(e: Expr, log: list[Rewrite], memo: dict[Expr, Expr], depth: int) -> Expr:
    if e in memo:
        return memo[e]
    if depth > _MAX_REWRITES_PER_NODE:
        raise SymbolicError(f"simplify: the rules keep rewriting {e} (a cycle between rules?); last: {log[-3:]}")
    node = e if e.is_leaf else e.with_children(tuple(_simplify(c, log, memo, depth) for c in e.children))
    if isinstance(node, Num):
        memo[e] = node
        return node
    for rule in RULES:
        new = rule(node)
        if new is not None and new != node:
            log.append(Rewrite(rule.__name__, node, new))
            node = _simplify(new, log, memo, depth + 1)
            break
    memo[e] = node
    return node


def rules_fired(log: Iterable[Rewrite]) -> dict[str, int]:
    """How often each rule fired, in RULES order (for dumps)."""
    counts = {r.__name__: 0 for r in RULES}
    for rw in log:
        counts[rw.rule] += 1
    return {k: v for k, v in counts.items() if v}
