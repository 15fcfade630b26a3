"""Autograd through the Tensor API: every differentiable op's gradient against central finite differences
(float64), plus backward()'s rules: seeding, accumulation, requires_grad, detach, no_grad."""

import numpy as np
import pytest
from api_checks import grad_check
from hypothesis import given
from hypothesis import strategies as st

from shrimpgrad import Tensor, dtypes, no_grad


def _inputs(shape, seed=0, positive=False):
    """float64 values with |x| in [0.31, 1.47], all different: away from the kinks of relu, abs, max, round."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    mags = np.linspace(0.31, 1.47, n)[rng.permutation(n)]
    signs = np.ones(n) if positive else rng.choice([-1.0, 1.0], n)
    return (mags * signs).reshape(shape)


def check_gradients(f, *arrays, eps=1e-6, rtol=1e-5, atol=1e-7):
    """d/dx sum(f(x) * w) by backward() equals central differences of the same Tensor function."""
    grad_check(f, *arrays, eps=eps, rtol=rtol, atol=atol)


UNARY = {
    "neg": lambda x: -x, "exp": Tensor.exp, "exp2": Tensor.exp2, "sin": Tensor.sin, "cos": Tensor.cos,
    "tan": Tensor.tan, "relu": Tensor.relu, "sigmoid": Tensor.sigmoid, "tanh": Tensor.tanh, "gelu": Tensor.gelu,
    "quick_gelu": Tensor.quick_gelu, "silu": Tensor.silu, "leakyrelu": lambda x: x.leakyrelu(0.2),
    "elu": Tensor.elu, "softplus": Tensor.softplus, "abs": Tensor.abs, "square": Tensor.square,
    "pow3": lambda x: x**3, "pow-2": lambda x: x**-2, "rpow": lambda x: 3**x, "clip": lambda x: x.clip(-0.9, 1.1),
    "floor_plus_x": lambda x: x.floor() + x, "round_times_x": lambda x: x.round() * x,
    "sign_times_x": lambda x: x.sign() * x,
}
POSITIVE = {
    "log": Tensor.log, "log2": Tensor.log2, "sqrt": Tensor.sqrt, "rsqrt": Tensor.rsqrt,
    "reciprocal": Tensor.reciprocal, "pow2.5": lambda x: x**2.5, "pow0.5": lambda x: x**0.5,
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradients(name):
    check_gradients(UNARY[name], _inputs((2, 3)))


@pytest.mark.parametrize("name", list(POSITIVE))
def test_unary_gradients_on_positive_inputs(name):
    check_gradients(POSITIVE[name], _inputs((2, 3), positive=True))


BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "maximum": Tensor.maximum, "minimum": Tensor.minimum, "where": lambda a, b: (a > b).where(a * 2, b),
    "pow": lambda a, b: a.abs() ** b, "mod": lambda a, b: a % b.abs(), "dot": lambda a, b: a @ b.T,
    "linear": lambda a, b: a.linear(b.T, b.sum(1)),
}


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradients_with_broadcasting(name):
    a, b = _inputs((2, 3), 0), _inputs((2, 3), 1) * 1.1  # no ties between a and b
    if name in ("add", "mul", "maximum", "where"):
        b = b[:1]  # broadcast (1, 3) against (2, 3)
    check_gradients(BINARY[name], a, b)


REDUCE = {
    "sum": lambda x: x.sum(), "sum_axis": lambda x: x.sum(1), "sum_keepdim": lambda x: x.sum(0, keepdim=True),
    "max": lambda x: x.max(1), "min": lambda x: x.min(0), "mean": lambda x: x.mean(-1), "var": lambda x: x.var(1),
    "std": lambda x: x.std(), "prod": lambda x: x.prod(1), "prod_all": lambda x: x.prod(),
    "softmax": lambda x: x.softmax(), "log_softmax": lambda x: x.log_softmax(0), "logsumexp": lambda x: x.logsumexp(1),
}


@pytest.mark.parametrize("name", list(REDUCE))
def test_reduce_gradients(name):
    check_gradients(REDUCE[name], _inputs((3, 4)))


MOVEMENT = {
    "reshape": lambda x: x.reshape(4, 3), "permute": lambda x: x.permute(1, 0), "expand": lambda x: x.expand(2, 3, 4),
    "pad": lambda x: x.pad(((1, 0), (0, 2))), "pad_value": lambda x: x.pad((1, 1), value=3.0),
    "shrink": lambda x: x.shrink(((1, 3), None)), "flip": lambda x: x.flip(1), "repeat": lambda x: x.repeat(2, 2),
    "flatten": lambda x: x.flatten(), "transpose": lambda x: x.T, "contiguous": lambda x: x.contiguous() * x,
    "squeeze_unsqueeze": lambda x: x.unsqueeze(0).squeeze(),
}


@pytest.mark.parametrize("name", list(MOVEMENT))
def test_movement_gradients(name):
    check_gradients(MOVEMENT[name], _inputs((3, 4)))


@given(st.sampled_from(list(UNARY)), st.sampled_from(list(REDUCE)), st.integers(0, 100))
def test_random_compositions(unary, reduction, seed):
    check_gradients(lambda x: REDUCE[reduction](UNARY[unary](x)), _inputs((3, 4), seed), rtol=1e-4, atol=1e-6)


# ---- backward()'s rules ----------------------------------------------------------------------------

def test_non_scalar_backward_seeds_ones_and_gradient_argument():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    y = Tensor([1.0, 2.0], requires_grad=True)
    (y * 3).backward(Tensor([10.0, 100.0]))
    np.testing.assert_allclose(y.grad.numpy(), [30.0, 300.0])


def test_gradients_accumulate_across_backward_calls():
    x = Tensor([2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [7.0]


def test_requires_grad_propagates_like_tinygrad():
    a, b, c = Tensor([1.0], requires_grad=True), Tensor([1.0]), Tensor([1.0], requires_grad=False)
    assert (a + b).requires_grad is True and (b + c).requires_grad is None and (c * 2).requires_grad is False


def test_only_requires_grad_true_leaves_get_gradients_when_any_does():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0])
    (a * b).sum().backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None


def test_unused_leaf_gets_zero_gradient():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([5.0], requires_grad=True)
    (a * 2 + (b > 100).where(b, 0)).sum().backward()
    assert a.grad.tolist() == [2.0, 2.0] and b.grad.tolist() == [0.0]


def test_equal_constant_leaves_get_separate_gradients():
    # Two Tensor.ones(2) would be one graph node; requires_grad=True gives each its own buffer.
    a, b = Tensor.ones(2, requires_grad=True), Tensor.ones(2, requires_grad=True)
    (a * b * Tensor([2.0, 3.0])).sum().backward()
    assert a.grad.tolist() == [2.0, 3.0] and b.grad.tolist() == [2.0, 3.0]
    c = Tensor.zeros(2)
    c.requires_grad = True
    (c * a).sum().backward()
    assert c.grad.tolist() == [1.0, 1.0]


def test_detach_stops_gradients_and_snapshots_the_value():
    x = Tensor([3.0], requires_grad=True)
    (x.detach() * x).sum().backward()
    assert x.grad.tolist() == [3.0]  # not 6: the detached factor is a constant
    y = Tensor([1.0, 2.0])
    d = y.detach()
    y.assign(Tensor([5.0, 6.0])).realize()
    assert d.tolist() == [1.0, 2.0] and d.requires_grad is False


def test_a_detached_read_is_ordered_before_a_later_assign():
    w = Tensor([0.0, 1.0, 2.0, 3.0]).realize()
    old = w.detach() * 1  # still lazy when w is overwritten below
    w.assign(w + 1)
    Tensor.realize(w, old)
    assert old.tolist() == [0.0, 1.0, 2.0, 3.0] and w.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_no_grad():
    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        y = x * 2
        assert y.requires_grad is False
        with pytest.raises(RuntimeError, match="Tensor.backward: called inside no_grad()"):
            y.sum().backward()
    assert Tensor.no_grad is False


def test_gradient_through_float_casts_keeps_the_leaf_dtype():
    x = Tensor([1.0, 2.0], dtype=dtypes.float32, requires_grad=True)
    (x.cast(dtypes.float64) * 2 + x.half().float()).sum().backward()
    assert x.grad.dtype == dtypes.float32 and x.grad.tolist() == [3.0, 3.0]


def test_gradient_method_returns_tensors():
    x, y = Tensor([2.0, 3.0]), Tensor([4.0, 5.0])
    dx, dy = (x * y).sum().gradient(x, y)
    assert dx.tolist() == [4.0, 5.0] and dy.tolist() == [2.0, 3.0]


def test_gradients_flow_through_assign():
    x = Tensor([1.0, 2.0], requires_grad=True)
    buf = Tensor([0.0, 0.0])
    buf.assign(x * 3)
    buf.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_train_and_test_contexts():
    assert Tensor.training is False
    with Tensor.train():
        assert Tensor.training is True
        with Tensor.test():
            assert Tensor.training is False
        assert Tensor.training is True
    assert Tensor.training is False


def test_backward_through_realized_tensors():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3).realize()  # h's graph is replaced by a buffer ...
    loss = (h * h).sum()
    loss.numpy()
    loss.backward()  # ... but backward still sees how h was computed
    assert x.grad.tolist() == [18.0, 36.0]


def test_sgd_steps_differentiate_only_the_current_step():
    w = Tensor([1.0, -2.0], requires_grad=True)
    for _ in range(3):
        w.grad = None
        loss = (w * w).sum()
        loss.backward()
        np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy())  # not through the previous updates
        w.assign(w - 0.25 * w.grad).realize()
    np.testing.assert_allclose(w.numpy(), [0.125, -0.25])


def test_deep_graphs_build_realize_and_differentiate():
    w = Tensor([1.0], dtype=dtypes.float64, requires_grad=True)
    x = w
    for _ in range(3000):
        x = x * 1.0001 + 0.001
    x.realize()
    x.backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0001**3000])
