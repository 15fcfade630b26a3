"""Realize from several threads at once (README: "Threads"): each thread's values and gradients must be
right while the others realize, compile and update tensors in place. Realizes are serialized by one lock
in shrimpgrad/lifecycle.py; building graphs needs none."""

import threading

import numpy as np

from shrimpgrad import Tensor


def _work(k: int, errors: list) -> None:
    try:
        rng = np.random.default_rng(k)
        for i in range(30):
            device = ("C", "PYTHON")[(k + i) % 2]
            a = rng.standard_normal((8, 8)).astype(np.float32)
            b = rng.standard_normal((8, 4)).astype(np.float32)
            x, w = Tensor(a, requires_grad=True, device=device), Tensor(b, device=device)
            y = (x @ w).relu().sum(1) * (k + 1)  # a new constant per thread: new kernels compile concurrently
            z = Tensor(a.copy(), device=device)
            z += i
            np.testing.assert_allclose(y.numpy(), np.maximum(a @ b, 0).sum(1) * (k + 1), rtol=1e-4, atol=1e-4)
            y.sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), (((a @ b) > 0) * (k + 1.0)) @ b.T, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(z.numpy(), a + i)
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        errors.append((k, repr(e)))


def test_realize_from_eight_threads_at_once():
    errors: list = []
    threads = [threading.Thread(target=_work, args=(k, errors)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
