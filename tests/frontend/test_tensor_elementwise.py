"""Elementwise Tensor ops against numpy: one table row per op, plus hypothesis for broadcasting and promotion."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shrimpgrad import Tensor, dtypes
from shrimpgrad.graph import ALL_DTYPES, promote

X = np.array([-3.7, -2.5, -1.5, -1.0, -0.5, -0.25, 0.0, 0.3, 0.5, 1.5, 2.5, 3.2], np.float32)
POS = np.array([0.1, 0.5, 1.0, 2.0, 3.3, 10.0], np.float32)


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# (name, Tensor -> Tensor, numpy function, input)
UNARY = [
    ("neg", lambda t: -t, np.negative, X),
    ("exp", Tensor.exp, np.exp, X),
    ("exp2", Tensor.exp2, np.exp2, X),
    ("log", Tensor.log, np.log, POS),
    ("log2", Tensor.log2, np.log2, POS),
    ("sqrt", Tensor.sqrt, np.sqrt, POS),
    ("rsqrt", Tensor.rsqrt, lambda x: 1 / np.sqrt(x), POS),
    ("sin", Tensor.sin, np.sin, X),
    ("cos", Tensor.cos, np.cos, X),
    ("tan", Tensor.tan, np.tan, X[np.abs(X) < 1.4]),
    ("relu", Tensor.relu, lambda x: np.maximum(x, 0), X),
    ("sigmoid", Tensor.sigmoid, _sigmoid, X),
    ("tanh", Tensor.tanh, np.tanh, X),
    ("gelu", Tensor.gelu, _gelu, X),
    ("quick_gelu", Tensor.quick_gelu, lambda x: x * _sigmoid(1.702 * x), X),
    ("silu", Tensor.silu, lambda x: x * _sigmoid(x), X),
    ("leakyrelu", lambda t: t.leakyrelu(0.1), lambda x: np.where(x < 0, 0.1 * x, x), X),
    ("elu", Tensor.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), X),
    ("softplus", Tensor.softplus, lambda x: np.log1p(np.exp(x)), X),
    ("softplus_big", lambda t: t.softplus(), lambda x: np.logaddexp(0, x), np.array([-100.0, 100.0], np.float32)),
    ("abs", Tensor.abs, np.abs, X),
    ("sign", Tensor.sign, np.sign, X),
    ("reciprocal", Tensor.reciprocal, np.reciprocal, POS),
    ("square", Tensor.square, np.square, X),
    ("floor", Tensor.floor, np.floor, X),
    ("ceil", Tensor.ceil, np.ceil, X),
    ("round", Tensor.round, np.round, X),
    ("trunc", Tensor.trunc, np.trunc, X),
    ("clip", lambda t: t.clip(-1, 0.5), lambda x: np.clip(x, -1, 0.5), X),
    ("clamp_min", lambda t: t.clamp(min_=0.2), lambda x: np.maximum(x, 0.2), X),
    ("pow3", lambda t: t**3, lambda x: x**3, X),
    ("pow0", lambda t: t**0, lambda x: x**0, X),
    ("pow-2", lambda t: t**-2, lambda x: x ** -2.0, POS),
    ("pow2.5", lambda t: t**2.5, lambda x: x**2.5, POS),
    ("pow0.5", lambda t: t**0.5, np.sqrt, POS),
    ("rpow", lambda t: 2**t, lambda x: 2.0**x, X),
    ("logical_not", Tensor.logical_not, np.logical_not, X),
]


@pytest.mark.parametrize("name, fn, ref, x", UNARY, ids=[u[0] for u in UNARY])
def test_unary_matches_numpy(name, fn, ref, x):
    got = fn(Tensor(x)).numpy()
    with np.errstate(all="ignore"):
        want = ref(x)
    assert got.dtype == (np.bool_ if name == "logical_not" else x.dtype)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5, -2.5, 1e30], np.float32)


@pytest.mark.parametrize("name, fn, ref", [
    ("round", Tensor.round, np.round), ("floor", Tensor.floor, np.floor), ("ceil", Tensor.ceil, np.ceil),
    ("trunc", Tensor.trunc, np.trunc), ("sign", Tensor.sign, np.sign), ("abs", Tensor.abs, np.abs),
    ("relu", Tensor.relu, lambda x: np.where(x > 0, x, 0)), ("exp", Tensor.exp, np.exp),
    ("sqrt", Tensor.sqrt, np.sqrt), ("sigmoid", Tensor.sigmoid, _sigmoid),
])
def test_nan_inf_and_signed_zero(name, fn, ref):
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(fn(Tensor(SPECIAL)).numpy(), ref(SPECIAL), rtol=1e-6)


A = np.array([[-7, -3, 0, 2, 5, 9]], np.int32)
B = np.array([[2], [-3], [4]], np.int32)
FA = A.astype(np.float32) * 1.25
FB = B.astype(np.float32) * 0.75

# (name, (Tensor, Tensor) -> Tensor, numpy function, a, b)
BINARY = [
    ("add", lambda a, b: a + b, np.add, FA, FB),
    ("sub", lambda a, b: a - b, np.subtract, FA, FB),
    ("mul", lambda a, b: a * b, np.multiply, FA, FB),
    ("div", lambda a, b: a / b, np.divide, FA, FB),
    ("floordiv_float", lambda a, b: a // b, np.floor_divide, FA, FB),
    ("mod_float", lambda a, b: a % b, np.mod, FA, FB),
    ("floordiv_int", lambda a, b: a // b, np.floor_divide, A, B),
    ("mod_int", lambda a, b: a % b, np.mod, A, B),
    ("add_int", lambda a, b: a + b, np.add, A, B),
    ("mul_int", lambda a, b: a * b, np.multiply, A, B),
    ("maximum", Tensor.maximum, np.maximum, FA, FB),
    ("minimum", Tensor.minimum, np.minimum, FA, FB),
    ("minimum_int", Tensor.minimum, np.minimum, A, B),
    ("pow", lambda a, b: a.abs() ** b, lambda a, b: np.abs(a) ** b, FA, FB),  # includes 0 ** -2.25 = inf
    ("pow_neg_base", lambda a, b: a ** b, np.power, FA, B.astype(np.float32)),
    ("pow_int", lambda a, b: a ** b.abs(), lambda a, b: a ** np.abs(b), A, B),
    ("lt", lambda a, b: a < b, np.less, FA, FB),
    ("le", lambda a, b: a <= b, np.less_equal, A, B),
    ("gt", lambda a, b: a > b, np.greater, FA, FB),
    ("ge", lambda a, b: a >= b, np.greater_equal, A, B),
    ("eq", lambda a, b: a == b, np.equal, A, B),
    ("ne", lambda a, b: a != b, np.not_equal, A, B),
    ("and", lambda a, b: a & b, np.bitwise_and, A, B),
    ("or", lambda a, b: a | b, np.bitwise_or, A, B),
    ("xor", lambda a, b: a ^ b, np.bitwise_xor, A, B),
    ("logical_and", Tensor.logical_and, np.logical_and, A, B),
    ("logical_or", Tensor.logical_or, np.logical_or, A, B),
    ("where", lambda a, b: (a > 0).where(a, b), lambda a, b: np.where(a > 0, a, b), FA, FB),
]


@pytest.mark.parametrize("name, fn, ref, a, b", BINARY, ids=[b[0] for b in BINARY])
def test_binary_matches_numpy_with_broadcasting(name, fn, ref, a, b):
    got = fn(Tensor(a), Tensor(b)).numpy()
    with np.errstate(all="ignore"):
        want = ref(a, b)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


def test_true_division_of_ints_gives_default_float():
    out = Tensor([1, 2, 3]) / Tensor([2, 2, 2])
    assert out.dtype == dtypes.default_float
    np.testing.assert_allclose(out.numpy(), [0.5, 1.0, 1.5])
    assert (Tensor([7, -7]).div(2, rounding_mode="trunc")).tolist() == [3, -3]
    assert (Tensor([7, -7]).div(2, rounding_mode="floor")).tolist() == [3, -4]


def test_int_floordiv_and_mod_by_zero_are_zero():
    assert (Tensor([5, -5]) // 0).tolist() == [0, 0]
    assert (Tensor([5, -5]) % 0).tolist() == [0, 0]


def test_comparisons_with_nan_follow_ieee():
    x, nan = Tensor([1.0, np.nan]), float("nan")
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__"):
        assert getattr(x, op)(nan).tolist() == [False, False], op
    assert (x != nan).tolist() == [True, True]
    assert (x <= x).tolist() == [True, False]


def test_minimum_and_maximum_propagate_nan():
    x, y = Tensor([np.nan, 1.0]), Tensor([1.0, np.nan])
    assert np.isnan(x.minimum(y).numpy()).all() and np.isnan(x.maximum(y).numpy()).all()


def test_integer_ops_wrap_and_unsigned_minimum():
    u = Tensor(np.array([0, 5, 255], np.uint8))
    np.testing.assert_array_equal(u.minimum(3).numpy(), np.minimum(u.numpy(), 3))
    np.testing.assert_array_equal((u + 1).numpy(), np.array([1, 6, 0], np.uint8))
    i8 = Tensor(np.array([-128, -1, 0, 127], np.int8))
    np.testing.assert_array_equal((-i8).numpy(), -i8.numpy())
    np.testing.assert_array_equal((~i8).numpy(), ~i8.numpy())
    np.testing.assert_array_equal((~u).numpy(), ~u.numpy())


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_shifts_match_numpy(dtype):
    info = np.iinfo(dtype)
    x = np.array([info.min, -5 if info.min < 0 else 5, 0, 1, 77, info.max], dtype)
    bits = 8 * x.itemsize
    for n in (0, 1, 3, bits - 1):
        np.testing.assert_array_equal((Tensor(x) << n).numpy(), x << dtype(n), err_msg=f"<< {n}")
        np.testing.assert_array_equal((Tensor(x) >> n).numpy(), x >> dtype(n), err_msg=f">> {n}")


def test_bool_ops():
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    for op in ("__and__", "__or__", "__xor__", "__add__", "__mul__", "maximum", "minimum"):
        got = getattr(Tensor(a), op)(Tensor(b)).numpy()
        want = {"maximum": np.maximum, "minimum": np.minimum}.get(op) or getattr(a, op)
        np.testing.assert_array_equal(got, want(b) if op not in ("maximum", "minimum") else want(a, b), err_msg=op)
    assert (~Tensor(a)).tolist() == [False, False, True, True]
    assert (-Tensor(a)).tolist() == [False, False, True, True]  # tinygrad: neg of bool is logical not


def test_pow_edge_cases_match_numpy():
    base = np.array([0.0, 0.0, -2.0, -2.0, 1.0, np.nan, 3.0], np.float32)
    expo = np.array([0.0, 2.0, 3.0, 0.5, np.nan, 0.0, -1.0], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose((Tensor(base) ** Tensor(expo)).numpy(), base**expo, rtol=1e-6)
    np.testing.assert_array_equal((Tensor([2, 3, -4]) ** 3).numpy(), np.array([8, 27, -64], np.int32))
    np.testing.assert_array_equal((Tensor([3, 5, 7]) ** Tensor([5, 3, 2])).numpy(), np.array([243, 125, 49]))


def test_reflected_and_inplace_operators():
    x = np.array([1.0, 2.0, 4.0], np.float32)
    t = Tensor(x)
    np.testing.assert_allclose((1 - t).numpy(), 1 - x)
    np.testing.assert_allclose((1 / t).numpy(), 1 / x)
    np.testing.assert_allclose((3 % t).numpy(), 3 % x)
    np.testing.assert_allclose((7 // t).numpy(), 7 // x)
    np.testing.assert_allclose((x * t).numpy(), x * x)  # ndarray on the left defers to Tensor
    t += 1
    t *= 2
    t -= Tensor([1.0, 1.0, 1.0])
    t /= 2
    np.testing.assert_allclose(t.numpy(), ((x + 1) * 2 - 1) / 2)


def test_cast_and_helpers():
    t = Tensor([1.7, -1.7, 0.0])
    assert t.int().tolist() == [1, -1, 0] and t.int().dtype == dtypes.int32
    assert t.bool().tolist() == [True, True, False]
    assert t.half().dtype == dtypes.float16 and t.double().dtype == dtypes.float64 and t.long().dtype == dtypes.int64
    assert Tensor([1, 2]).float().dtype == dtypes.float32
    assert t.cast("float64").dtype == dtypes.float64


# ---- promotion: tensors promote as PyTorch (tests/frontend/test_api_dtypes.py has the table); scalars are weak --

@given(st.sampled_from(ALL_DTYPES), st.sampled_from(ALL_DTYPES))
def test_tensor_tensor_promotion_values_match_numpy(da, db):
    a = np.array([0, 1, 3], da.np)
    b = np.array([1, 1, 2], db.np)
    if {da, db} & {dtypes.uint64} and (da.is_int and not da.is_unsigned or db.is_int and not db.is_unsigned):
        with pytest.raises(RuntimeError, match="no integer type holds both"):  # test_api_dtypes.py has the rule
            Tensor(a) + Tensor(b)
        return
    for op in ("__add__", "__mul__", "maximum"):
        got = getattr(Tensor(a), op)(Tensor(b))
        ca, cb = a.astype(promote(da, db).np), b.astype(promote(da, db).np)  # PyTorch's dtype, numpy's values
        want = np.maximum(ca, cb) if op == "maximum" else getattr(ca, op)(cb)
        assert got.dtype == promote(da, db), (op, da, db)
        np.testing.assert_array_equal(got.numpy(), want)


def _weak_expected(d, scalar):
    """numpy 2's rule (NEP 50), except that int/bool + Python float gives default_float and bool + int
    gives default_int (tinygrad's defaults; numpy would say float64 / int64)."""
    if isinstance(scalar, float) and not d.is_float:
        return dtypes.default_float
    if isinstance(scalar, int) and not isinstance(scalar, bool) and d.is_bool:
        return dtypes.default_int
    return dtypes.from_numpy(np.result_type(d.np, scalar))


@pytest.mark.parametrize("d", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("scalar", [True, 3, 2.5])
def test_python_scalars_are_weak(d, scalar):
    got = Tensor(np.array([1, 0], d.np)) + scalar
    assert got.dtype == _weak_expected(d, scalar)
    want = np.array([1, 0], d.np) + scalar  # numpy 2 treats the scalar as weak too; only the dtype differs
    np.testing.assert_allclose(got.numpy().astype(np.float64), want.astype(np.float64), rtol=1e-3)


@st.composite
def broadcastable_shapes(draw):
    """Two shapes that broadcast: drop leading axes and set some sizes to 1 in a common shape."""
    full = draw(st.lists(st.integers(0, 4), min_size=0, max_size=4))
    def variant():
        lead = draw(st.integers(0, len(full)))
        return tuple(1 if draw(st.booleans()) else s for s in full[lead:])
    return variant(), variant()


@given(broadcastable_shapes(), st.sampled_from(["__add__", "__sub__", "__mul__", "__truediv__", "maximum", "__lt__",
                                                  "__eq__", "where"]), st.integers(0, 2**16))
def test_random_broadcasting_matches_numpy(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32)
    if op == "where":
        got, want = (Tensor(a) > 0).where(Tensor(b), 1.5), np.where(a > 0, b, np.float32(1.5))
    else:
        want = np.maximum(a, b) if op == "maximum" else getattr(a, op)(b)
        got = getattr(Tensor(a), op)(Tensor(b))
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_transcendentals_of_ints_give_default_float():
    for fn in (Tensor.exp, Tensor.log, Tensor.sqrt, Tensor.sin, Tensor.sigmoid, Tensor.reciprocal):
        out = fn(Tensor([1, 2, 3]))
        assert out.dtype == dtypes.default_float
        assert math.isfinite(out.numpy()[0])
