"""Shared by the tests/frontend/test_api_*.py files: numpy comparison and finite-difference gradient checks
that build the Tensor program once per check (the PYTHON device interprets every op, so fewer runs matter)."""

import numpy as np

from shrimpgrad import Tensor, dtypes


def assert_matches(t: Tensor, expected, rtol=1e-7, atol=1e-12, dtype=None):
    """t's value equals `expected` (NaN where it has NaN) and t's dtype is `dtype` (numpy's name or a DType)."""
    expected = np.asarray(expected)
    got = t.numpy()
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    if dtype is not None:
        want = dtypes.from_numpy(np.dtype(dtype)) if not hasattr(dtype, "np") else dtype
        assert t.dtype == want, f"dtype {t.dtype!r} != {want!r}"
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


def elementwise_grad_check(f, x: np.ndarray, eps=1e-6, rtol=1e-5, atol=1e-8):
    """For an elementwise f: backward() of sum(w * f(x)) against central differences, all elements moved at once
    (the Jacobian is diagonal), so two extra runs in all."""
    w = np.random.default_rng(1).standard_normal(x.shape)
    leaf = Tensor(x, requires_grad=True)
    (f(leaf) * Tensor(w)).sum().backward()
    numeric = (f(Tensor(x + eps)).numpy() - f(Tensor(x - eps)).numpy()) / (2 * eps) * w
    assert leaf.grad.dtype == dtypes.float64
    np.testing.assert_allclose(leaf.grad.numpy(), numeric, rtol=rtol, atol=atol)


def grad_check(f, *arrays, eps=1e-6, rtol=1e-5, atol=1e-8):
    """backward() of sum(w * f(*inputs)) against central differences of the same Tensor function, one element
    at a time (for small inputs of non-elementwise ops). Gradients of float64 inputs must be float64."""
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    out = f(*leaves)
    w = np.random.default_rng(1).standard_normal(out.shape)
    (out * Tensor(w)).sum().backward()
    for i, (leaf, a) in enumerate(zip(leaves, arrays)):
        numeric = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            vals = []
            for delta in (eps, -eps):
                moved = [b.copy() for b in arrays]
                moved[i][idx] += delta
                vals.append(float((f(*(Tensor(m) for m in moved)).numpy() * w).sum()))
            numeric[idx] = (vals[0] - vals[1]) / (2 * eps)
        assert leaf.grad is not None and leaf.grad.shape == a.shape and leaf.grad.dtype == dtypes.float64
        np.testing.assert_allclose(leaf.grad.numpy(), numeric, rtol=rtol, atol=atol, err_msg=f"input {i}")
