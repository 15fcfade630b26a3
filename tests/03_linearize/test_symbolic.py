"""The symbolic algebra: every rule on its documented example, and properties of `simplify` on random
expressions checked by brute force on every point of the variables' ranges."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from index_strategies import all_points, conditions, index_exprs, values_at, variables

from shrimpgrad.linearize import symbolic as sym
from shrimpgrad.linearize.symbolic import RULES, Add, And, FloorDiv, Ge, Lt, Mod, Mul, Num, SymbolicError, Var, simplify

x, y, z = Var("x", 0, 7), Var("y", 0, 3), Var("z", 0, 2)
w = Var("w", 8, 15)


def S(*terms):  # a flat sum, as the rules see them after flatten_sum (operators build nested ones)
    return Add(tuple(Num(t) if isinstance(t, int) else t for t in terms))


# (rule, input, what that rule alone rewrites it to) -- the examples in the rules' docstrings
RULE_EXAMPLES = [
    (sym.fold_constants, Mul(Num(3), 4), Num(12)),
    (sym.fold_constants, Lt(Num(2), 5), Num(1)),
    (sym.var_with_one_value, Var("k", 3, 3), Num(3)),
    (sym.flatten_sum, S(S(x, y), z), S(x, y, z)),
    (sym.fold_sum_constants, S(3, x, 2), S(x, 5)),
    (sym.combine_like_terms, S(x * 2, y, x * 3), S(x * 5, y)),
    (sym.combine_like_terms, x + x, x * 2),
    (sym.mod_recombine, (x // 4) * 4 + x % 4, x),
    (sym.mod_recombine, ((x // 4) % 3) * 4 + x % 4, x % 12),
    (sym.mod_recombine, (x // 4) * 8 + (x % 4) * 2, x * 2),
    (sym.mul_by_one, x * 1, x),
    (sym.mul_by_zero, x * 0, Num(0)),
    (sym.mul_of_mul, (x * 4) * 3, x * 12),
    (sym.mul_distribute, (x * 4 + y) * 16, x * 64 + y * 16),
    (sym.mul_distribute, (x + 2) * 3, x * 3 + 6),
    (sym.div_by_one, x // 1, x),
    (sym.div_of_div, (x // 4) // 2, x // 8),
    (sym.div_by_bounds, x // 8, Num(0)),
    (sym.div_cancel_gcd, (x * 6 + 4) // 4, (x * 3 + 2) // 2),
    (sym.div_pull_multiples, (x * 4 + y) // 4, x + y // 4),
    (sym.div_pull_multiples, (x * 8 + 4) // 4, x * 2 + 1),
    (sym.mod_by_one, x % 1, Num(0)),
    (sym.mod_of_mod, (x % 8) % 4, x % 4),
    (sym.mod_by_bounds, x % 8, x),
    (sym.mod_by_bounds, w % 8, S(w, -8)),
    (sym.mod_drop_multiples, (x * 4 + y) % 4, y % 4),
    (sym.mod_drop_multiples, (x + 9) % 4, (x + 1) % 4),
    (sym.cmp_by_bounds, x.lt(8), Num(1)),
    (sym.cmp_by_bounds, Var("n", -3, 0).ge(1), Num(0)),
    (sym.cmp_move_constant, (x + 3).lt(10), x.lt(7)),
    (sym.cmp_divide_coefficient, (x * 4).lt(10), x.lt(3)),
    (sym.cmp_divide_coefficient, (x * 4 + y * 2).ge(5), (x * 2 + y).ge(3)),
    (sym.cmp_of_div, (x // 4).lt(3), x.lt(12)),
    (sym.cmp_of_div, (x // 4).ge(3), x.ge(12)),
    (sym.and_flatten, And((And((x.lt(4), y.lt(2))), z.lt(1))), And((x.lt(4), y.lt(2), z.lt(1)))),
    (sym.and_false, And((x.lt(4), Num(0))), Num(0)),
    (sym.and_drop_true, And((x.lt(4), Num(1))), x.lt(4)),
    (sym.and_dedupe, And((x.lt(4), x.lt(4))), x.lt(4)),
    (sym.and_tighten, And((x.lt(5), x.lt(3))), x.lt(3)),
    (sym.and_tighten, And((x.ge(1), x.ge(2))), x.ge(2)),
]


@pytest.mark.parametrize("rule,before,after", RULE_EXAMPLES, ids=[f"{r.__name__}:{b}" for r, b, _ in RULE_EXAMPLES])
def test_rule_on_its_example(rule, before, after):
    assert rule(before) == after
    env = all_points(before.vars() | after.vars())
    np.testing.assert_array_equal(values_at(before, env), values_at(after, env))


def test_every_rule_has_an_example_and_a_docstring():
    assert {r for r, _, _ in RULE_EXAMPLES} == set(RULES)
    assert all(r.__doc__ and "->" in r.__doc__ for r in RULES)


@pytest.mark.parametrize("before,after", [
    ((x * 4 + y) // 4, x),  # the brief's headline rules
    ((x * 4 + y) % 4, y),
    (x % 8, x),
    (x // 1, x),
    (((x * 12 + y * 3 + z) // 3) % 4, y),
    (And((x.lt(8), y.ge(0), (x + 3).lt(6))), x.lt(3)),  # always-true mask clauses vanish
    (And((x.lt(8), y.lt(0))), Num(0)),  # an always-false clause makes the condition false
    (x * 2 + x * 3 + y - y, x * 5),
])
def test_simplify_examples(before, after):
    log = []
    assert simplify(before, log) == after
    assert log and all(rw.rule in {r.__name__ for r in RULES} for rw in log)


def test_bounds():
    assert (x * 4 + y).bounds == (0, 31)
    assert (x * -2).bounds == (-14, 0)
    assert (x // 3).bounds == (0, 2)
    assert (w % 8).bounds == (0, 7)
    assert ((x + 1) % 16).bounds == (1, 8)  # within one block: exact
    assert x.lt(3).bounds == (0, 1)


def test_render_is_python():
    e = S((x * 4 + y) // 4, z * -2, (x % 3) * 5, -1)
    assert str(e) == "(x*4 + y)//4 - z*2 + (x%3)*5 - 1"
    assert str(S(S(x, y), z)) == "(x + y) + z"  # a nested sum shows its structure
    assert eval(str(e), {"x": 5, "y": 3, "z": 1}) == e.evaluate({"x": 5, "y": 3, "z": 1})


def test_bad_input_is_a_clear_error():
    with pytest.raises(SymbolicError, match="positive"):
        FloorDiv(x, 0)
    with pytest.raises(SymbolicError, match="Python int"):
        x * 1.5
    with pytest.raises(SymbolicError, match="empty range"):
        Var("q", 3, 2)


# ---- properties -----------------------------------------------------------------------------------

exprs_and_vars = variables().flatmap(lambda vs: st.tuples(st.just(vs), st.one_of(index_exprs(vs), conditions(vs))))


def _subexpressions(e):
    stack, out = [e], []
    while stack:
        s = stack.pop()
        out.append(s)
        stack.extend(s.children)
    return out


@given(exprs_and_vars)
def test_simplify_preserves_the_value_on_every_point(case):
    vs, e = case
    env = all_points(vs)
    np.testing.assert_array_equal(values_at(simplify(e), env), values_at(e, env), err_msg=f"{e} -> {simplify(e)}")


@given(exprs_and_vars)
def test_simplify_never_makes_an_expression_larger(case):
    _, e = case
    log = []
    s = simplify(e, log)
    assert s.ops <= e.ops, f"{e} ({e.ops} ops) -> {s} ({s.ops} ops)"
    assert all(rw.after.ops <= rw.before.ops for rw in log), [str(rw) for rw in log if rw.after.ops > rw.before.ops]


@given(exprs_and_vars)
def test_bounds_contain_every_value(case):
    vs, e = case
    env = all_points(vs)
    for s in _subexpressions(e) + _subexpressions(simplify(e)):
        vals = values_at(s, env)
        assert s.vmin <= vals.min() and vals.max() <= s.vmax, (
            f"{s}: bounds {s.bounds}, values {vals.min()}..{vals.max()}")


@given(exprs_and_vars)
def test_simplify_is_idempotent(case):
    _, e = case
    once = simplify(e)
    assert simplify(once) == once


@given(variables())
def test_conditions_on_a_single_variable_simplify_to_a_constant_when_bounds_decide(vs):
    v = vs[0]
    assert simplify(And((v.ge(v.lo), v.lt(v.hi + 1)))) == Num(1)
    assert simplify(And((v.ge(v.hi + 1), Lt(v, 100)))) == Num(0)
    assert simplify(Ge(v, v.lo)) == Num(1)
    assert simplify(Mod(v - v.lo, v.hi - v.lo + 1)) == simplify(v - v.lo)
