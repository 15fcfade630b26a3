"""Reductions and scans (shrimpgrad/reduce.py, plus cumsum/prod dtypes and 0-d axes): values against numpy,
dtypes, stable sorting with ties and NaN, gradients against finite differences, empty and 0-d inputs, errors."""

import numpy as np
import pytest
from api_checks import assert_matches, grad_check

from shrimpgrad import Tensor, dtypes

X = np.array([[3.0, -1.0, 2.0, 0.5], [1.0, 4.0, -2.0, 2.5], [0.3, 0.3, -0.7, 1.1]])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scans_match_numpy(axis):
    assert_matches(Tensor(X).cumprod(axis), np.cumprod(X, axis), rtol=1e-14)
    assert_matches(Tensor(X).cummax(axis), np.maximum.accumulate(X, axis))
    assert_matches(Tensor(X).cummin(axis), np.minimum.accumulate(X, axis))
    assert_matches(Tensor(X).logcumsumexp(axis), np.logaddexp.accumulate(X, axis), rtol=1e-13)


def test_scans_dtypes_and_special_values():
    ints = np.array([3, -1, 2, 5], np.int32)
    assert_matches(Tensor(ints).cumprod(), np.cumprod(ints), dtype=np.int32)
    assert_matches(Tensor(ints).cummax(), np.maximum.accumulate(ints), dtype=np.int32)
    assert_matches(Tensor(ints).cummin(), np.minimum.accumulate(ints), dtype=np.int32)
    b = np.array([True, False, True, True])
    assert_matches(Tensor(b).cumsum(), np.cumsum(b).astype(np.int32), dtype=np.int32)  # issue 17: was bool
    assert_matches(Tensor(b).cumprod(), np.cumprod(b), dtype=dtypes.default_int)
    assert_matches(Tensor(np.array([1, 2], np.int8)).cumsum(), [1, 3], dtype=np.int32)
    assert Tensor(np.array([True, True, True])).prod().dtype == dtypes.default_int  # issue 17: odd length
    assert Tensor(np.array([True, True])).prod().dtype == dtypes.default_int
    nan = np.array([1.0, np.nan, 3.0])
    assert_matches(Tensor(nan).cummax(), [1.0, np.nan, np.nan])
    big = np.array([-np.inf, 1000.0, -1000.0, np.inf])
    assert_matches(Tensor(big).logcumsumexp(), np.logaddexp.accumulate(big))


def test_scans_empty_and_0d():
    for name in ("cumprod", "cummax", "cummin", "logcumsumexp"):
        assert getattr(Tensor(np.zeros((2, 0))), name)(1).shape == (2, 0)
        assert_matches(getattr(Tensor(np.float64(2.5)), name)(0), 2.5)
    with pytest.raises(IndexError):
        Tensor(X).cumprod(2)


def test_scan_gradients():
    x = X[:2, :3]
    grad_check(lambda t: t.cumprod(1), x)
    grad_check(lambda t: t.cummax(0), x)
    grad_check(lambda t: t.cummin(1), x)
    grad_check(lambda t: t.logcumsumexp(1), x)


def test_all_any():
    m = np.array([[1.0, 0.0, np.nan], [2.0, 3.0, -1.0]])
    for axis in (None, 0, 1, -1):
        assert_matches(Tensor(m).all(axis), np.all(m, axis), dtype=np.bool_)
        assert_matches(Tensor(m).any(axis), np.any(m, axis), dtype=np.bool_)
    assert_matches(Tensor(m).all(1, keepdim=True), np.all(m, 1, keepdims=True))
    assert_matches(Tensor(np.zeros((0, 2))).all(), True)
    assert_matches(Tensor(np.zeros((0, 2))).any(0), [False, False])
    assert_matches(Tensor([True, False]).any(), True)


def test_var_mean_std_mean():
    for axis in (None, 0, 1):
        s, m = Tensor(X).std_mean(axis)
        assert_matches(s, X.std(axis, ddof=1), rtol=1e-14)
        assert_matches(m, X.mean(axis), rtol=1e-14)
        v, m = Tensor(X).var_mean(axis, correction=0)
        assert_matches(v, X.var(axis), rtol=1e-14)


def test_zero_dim_tensors_accept_axis_0_and_minus_1():
    t = Tensor(np.float64(3.0))
    for axis in (0, -1, (0,)):
        assert_matches(t.sum(axis), 3.0)
        assert_matches(t.max(axis), 3.0)
        assert_matches(t.mean(axis), 3.0)
    with pytest.raises(IndexError):
        t.sum(1)


def test_sum_and_prod_dtype_argument():
    i8 = np.array([100, 100, 100], np.int8)
    assert_matches(Tensor(i8).sum(dtype=dtypes.int64), 300, dtype=np.int64)
    assert_matches(Tensor(i8).prod(dtype=dtypes.int64), 1_000_000, dtype=np.int64)
    assert_matches(Tensor(i8).sum(dtype="float32"), 300.0, dtype=np.float32)


@pytest.mark.parametrize("descending", [False, True])
def test_sort_is_stable_with_ties_and_nan(descending):
    x = np.array([[2.0, 1.0, 2.0, np.nan, 1.0, -np.inf, np.nan], [0.0, -0.5, 3.0, 3.0, 3.0, 1.0, 0.0]])
    key = -x if descending else x  # numpy's stable argsort of the negated keys keeps NaN last; fix NaN order:
    idx = np.argsort(np.where(np.isnan(x), np.inf if not descending else -np.inf, key), axis=1, kind="stable")
    if descending:  # NaN first when descending (it is the largest), ties in their original order
        idx = np.argsort(np.where(np.isnan(x), -np.inf, -x), axis=1, kind="stable")
    else:
        idx = np.argsort(x, axis=1, kind="stable")
    values, indices = Tensor(x).sort(dim=1, descending=descending)
    assert_matches(values, np.take_along_axis(x, idx, 1), dtype=np.float64)
    assert_matches(indices, idx.astype(np.int32), dtype=dtypes.default_int)
    assert_matches(Tensor(x).argsort(1, descending), idx.astype(np.int32))


def test_sort_other_axes_dtypes_and_edges():
    ints = np.array([[5, -3, 5], [0, 7, -7]], np.int16)
    v, i = Tensor(ints).sort(dim=0)
    assert_matches(v, np.sort(ints, axis=0), dtype=np.int16)
    assert_matches(i, np.argsort(ints, axis=0, kind="stable").astype(np.int32))
    b = np.array([True, False, True, False])
    assert_matches(Tensor(b).sort()[0], np.sort(b), dtype=np.bool_)
    assert Tensor(np.zeros((3, 0))).sort()[0].shape == (3, 0)
    v, i = Tensor(np.float64(1.5)).sort()
    assert_matches(v, 1.5)
    assert_matches(i, 0)


def test_topk():
    x = np.array([[5.0, 1.0, 4.0, 4.0], [2.0, 2.0, 9.0, -1.0]])
    v, i = Tensor(x).topk(2)
    assert_matches(v, [[5.0, 4.0], [9.0, 2.0]])
    assert_matches(i, [[0, 2], [2, 0]])
    v, i = Tensor(x).topk(1, dim=0, largest=False)
    assert_matches(v, [[2.0, 1.0, 4.0, -1.0]])
    assert_matches(i, [[1, 0, 0, 1]])
    assert Tensor(x).topk(0)[0].shape == (2, 0)
    with pytest.raises(IndexError):
        Tensor(x).topk(5)
    with pytest.raises(IndexError):
        Tensor(x).topk(1, dim=2)


def test_sort_and_topk_gradients():
    x = np.array([[0.3, -1.2, 2.0, 0.9], [1.5, 0.1, -0.4, 0.7]])
    grad_check(lambda t: t.sort(1)[0], x)
    grad_check(lambda t: t.topk(2, dim=1)[0], x)
