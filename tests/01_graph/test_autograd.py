"""Autograd: every op's gradient graph, evaluated, equals central finite differences (float64)."""

import math

import numpy as np
import pytest
from graph_strategies import apply_chain, leaf, movement_chains, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from shrimpgrad.graph import GraphError, Node, Ops, alu, broadcast_const, dtypes, evaluate, movement, reduce, toposort
from shrimpgrad.graph.autograd import DERIVATIVES, gradient

F64 = dtypes.float64


def finite_difference(root: Node, target: Node, buffers, seed: np.ndarray, eps: float) -> np.ndarray:
    """d sum(root * seed) / d target, one element at a time, by central differences."""
    ref = target.arg
    flat = buffers[ref]
    out = np.zeros_like(flat)
    for i in range(flat.size):
        values = []
        for step in (eps, -eps):
            moved = flat.copy()
            moved[i] += step
            values.append(np.sum(evaluate(root, {**buffers, ref: moved}) * seed))
        out[i] = (values[0] - values[1]) / (2 * eps)
    return out.reshape(target.shape)


def check_gradients(root: Node, targets: list[Node], buffers, seed_values: np.ndarray, eps: float = 1e-6):
    seed, seed_buffers = leaf(seed_values)
    grads = gradient(root, targets, seed)
    for target, grad in zip(targets, grads):
        assert grad is not None and grad.shape == target.shape and grad.dtype == target.dtype
        got = evaluate(grad, {**buffers, **seed_buffers})
        want = finite_difference(root, target, buffers, seed_values, eps)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"gradient of {root!r}")


def f64_arrays(shape, lo=-3.0, hi=3.0):
    return arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False))


@st.composite
def away_from_zero(draw, shape):
    """Values with |x| in [0.5, 3]: where 1/x, x/y are smooth enough for finite differences."""
    magnitude = draw(f64_arrays(shape, 0.5, 3.0))
    sign = draw(arrays(np.bool_, shape))
    return np.where(sign, magnitude, -magnitude)


# ---- each ALU op ----------------------------------------------------------------------------

UNARY_DOMAINS = {
    Ops.NEG: lambda shape: f64_arrays(shape),
    Ops.RECIP: lambda shape: away_from_zero(shape),
    Ops.SQRT: lambda shape: f64_arrays(shape, 0.5, 4.0),
    Ops.EXP2: lambda shape: f64_arrays(shape),
    Ops.LOG2: lambda shape: f64_arrays(shape, 0.5, 4.0),
    Ops.SIN: lambda shape: f64_arrays(shape),
    # trunc is flat between the integers: stay 0.1 away from them so the differences see no jump
    Ops.TRUNC: lambda shape: st.tuples(arrays(np.int64, shape, elements=st.integers(-3, 3)),
                                       f64_arrays(shape, 0.1, 0.9)).map(lambda p: p[0] + p[1]),
}


@given(st.sampled_from(sorted(UNARY_DOMAINS, key=lambda op: op.name)), shapes(max_dims=2), st.data())
def test_unary_gradients(op, shape, data):
    x, buffers = leaf(data.draw(UNARY_DOMAINS[op](shape)))
    check_gradients(alu(op, x), [x], buffers, data.draw(f64_arrays(shape)))


@given(st.sampled_from([Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV, Ops.MAX]), shapes(max_dims=2), st.data())
def test_binary_gradients(op, shape, data):
    xv = data.draw(f64_arrays(shape))
    if op is Ops.MAX:  # keep x and y at least 0.1 apart: finite differences can't see a kink
        yv = xv + data.draw(away_from_zero(shape)) / 5
    else:
        yv = data.draw(away_from_zero(shape) if op is Ops.DIV else f64_arrays(shape))
    x, bx = leaf(xv)
    y, by = leaf(yv)
    check_gradients(alu(op, x, y), [x, y], {**bx, **by}, data.draw(f64_arrays(shape)))


@given(shapes(max_dims=2), st.data())
def test_where_gradient_goes_to_the_chosen_side(shape, data):
    cond, bc = leaf(data.draw(arrays(np.bool_, shape)))
    x, bx = leaf(data.draw(f64_arrays(shape)))
    y, by = leaf(data.draw(f64_arrays(shape)))
    check_gradients(alu(Ops.WHERE, cond, x, y), [x, y], {**bc, **bx, **by}, data.draw(f64_arrays(shape)))


@given(shapes(min_dims=1, max_dims=2), st.data())
def test_float_casts_pass_the_gradient_back(shape, data):
    x, buffers = leaf(data.draw(f64_arrays(shape)))
    there_and_back = alu(Ops.CAST, alu(Ops.CAST, x, dtype=dtypes.float32), dtype=F64)
    # the function is the identity up to float32 rounding: a large step keeps rounding out of the result
    check_gradients(alu(Ops.MUL, there_and_back, x), [x], buffers, data.draw(f64_arrays(shape)), eps=1e-2)


# ---- reduce and movement ---------------------------------------------------------------------

@given(shapes(min_dims=1, max_dims=3), st.sampled_from([Ops.ADD, Ops.MAX]), st.data())
def test_reduce_gradients(shape, op, data):
    axes = tuple(data.draw(st.sets(st.integers(0, len(shape) - 1))))
    # distinct values, at least 0.25 apart: the max is unique and stays put under a small step
    order = data.draw(st.permutations(range(math.prod(shape))))
    x, buffers = leaf(np.array(order, np.float64).reshape(shape) * 0.25 - 1.0)
    out = reduce(x, op, axes)
    check_gradients(out, [x], buffers, data.draw(f64_arrays(out.shape)))


def test_reduce_max_splits_the_gradient_among_ties():
    x, buffers = leaf(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]))
    (grad,) = gradient(reduce(x, Ops.MAX, (1,)), [x])
    np.testing.assert_allclose(evaluate(grad, buffers), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_binary_max_splits_the_gradient_on_a_tie():
    x, bx = leaf(np.array([1.0, 2.0, 5.0]))
    y, by = leaf(np.array([1.0, 3.0, 4.0]))
    gx, gy = gradient(alu(Ops.MAX, x, y), [x, y])
    np.testing.assert_allclose(evaluate([gx, gy], {**bx, **by}), [[0.5, 0, 1], [0.5, 1, 0]])


@given(shapes(max_dims=3), st.data())
def test_movement_chain_gradients(shape, data):
    x, buffers = leaf(data.draw(f64_arrays(shape)))
    out = apply_chain(x, data.draw(movement_chains(shape)))
    # multiply by x-dependent values so the gradient isn't the same for every element
    check_gradients(alu(Ops.MUL, out, out), [x], buffers, data.draw(f64_arrays(out.shape)))


# ---- the walk ---------------------------------------------------------------------------------

def test_a_node_used_twice_accumulates():
    x, buffers = leaf(np.array([1.0, -2.0, 3.0]))
    (grad,) = gradient(alu(Ops.MUL, x, x), [x])
    np.testing.assert_allclose(evaluate(grad, buffers), [2.0, -4.0, 6.0])  # d x^2 = 2x
    assert any(n.meta and "sum of gradients" in n.meta.method for n in toposort([grad]))


def test_seed_none_means_ones():
    x, buffers = leaf(np.array([[1.0, 2.0], [3.0, 4.0]]))
    (grad,) = gradient(alu(Ops.MUL, x, x), [x])
    np.testing.assert_allclose(evaluate(grad, buffers), 2 * buffers[x.arg].reshape(2, 2))


def test_no_path_and_not_differentiable_give_none():
    x, bx = leaf(np.array([1.0, 2.0]))
    unused, bu = leaf(np.array([1.0, 2.0]))
    n, bn = leaf(np.array([1, 2], np.int32))
    lt = alu(Ops.CAST, alu(Ops.CMPLT, x, x), dtype=F64)  # comparisons are flat
    root = alu(Ops.ADD, alu(Ops.CAST, n, dtype=F64), lt)
    assert gradient(root, [x, unused, n]) == [None, None, None]


def test_gradients_carry_provenance():
    x, _ = leaf(np.array([1.0, 2.0]))
    (grad,) = gradient(alu(Ops.SIN, x), [x])
    methods = {n.meta.method for n in toposort([grad]) if n.meta is not None}
    assert "backward of Ops.SIN" in methods
    new_nodes = [n for n in toposort([grad]) if n is not x]
    assert all(n.meta is not None for n in new_nodes)


def test_gradient_nodes_reuse_equal_nodes_and_keep_theirs():
    """A rule's node equal to a forward node (or to one built earlier) is that node, with its own provenance: d(x*x)
    is MUL(g, x) twice, built once; the forward leaf keeps no 'backward' label."""
    x, _ = leaf(np.array([1.0, 2.0]))
    (grad,) = gradient(alu(Ops.MUL, x, x), [x])
    assert grad.op is Ops.ADD and grad.src[0] is grad.src[1]  # both uses' gradients are one node
    assert grad.src[0].src[1] is x and x.meta is None
    assert grad.src[0].meta.method == "backward of Ops.MUL" and "sum of gradients" in grad.meta.method


def test_a_rule_built_with_the_plain_constructors_is_stamped(monkeypatch):
    """A rule from outside autograd.py that builds with ops.py's constructors (no provenance) still gives nodes that
    say which op they differentiate (the pass stamps them afterwards)."""
    def d_sin(node, g):
        """d(sin x) = 2 g (wrong on purpose: only the provenance is checked)"""
        return (alu(Ops.MUL, g, broadcast_const(2.0, g.dtype, g.shape)),)

    monkeypatch.setitem(DERIVATIVES, Ops.SIN, d_sin)
    x, buffers = leaf(np.array([1.0, 2.0]))
    (grad,) = gradient(alu(Ops.SIN, x), [x])
    np.testing.assert_allclose(evaluate(grad, buffers), [2.0, 2.0])
    new_nodes = [n for n in toposort([grad]) if n is not x and "seed" not in n.meta.method]
    assert new_nodes and all(n.meta.method == "backward of Ops.SIN" for n in new_nodes)


def test_bad_seed_and_int_root_are_clear_errors():
    x, _ = leaf(np.array([1.0, 2.0]))
    with pytest.raises(GraphError, match="seed is"):
        gradient(x, [x], broadcast_const(1.0, F64, (3,)))
    n, _ = leaf(np.array([1, 2], np.int32))
    with pytest.raises(GraphError, match="only float graphs"):
        gradient(n, [n])


def test_deep_graph_does_not_recurse():
    x, buffers = leaf(np.array([1.0]))
    node = x
    for _ in range(3000):
        node = alu(Ops.MUL, node, movement(Ops.RESHAPE, broadcast_const(1.0, F64, ()), (1,)))
    (grad,) = gradient(node, [x])
    np.testing.assert_allclose(evaluate(grad, buffers), [1.0])


def test_every_op_has_a_documented_rule():
    assert set(DERIVATIVES) == set(Ops)
    for op, rule in DERIVATIVES.items():
        assert rule.__doc__, f"the rule for {op!r} needs a one-line docstring of its math"


def test_a_given_forward_order_gives_the_same_gradients():
    """gradient(..., order=toposort([root])) (the front end's backward walks the graph first) builds the same
    gradient graphs as gradient() walking it itself."""
    (x, _), (w, _) = leaf(np.ones((3, 4))), leaf(np.ones((4, 2)))
    y = reduce(alu(Ops.MUL, movement(Ops.EXPAND, movement(Ops.RESHAPE, x, (3, 4, 1)), (3, 4, 2)),
                   movement(Ops.EXPAND, movement(Ops.RESHAPE, w, (1, 4, 2)), (3, 4, 2))), Ops.ADD, (1,))
    root = alu(Ops.EXP2, y)
    assert gradient(root, [x, w], order=toposort([root])) == gradient(root, [x, w])
