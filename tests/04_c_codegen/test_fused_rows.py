"""Row kernels (stage 02's rule F5) on the compiled devices: softmax and its relatives compute, with the rule on, what
they compute with it off (SHRIMPGRAD_FUSE_ROWS=0) and what numpy computes, forward and backward, in fewer kernels.

Runs on each device of SHRIMP_TEST_DEVICES (default C and PYTHON, the UOp interpreter; CUDA on a GPU machine)."""

import os

import numpy as np
import pytest

from shrimpgrad import GlobalCounters, Tensor
from shrimpgrad.helpers import Context
from shrimpgrad.realize import clear_schedule_cache

DEVICES = [d.strip().upper() for d in os.environ.get("SHRIMP_TEST_DEVICES", "C,PYTHON").split(",") if d.strip()]
RNG = np.random.default_rng(0)
X = (RNG.standard_normal((6, 40)) * 3).astype(np.float32)
LABELS = RNG.integers(0, 40, 6).astype(np.int32)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def np_layernorm(x, eps=1e-5):
    y = x - x.mean(-1, keepdims=True)
    return y / np.sqrt((y * y).mean(-1, keepdims=True) + eps)


def np_log_softmax(x, axis=-1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


def _ce(t):
    return t.sparse_categorical_crossentropy(Tensor(LABELS))


# name -> (the tensor program, numpy's value, the most kernels it may take with row kernels)
FORWARD = {
    "softmax": (lambda t: t.softmax(-1), lambda x: np_softmax(x), 1),
    "softmax axis 0": (lambda t: t.softmax(0), lambda x: np_softmax(x, 0), 1),
    "log_softmax": (lambda t: t.log_softmax(-1), lambda x: np_log_softmax(x), 1),
    "logsumexp": (lambda t: t.logsumexp(axis=-1), lambda x: np.log(np.exp(x).sum(-1)), 1),
    "layernorm": (lambda t: t.layernorm(), np_layernorm, 1),
    "x - x.mean()": (lambda t: t - t.mean(axis=-1, keepdim=True), lambda x: x - x.mean(-1, keepdims=True), 1),
    "cross entropy": (_ce, lambda x: -np_log_softmax(x)[np.arange(6), LABELS].mean(), 2),
}


def run(build, fuse_rows: bool, device: str):
    """The program's value and kernel count on `device` with the rule on or off (the schedule cache is cleared:
    it is keyed by the graph, not by the switch)."""
    old = os.environ.get("SHRIMPGRAD_FUSE_ROWS")
    os.environ["SHRIMPGRAD_FUSE_ROWS"] = "1" if fuse_rows else "0"
    clear_schedule_cache()
    try:
        with Context(DEVICE=device):
            x = Tensor(X).realize()
            out = build(x)
            GlobalCounters.reset()
            value = out.numpy()
            return value, GlobalCounters.kernel_count
    finally:
        if old is None:
            del os.environ["SHRIMPGRAD_FUSE_ROWS"]
        else:
            os.environ["SHRIMPGRAD_FUSE_ROWS"] = old
        clear_schedule_cache()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(FORWARD))
def test_row_kernels_compute_what_separate_kernels_compute(name, device):
    build, reference, most = FORWARD[name]
    fused, n_fused = run(build, True, device)
    plain, n_plain = run(build, False, device)
    np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused, reference(X), rtol=1e-4, atol=1e-5)
    assert n_fused <= most < n_plain, (n_fused, n_plain)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "layernorm", "cross entropy"])
def test_backward_through_row_kernels(name, device):
    build = FORWARD[name][0]
    weight = RNG.standard_normal(X.shape).astype(np.float32)

    def loss_grad(t):
        x = Tensor(t.numpy(), requires_grad=True)
        out = build(x)
        (out * Tensor(weight)).sum().backward() if out.ndim else out.backward()
        return x.grad

    fused, _ = run(loss_grad, True, device)
    plain, _ = run(loss_grad, False, device)
    np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_softmax_of_a_wide_row(device):
    """A row of 4096 (on the GPU 128 threads each take 32 elements of it per loop)."""
    x = (np.random.default_rng(1).standard_normal((3, 4096)) * 4).astype(np.float32)
    with Context(DEVICE=device):
        got = Tensor(x).softmax(-1).numpy()
    np.testing.assert_allclose(got, np_softmax(x), rtol=1e-4, atol=1e-7)  # float32 exp2 of (x - max) * log2(e)


@pytest.mark.parametrize("device", DEVICES)
def test_assign_of_a_softmax_in_place(device):
    """x.assign(x.softmax()) reads the rows it overwrites: F5 keeps its reduces in kernels of their own."""
    with Context(DEVICE=device):
        x = Tensor(X.copy()).realize()
        x.assign(x.softmax(-1)).realize()
        np.testing.assert_allclose(x.numpy(), np_softmax(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "softmax axis 0", "log_softmax", "logsumexp", "layernorm"])
def test_row_split_on_or_off_computes_what_numpy_computes(name, monkeypatch):
    """Stage 04's rule 4 (GROUP_SUMS: 32 partial sums in the row kernel's sum loops only) on the C device: on and off
    (SHRIMPGRAD_C_ROW_SPLIT=0) give numpy's values within float rounding, and each other's."""
    build, want, _ = FORWARD[name]
    x = (RNG.standard_normal((5, 256)) * 3).astype(np.float32)
    values = {}
    for switch in ("1", "0"):
        monkeypatch.setenv("SHRIMPGRAD_C_ROW_SPLIT", switch)
        clear_schedule_cache()
        with Context(DEVICE="C"):
            values[switch] = build(Tensor(x).realize()).numpy()
        clear_schedule_cache()
    np.testing.assert_allclose(values["1"], want(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values["1"], values["0"], rtol=1e-5, atol=1e-6)


def test_row_split_of_a_softmax_with_a_broadcast_bias(monkeypatch):
    """(x + b).softmax(-1) of 3 dims, b broadcast along the rows: ROW SPLIT (no output lanes) and, switched off, rule
    1's lanes along the rows give numpy's values."""
    x, b = (RNG.standard_normal((3, 16, 64)) * 3).astype(np.float32), RNG.standard_normal(64).astype(np.float32)
    for switch in ("1", "0"):
        monkeypatch.setenv("SHRIMPGRAD_C_ROW_SPLIT", switch)
        clear_schedule_cache()
        with Context(DEVICE="C"):
            got = (Tensor(x) + Tensor(b)).softmax(-1).numpy()
        clear_schedule_cache()
        np.testing.assert_allclose(got, np_softmax(x + b), rtol=1e-5, atol=1e-6)
