"""Shared by the front-end gradient tests: backward() against central finite differences of a numpy reference."""

import numpy as np

from shrimpgrad import Tensor


def finite_difference_check(tensor_fn, numpy_fn, *arrays, eps=1e-6, rtol=1e-6):
    """d(sum(weights * f(inputs)))/d(input) from backward() vs central differences of the numpy reference."""
    weights = np.random.default_rng(0).standard_normal(np.shape(numpy_fn(*arrays)))
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    (tensor_fn(*inputs) * Tensor(weights)).sum().backward()
    for i, a in enumerate(arrays):
        expected = np.zeros_like(a)
        for pos in np.ndindex(a.shape):
            plus, minus = [x.copy() for x in arrays], [x.copy() for x in arrays]
            plus[i][pos] += eps
            minus[i][pos] -= eps
            expected[pos] = ((numpy_fn(*plus) * weights).sum() - (numpy_fn(*minus) * weights).sum()) / (2 * eps)
        np.testing.assert_allclose(inputs[i].grad.numpy(), expected, rtol=rtol, atol=1e-7)
