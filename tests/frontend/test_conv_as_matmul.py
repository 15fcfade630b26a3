"""conv2d as im2col + matmul (conv_ops._conv_as_matmul, SHRIMPGRAD_CONV_IM2COL): the windows copied into a matrix
and multiplied, for 16-bit float convolutions on CUDA (their matmul runs on the tensor cores). Both ways compute
the convolution numpy computes in float64 (within float16 rounding), with the same gradients; which way a
convolution goes, and that its matmul kernel is one the tensor cores take."""

import numpy as np
import pytest
from test_nn_ops import conv_reference

from shrimpgrad import Tensor, dtypes
from shrimpgrad.conv_ops import IM2COL_ENV, _as_matmul
from shrimpgrad.cuda import tile_matmul
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(7)

CASES = [  # (x shape, w shape, conv2d keywords)
    ((2, 4, 9, 8), (6, 4, 3, 3), {}),
    ((2, 6, 9, 8), (4, 3, 3, 2), {"groups": 2, "stride": 2, "padding": 1}),
    ((1, 4, 11, 10), (4, 4, 3, 3), {"dilation": 2, "padding": (1, 0, 2, 1)}),
    ((2, 3, 12), (5, 3, 4), {"stride": 3}),  # 1-d
    ((1, 2, 5, 6, 4), (3, 2, 2, 3, 2), {"padding": 1}),  # 3-d
]


def _rounded(v):
    return v.astype(np.float16).astype(np.float64)


@pytest.mark.parametrize("mode", ["0", "1"])
@pytest.mark.parametrize("xs, ws, kw", CASES, ids=str)
def test_both_ways_compute_the_convolution(xs, ws, kw, mode, monkeypatch):
    monkeypatch.setenv(IM2COL_ENV, mode)
    x, w = RNG.standard_normal(xs), RNG.standard_normal(ws)
    b = RNG.standard_normal(ws[0])
    got = Tensor(x, dtype=dtypes.float16).conv2d(Tensor(w, dtype=dtypes.float16), Tensor(b, dtype=dtypes.float16),
                                                 **kw)
    assert got.dtype == dtypes.float16
    want = conv_reference(_rounded(x), _rounded(w), _rounded(b), **kw)
    # float32 sums of exact products, one rounding to float16, the bias added in float16: 2 roundings
    np.testing.assert_allclose(got.float().numpy(), want, rtol=2e-3, atol=3e-3 * np.abs(want).max())


@pytest.mark.parametrize("xs, ws, kw", CASES[:2], ids=str)
def test_both_ways_have_the_same_gradients(xs, ws, kw, monkeypatch):
    x, w = RNG.standard_normal(xs), RNG.standard_normal(ws)
    grads = []
    for mode in ("0", "1"):
        monkeypatch.setenv(IM2COL_ENV, mode)
        tx = Tensor(x, dtype=dtypes.float16, requires_grad=True)
        tw = Tensor(w, dtype=dtypes.float16, requires_grad=True)
        tx.conv2d(tw, **kw).float().square().sum().backward()
        grads.append((tx.grad.float().numpy(), tw.grad.float().numpy()))
    for off, on in zip(*grads):
        np.testing.assert_allclose(on, off, rtol=1e-2, atol=1e-2 * np.abs(off).max())


def test_which_way_a_convolution_goes(monkeypatch):
    monkeypatch.delenv(IM2COL_ENV, raising=False)
    assert _as_matmul("CUDA", dtypes.float16) and _as_matmul("CUDA", dtypes.bfloat16)
    assert not _as_matmul("CUDA", dtypes.float32)  # no tensor cores for float32: the fused kernel
    assert not _as_matmul("C", dtypes.float16)  # the CPU: the fused kernel, without the k-times bigger copy
    monkeypatch.setenv(IM2COL_ENV, "1")
    assert _as_matmul("C", dtypes.float16) and not _as_matmul("C", dtypes.float32)
    monkeypatch.setenv(IM2COL_ENV, "0")
    assert not _as_matmul("CUDA", dtypes.float16)
    monkeypatch.setenv(IM2COL_ENV, "yes")
    with pytest.raises(ValueError, match=r"Tensor.conv2d: SHRIMPGRAD_CONV_IM2COL='yes' is not a mode; set it to auto"):
        Tensor.empty(1, 2, 4, 4, dtype=dtypes.float16).conv2d(Tensor.empty(2, 2, 3, 3, dtype=dtypes.float16))


def test_the_convolutions_matmul_is_one_the_tensor_cores_take(monkeypatch):
    monkeypatch.setenv(IM2COL_ENV, "1")
    x = Tensor.empty(8, 64, 34, 34, dtype=dtypes.float16)
    w = Tensor.empty(128, 64, 3, 3, dtype=dtypes.float16)
    copy, matmul = create_schedule([x.conv2d(w).node]).kernels
    assert copy.name.startswith("E_") and matmul.name.startswith("R_")
    plan = tile_matmul(matmul)  # C (cout x positions) = W (cout x cin*9) @ cols, per image; NCHW as stored
    assert plan is not None and (plan.m, plan.n, plan.k, plan.batch) == (128, 1024, 576, (8,))
    assert plan.a.batch_strides == (0,)  # one weight matrix for every image
