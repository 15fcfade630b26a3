"""Reductions against numpy: every axis form (None, int, negative, tuple), keepdim, dtypes, empty axes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shrimpgrad import Tensor, dtypes

X = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
AXES = [None, 0, 1, -1, (0, 2), (-1, -3), (0, 1, 2)]


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# (name, Tensor method call, numpy call); both take (x, axis, keepdim)
REDUCTIONS = [
    ("sum", lambda t, a, k: t.sum(a, keepdim=k), lambda x, a, k: x.sum(axis=a, keepdims=k)),
    ("max", lambda t, a, k: t.max(a, keepdim=k), lambda x, a, k: x.max(axis=a, keepdims=k)),
    ("min", lambda t, a, k: t.min(a, keepdim=k), lambda x, a, k: x.min(axis=a, keepdims=k)),
    ("mean", lambda t, a, k: t.mean(a, keepdim=k), lambda x, a, k: x.mean(axis=a, keepdims=k)),
    ("var", lambda t, a, k: t.var(a, keepdim=k), lambda x, a, k: x.var(axis=a, keepdims=k, ddof=1)),
    ("var0", lambda t, a, k: t.var(a, keepdim=k, correction=0), lambda x, a, k: x.var(axis=a, keepdims=k)),
    ("std", lambda t, a, k: t.std(a, keepdim=k), lambda x, a, k: x.std(axis=a, keepdims=k, ddof=1)),
    ("prod", lambda t, a, k: t.prod(a, keepdim=k), lambda x, a, k: x.prod(axis=a, keepdims=k)),
    ("logsumexp", lambda t, a, k: t.logsumexp(a, keepdim=k), _logsumexp),
]


@pytest.mark.parametrize("name, fn, ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduction_matches_numpy(name, fn, ref, axis, keepdim):
    got = fn(Tensor(X), axis, keepdim).numpy()
    want = ref(X, axis, keepdim)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_softmax_and_log_softmax(axis):
    np.testing.assert_allclose(Tensor(X).softmax(axis).numpy(), _softmax(X, axis), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(Tensor(X).log_softmax(axis).numpy(), np.log(_softmax(X, axis)), rtol=1e-5, atol=1e-6)


def test_softmax_is_stable_for_large_inputs():
    x = np.array([1000.0, 1001.0, 1002.0], np.float32)
    np.testing.assert_allclose(Tensor(x).softmax().numpy(), _softmax(x, -1), rtol=1e-6)
    assert Tensor([-np.inf, -np.inf]).logsumexp().item() == -np.inf
    assert Tensor([np.inf, 1.0]).logsumexp().item() == np.inf


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin(axis, keepdim):
    x = np.array([[3, 1, 3, 0], [2, 7, 7, 1], [5, 5, 5, 5]], np.float32)  # ties: the first index wins
    if axis is None:
        assert Tensor(x).argmax().item() == x.argmax() and Tensor(x).argmin().item() == x.argmin()
        return
    got = Tensor(x).argmax(axis, keepdim=keepdim)
    assert got.dtype == dtypes.int32
    np.testing.assert_array_equal(got.numpy(), x.argmax(axis=axis, keepdims=keepdim))
    np.testing.assert_array_equal(Tensor(x).argmin(axis, keepdim).numpy(), x.argmin(axis=axis, keepdims=keepdim))
    i = x.astype(np.int8)
    np.testing.assert_array_equal(Tensor(i).argmin(axis).numpy(), i.argmin(axis=axis))


def test_argmax_of_nan_is_first_nan_like_numpy():
    x = np.array([1.0, np.nan, 5.0, np.nan], np.float32)
    assert Tensor(x).argmax().item() == np.argmax(x) == 1
    assert Tensor(x).argmin().item() == np.argmin(x) == 1


@pytest.mark.parametrize("dtype, sum_dtype", [(dtypes.bool, dtypes.int32), (dtypes.int8, dtypes.int32),
                                              (dtypes.uint8, dtypes.int32), (dtypes.int32, dtypes.int32),
                                              (dtypes.int64, dtypes.int64), (dtypes.float16, dtypes.float16),
                                              (dtypes.float64, dtypes.float64)])
def test_sum_dtypes_follow_tinygrad(dtype, sum_dtype):
    x = np.array([[1, 0, 1], [1, 1, 1]]).astype(dtype.np)
    out = Tensor(x).sum(axis=1)
    assert out.dtype == sum_dtype
    np.testing.assert_array_equal(out.numpy(), x.astype(np.int64).sum(axis=1))


def test_sum_with_explicit_dtype_and_int_reductions():
    x = np.array([100, 100, 100], np.int8)
    assert Tensor(x).sum().item() == 300  # accumulates in int32, no wrap-around
    assert Tensor(x).sum(dtype=dtypes.int8).item() == np.int8(300 - 256)
    i = np.array([[3, -9, 4], [0, 2, 1]], np.int32)
    assert Tensor(i).max().item() == 4 and Tensor(i).min().item() == -9
    assert Tensor(i).prod(1).tolist() == [-108, 0]
    u = np.array([0, 200, 255], np.uint8)
    assert Tensor(u).min().item() == 0 and Tensor(u).max().item() == 255
    assert Tensor([True, False]).max().item() is True and Tensor([True, False]).min().item() is False


def test_mean_of_ints_is_default_float():
    out = Tensor([1, 2, 4]).mean()
    assert out.dtype == dtypes.default_float
    assert out.item() == pytest.approx(7 / 3)


def test_empty_reductions():
    e = np.zeros((2, 0), np.float32)
    np.testing.assert_array_equal(Tensor(e).sum(1).numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(Tensor(e).prod(1).numpy(), [1.0, 1.0])
    assert np.isnan(Tensor(e).mean(1).numpy()).all()
    with pytest.raises(ValueError, match="Tensor.max: reducing an empty axis"):
        Tensor(e).max(1)


def test_scalar_reductions():
    t = Tensor(3.5)
    assert t.sum().item() == 3.5 and t.max().item() == 3.5 and t.mean().item() == 3.5 and t.prod().item() == 3.5


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_random_axes_match_numpy(shape, data):
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda a: a % len(shape)))
    keepdim = data.draw(st.booleans())
    axis = tuple(axes) if len(axes) != 1 else axes[0]
    for name, fn, ref in REDUCTIONS[:4] + REDUCTIONS[7:8]:
        np.testing.assert_allclose(fn(Tensor(x), axis, keepdim).numpy(), ref(x, axis, keepdim), rtol=1e-5,
                                   atol=1e-6, err_msg=name)
