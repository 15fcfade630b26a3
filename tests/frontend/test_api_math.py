"""The math and activation API (shrimpgrad/elementwise.py and the fixed gradients of abs, clip and pow): values
against numpy / math (float64, tight), result dtypes, gradients against finite differences, the gradients at
kinks and at large |x| that PyTorch defines, NaN/inf, empty and 0-d inputs, exception types."""

import math

import numpy as np
import pytest
from api_checks import assert_matches, elementwise_grad_check

from shrimpgrad import Tensor, dtypes

_erf = np.vectorize(math.erf)
_SELU_A, _SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softplus(x):
    return np.logaddexp(0, x)


def _np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _hardtanh(x, lo=-1.0, hi=1.0):
    return np.clip(x, lo, hi)


# name -> (Tensor function, numpy reference, domain (lo, hi))
UNARY = {
    "atan": (Tensor.atan, np.arctan, (-30, 30)),
    "asin": (Tensor.asin, np.arcsin, (-0.99, 0.99)),
    "acos": (Tensor.acos, np.arccos, (-0.99, 0.99)),
    "sinh": (Tensor.sinh, np.sinh, (-5, 5)),
    "cosh": (Tensor.cosh, np.cosh, (-5, 5)),
    "asinh": (Tensor.asinh, np.arcsinh, (-50, 50)),
    "acosh": (Tensor.acosh, np.arccosh, (1.01, 40)),
    "atanh": (Tensor.atanh, np.arctanh, (-0.99, 0.99)),
    "erf": (Tensor.erf, _erf, (-6, 6)),
    "log10": (Tensor.log10, np.log10, (0.01, 1000)),
    "expm1": (Tensor.expm1, np.expm1, (-3, 3)),
    "log1p": (Tensor.log1p, np.log1p, (-0.9, 5)),
    "sigmoid": (Tensor.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-40, 40)),
    "tanh": (Tensor.tanh, np.tanh, (-20, 20)),
    "gelu_tanh": (Tensor.gelu, _np_gelu_tanh, (-6, 6)),
    "gelu_erf": (lambda x: x.gelu(approximate="none"), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), (-6, 6)),
    "quick_gelu": (Tensor.quick_gelu, lambda x: x / (1 + np.exp(-1.702 * x)), (-6, 6)),
    "silu": (Tensor.silu, lambda x: x / (1 + np.exp(-x)), (-10, 10)),
    "mish": (Tensor.mish, lambda x: x * np.tanh(_softplus(x)), (-10, 10)),
    "selu": (Tensor.selu, lambda x: _SELU_S * np.where(x > 0, x, _SELU_A * np.expm1(x)), (-4, 4)),
    "celu": (lambda x: x.celu(0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7)), (-4, 4)),
    "elu": (Tensor.elu, lambda x: np.where(x > 0, x, np.expm1(x)), (-4, 4)),
    "softplus": (lambda x: x.softplus(2.0), lambda x: _softplus(2 * x) / 2, (-20, 20)),
    "relu6": (Tensor.relu6, lambda x: np.clip(x, 0, 6), (-8, 8)),
    "hardtanh": (lambda x: x.hardtanh(-0.5, 2), lambda x: _hardtanh(x, -0.5, 2), (-4, 4)),
    "hardsigmoid": (Tensor.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1), (-5, 5)),
    "hardswish": (Tensor.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, (-5, 5)),
    "leaky_relu": (lambda x: x.leaky_relu(0.2), lambda x: np.where(x > 0, x, 0.2 * x), (-3, 3)),
    "softsign": (Tensor.softsign, lambda x: x / (1 + np.abs(x)), (-5, 5)),
    "logsigmoid": (Tensor.logsigmoid, lambda x: -_softplus(-x), (-30, 30)),
    "abs": (Tensor.abs, np.abs, (-3, 3)),
}
# elementwise math with approximations whose float64 error is above rounding (erf's continued fraction, ...)
_RTOL = {"erf": 1e-12, "gelu_erf": 1e-12, "sinh": 1e-12, "asinh": 1e-12, "atanh": 1e-12, "acosh": 1e-12}
# kinked functions: the finite-difference grid avoids the kinks (it is offset from them)
_KINKS = {"relu6", "hardtanh", "hardsigmoid", "hardswish", "leaky_relu", "abs", "elu", "celu", "selu"}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_values_float64(name):
    f, ref, (lo, hi) = UNARY[name]
    x = np.linspace(lo, hi, 25)
    assert_matches(f(Tensor(x)), ref(x), rtol=_RTOL.get(name, 1e-13), atol=1e-15, dtype=np.float64)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_float32_and_int_inputs_give_float32(name):
    f, ref, (lo, hi) = UNARY[name]
    x = np.linspace(lo, hi, 7).astype(np.float32)
    assert_matches(f(Tensor(x)), ref(x.astype(np.float64)), rtol=3e-6, atol=3e-7, dtype=np.float32)
    ints = np.array([1, 2, 3], dtype=np.int64) if name != "acosh" else np.array([2, 3])
    if name in ("asin", "acos", "atanh"):
        ints = np.array([0, 0])
    out = f(Tensor(ints))
    if name == "abs":
        assert out.dtype == dtypes.int64
        return
    assert out.dtype == dtypes.default_float  # not float64 by promotion of int64 with float32 constants
    if True:
        np.testing.assert_allclose(out.numpy(), ref(ints.astype(np.float64)), rtol=3e-6, atol=3e-7)


# mish's gradient kernel is checked analytically below: running the same large kernel twice (x + eps, x - eps)
# hits a slow cache lookup in devices.kernel_runner (a deep KNode compare), about a minute per run
@pytest.mark.parametrize("name", [n for n in UNARY if n != "mish"])
def test_unary_gradients(name):
    f, _, (lo, hi) = UNARY[name]
    x = np.linspace(lo, hi, 11) + (0.0371 * (hi - lo) / 11 if name in _KINKS else 0.0)
    x = np.clip(x, lo, hi)
    elementwise_grad_check(f, x, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu_tanh", "gelu_erf", "silu", "mish", "softplus",
                                  "logsigmoid", "elu", "selu", "erf", "atan", "asinh"])
def test_gradients_finite_at_large_magnitudes(name):
    """An overflowing exp in the branch a where didn't pick used to make these gradients NaN (issue 17)."""
    f = UNARY[name][0]
    x = Tensor([-1000.0, -100.0, -30.0, -12.0, 12.0, 30.0, 100.0, 1000.0], requires_grad=True)
    f(x).sum().backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all(), g
    assert abs(g[0]) < 1e-3 or name in ("elu", "selu", "logsigmoid")  # flat far left (or slope given by the op)


def test_mish_gradient_analytic():
    x = np.linspace(-6, 6, 9)
    t = Tensor(x, requires_grad=True)
    t.mish().sum().backward()
    sp = _softplus(x)
    expected = np.tanh(sp) + x * (1 - np.tanh(sp) ** 2) / (1 + np.exp(-x))
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-12)


def _grad_at(f, value):
    x = Tensor([value], requires_grad=True)
    f(x).sum().backward()
    return float(x.grad.numpy()[0])


@pytest.mark.parametrize("f, value, expected", [
    (Tensor.abs, 0.0, 0.0),  # PyTorch: sign(0) = 0
    (lambda x: x.clip(-1.0, 1.0), 1.0, 1.0),  # clamp passes the gradient on its bounds
    (lambda x: x.clip(-1.0, 1.0), -1.0, 1.0),
    (lambda x: x.clip(-1.0, 1.0), 1.5, 0.0),
    (lambda x: x.hardtanh(-1.0, 1.0), 1.0, 0.0),  # hardtanh doesn't
    (Tensor.relu6, 6.0, 0.0),
    (Tensor.relu6, 0.0, 0.0),
    (lambda x: x.leaky_relu(0.1), 0.0, 0.1),
    (lambda x: x.leakyrelu(0.1), 0.0, 0.1),
    (Tensor.elu, 0.0, 1.0),
    (lambda x: x.elu(0.5), 0.0, 0.5),
    (Tensor.softplus, 0.0, 0.5),
    (Tensor.tanh, 0.0, 1.0),
    (Tensor.sigmoid, 0.0, 0.25),
    (Tensor.erf, 0.0, 2 / math.sqrt(math.pi)),
    (Tensor.atan, 0.0, 1.0),
    (Tensor.relu, 0.0, 0.0),
])
def test_gradients_at_kinks_are_pytorchs(f, value, expected):
    assert _grad_at(f, value) == pytest.approx(expected, abs=1e-7)


def test_pow_gradient_at_base_one_and_exponent_zero():
    """((|x| + 0.5) ** y) with base exactly 1 (issue 17): d/dbase = y * base^(y-1), d/dy = log(base) * base^y."""
    x = Tensor([-0.5, 0.5], requires_grad=True)
    y = Tensor([-2.0, -2.0], requires_grad=True)
    ((x.abs() + 0.5) ** y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -2.0])
    np.testing.assert_allclose(y.grad.numpy(), [0.0, 0.0])
    b = Tensor([2.0, 3.0], requires_grad=True)
    e = Tensor([0.0, 0.0], requires_grad=True)
    (b**e).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), np.log([2.0, 3.0]))
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.0])


def test_pow_special_values_still_match_numpy():
    base = np.array([0.0, 1.0, 1.0, 1.0, -2.0, np.inf, np.nan, 0.0, 2.0, -0.5])
    exp = np.array([0.0, np.nan, np.inf, -np.inf, 0.0, 0.0, 0.0, -1.5, np.nan, 3.0])
    assert_matches(Tensor(base) ** Tensor(exp), np.power(base, exp))


@pytest.mark.parametrize("name", ["expm1", "log1p", "tanh", "sinh", "asinh", "atanh", "atan", "erf", "asin",
                                  "mish", "elu"])
def test_full_relative_precision_near_zero(name):
    """No cancellation for tiny |x| (PyTorch's tanh(1e-5) in float32 is right to the last bits, so is ours)."""
    f, ref, _ = UNARY[name]
    x = np.array([-3e-5, -1e-9, 1e-12, 2e-7, 4e-4])
    assert_matches(f(Tensor(x)), ref(x), rtol=1e-14, atol=0)
    assert_matches(f(Tensor(x.astype(np.float32))), ref(x), rtol=1e-6, atol=0)


def test_abs_special_values():
    x = np.array([-0.0, 0.0, -np.inf, np.inf, np.nan, -2.5])
    out = Tensor(x).abs().numpy()
    assert_matches(Tensor(x).abs(), np.abs(x))
    assert not np.signbit(out[0])
    assert_matches(Tensor(np.array([-3, 0, 4], np.int8)).abs(), np.array([3, 0, 4], np.int8), dtype=np.int8)


def test_clip_values_and_dtype():
    x = np.array([-2.0, -1.0, 0.3, 1.0, 4.0, np.nan])
    assert_matches(Tensor(x).clip(-1, 1), np.clip(x, -1, 1))
    assert_matches(Tensor(np.array([1, 5, 9])).clip(2, 6), np.array([2, 5, 6]), dtype=np.int64)
    assert_matches(Tensor(np.array([1, 5], np.int32)).clip(1.5), np.array([1.5, 5.0]), dtype=np.float32)
    assert_matches(Tensor(x[:5]).clip(2, 1), np.ones(5))  # min > max: everything is max (numpy, PyTorch)


def test_inverse_trig_edges():
    x = np.array([-1.0, 1.0, 1.5, -1.5, np.nan])
    with np.errstate(invalid="ignore"):
        for name, ref in (("asin", np.arcsin), ("acos", np.arccos), ("atanh", np.arctanh)):
            assert_matches(getattr(Tensor(x), name)(), ref(x), rtol=1e-13)
    big = np.array([-np.inf, -1e300, -1e-300, 0.0, 1e-300, 1e300, np.inf, np.nan])
    assert_matches(Tensor(big).atan(), np.arctan(big), rtol=1e-15)
    assert_matches(Tensor(big).erf(), _erf(big), rtol=1e-15)
    assert_matches(Tensor(big).tanh(), np.tanh(big))
    assert_matches(Tensor(big).sigmoid(), 1 / (1 + np.exp(-np.clip(big, -700, 700))), atol=1e-300)


@pytest.mark.parametrize("a, b", [
    ([1.0, -2.0, np.inf, -np.inf, 3.0, np.nan, 1000.0], [2.0, 3.0, np.inf, -np.inf, -np.inf, 1.0, 1000.0]),
])
def test_logaddexp(a, b):
    a, b = np.array(a), np.array(b)
    assert_matches(Tensor(a).logaddexp(Tensor(b)), np.logaddexp(a, b), rtol=1e-14)
    assert_matches(Tensor(a).logaddexp(0.5), np.logaddexp(a, 0.5), rtol=1e-14)


def test_logaddexp_gradient():
    from api_checks import grad_check
    grad_check(lambda a, b: a.logaddexp(b), np.array([0.3, -1.2, 2.0]), np.array([1.0, -1.2 + 0.3, -4.0]))


def test_copysign():
    a = np.array([1.0, -2.0, 3.0, -4.0, 0.0, np.inf])
    b = np.array([-1.0, 2.0, -0.0, 0.0, -5.0, -1.0])
    assert_matches(Tensor(a).copysign(Tensor(b)), np.copysign(a, b))
    assert_matches(Tensor(np.array([1, -2])).copysign(-1), np.array([-1.0, -2.0]), dtype=np.float32)
    elementwise_grad_check(lambda x: x.copysign(-1.0), np.array([-1.3, 0.4, 2.0]))


def test_fmod():
    a, b = np.array([5.5, -5.5, 5.5, -5.5, 3.0]), np.array([2.0, 2.0, -2.0, -2.0, 1.5])
    assert_matches(Tensor(a).fmod(Tensor(b)), np.fmod(a, b), rtol=1e-14)
    ia, ib = np.array([7, -7, 7, -7, 6], np.int32), np.array([3, 3, -3, -3, 3], np.int32)
    assert_matches(Tensor(ia).fmod(Tensor(ib)), np.fmod(ia, ib), dtype=np.int32)
    elementwise_grad_check(lambda x: x.fmod(1.5), np.array([-2.9, -1.2, 0.4, 2.0]))


def test_lerp():
    a, b, w = np.array([1.0, 2.0, -3.0]), np.array([5.0, -2.0, 7.0]), np.array([0.0, 0.75, 1.0])
    assert_matches(Tensor(a).lerp(Tensor(b), Tensor(w)), a + w * (b - a), rtol=1e-15)
    assert_matches(Tensor(a).lerp(Tensor(b), 0.25), a + 0.25 * (b - a), rtol=1e-15)
    from api_checks import grad_check
    grad_check(lambda s, e, ww: s.lerp(e, ww), a, b, np.array([0.2, 0.6, 0.9]))


def test_classification():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -0.0])
    assert_matches(Tensor(x).isnan(), np.isnan(x), dtype=np.bool_)
    assert_matches(Tensor(x).isinf(), np.isinf(x), dtype=np.bool_)
    assert_matches(Tensor(x).isinf(detect_negative=False), np.isposinf(x))
    assert_matches(Tensor(x).isinf(detect_positive=False), np.isneginf(x))
    assert_matches(Tensor(x).isfinite(), np.isfinite(x), dtype=np.bool_)
    ints = Tensor([1, 2])
    assert_matches(ints.isnan(), [False, False])
    assert_matches(ints.isinf(), [False, False])
    assert_matches(ints.isfinite(), [True, True])


def test_isclose():
    a = np.array([1.0, 1.0 + 1e-6, np.inf, np.nan, -np.inf, 1e-9, 2.0])
    b = np.array([1.0, 1.0, np.inf, np.nan, np.inf, 0.0, 2.1])
    assert_matches(Tensor(a).isclose(Tensor(b)), np.isclose(a, b), dtype=np.bool_)
    assert_matches(Tensor(a).isclose(Tensor(b), equal_nan=True), np.isclose(a, b, equal_nan=True))
    assert_matches(Tensor(a).isclose(Tensor(b), rtol=0.1, atol=0), np.isclose(a, b, rtol=0.1, atol=0))
    assert_matches(Tensor([1, 2]).isclose(Tensor([1, 3])), [True, False])


def test_softmin_and_normalize():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 3.0, -1.0]])
    e = np.exp(-x - (-x).max(axis=1, keepdims=True))
    assert_matches(Tensor(x).softmin(), e / e.sum(axis=1, keepdims=True), rtol=1e-14)
    assert_matches(Tensor(x).normalize(), x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-14)
    assert_matches(Tensor(x).normalize(p=1, dim=0), x / np.abs(x).sum(axis=0, keepdims=True), rtol=1e-14)
    assert_matches(Tensor(np.zeros((2, 2))).normalize(), np.zeros((2, 2)))  # eps: no 0 / 0
    from api_checks import grad_check
    grad_check(lambda t: t.normalize(), x)
    grad_check(lambda t: t.softmin(0), x)


def test_empty_and_0d():
    for name in ("atan", "erf", "sigmoid", "tanh", "mish", "hardswish", "log10"):
        f = UNARY.get(name, (getattr(Tensor, name),))[0]
        assert f(Tensor(np.zeros((0, 3)))).shape == (0, 3)
        assert f(Tensor(0.5)).shape == ()
    assert_matches(Tensor(np.float64(0.5)).erf(), math.erf(0.5), rtol=1e-14)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        Tensor([1.0]).gelu(approximate="fast")
